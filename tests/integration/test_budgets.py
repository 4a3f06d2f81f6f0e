"""Request budgets (DESIGN.md): AWS requests per operation, counted with botocore hooks."""

from cloudchat import api
from cloudchat.services import ChatService
from resolvers import conversations, messages
from tests.integration.conftest import USERS, Stack
from tests.integration.test_messages import new_conversation, page, send, since


def test_send_message_warm_is_one_dynamodb_request_and_no_kms(stack: Stack) -> None:
    cid = new_conversation(stack, members=[USERS["bob"], USERS["carol"]])
    send(stack, cid, "warm up", "cmid-warm-0000")
    counter = stack.counter()
    for i in range(5):
        counter.reset()
        assert send(stack, cid, f"m{i}", f"cmid-warm-{i + 1:04d}")["seq"] == i + 2
        assert (counter.dynamodb, counter.kms) == (1, 0), counter.ops


def test_send_message_cold_costs_one_read_and_one_kms_decrypt(stack: Stack) -> None:
    cid = new_conversation(stack)
    api.reset()  # a new Lambda container
    counter = stack.counter()
    send(stack, cid, "cold", "cmid-cold-0001")
    assert counter.ops == ["dynamodb.GetItem", "kms.Decrypt", "dynamodb.TransactWriteItems"]


def test_send_message_seq_conflict_costs_two_dynamodb_requests(stack: Stack) -> None:
    cid = new_conversation(stack)
    send(stack, cid, "a", "cmid-conf-0001")
    # Another container moves the conversation on; this container's seq hint is now stale.
    svc = api.service()
    other = ChatService(svc.store, svc.keys, svc.tokens, svc.settings)
    from cloudchat.models import Caller
    from tests.integration.test_messages import USERS as U  # noqa: F401

    other.send_message(Caller(USERS["bob"], USERS["bob"]), cid, "b", "cmid-conf-0002")
    counter = stack.counter()
    assert send(stack, cid, "c", "cmid-conf-0003")["seq"] == 3
    assert (counter.dynamodb, counter.kms) == (2, 0), counter.ops


def test_messages_page_of_50_is_one_dynamodb_request_and_no_kms(stack: Stack) -> None:
    cid = new_conversation(stack)
    for i in range(120):
        send(stack, cid, f"p{i}", f"cmid-bdg-{i:04d}")
    counter = stack.counter()
    first = page(stack, cid, "alice", limit=50)
    assert len(first["items"]) == 50
    assert (counter.dynamodb, counter.kms) == (1, 0), counter.ops  # seq hint is current
    counter.reset()
    second = page(stack, cid, "alice", limit=50, token=first["nextToken"])
    assert len(second["items"]) == 50
    assert (counter.dynamodb, counter.kms) == (1, 0), counter.ops
    counter.reset()
    assert len(since(stack, cid, 70, "alice")["items"]) == 50
    assert (counter.dynamodb, counter.kms) == (1, 0), counter.ops


def test_messages_first_page_in_a_cold_container(stack: Stack) -> None:
    cid = new_conversation(stack)
    for i in range(10):
        send(stack, cid, f"p{i}", f"cmid-cld-{i:04d}")
    api.reset()
    counter = stack.counter()
    assert len(page(stack, cid, "bob", limit=50)["items"]) == 10
    # conversation + member, then the page; one KMS Decrypt for the conversation's key.
    assert (counter.dynamodb, counter.kms) == (2, 1), counter.ops


def test_conversations_page_is_three_dynamodb_requests(stack: Stack) -> None:
    """The caller's large-conversation markers (one Query, none here), the GSI1 page (one
    Query) and the conversations with the caller's member items (one BatchGetItem)."""
    for i in range(20):
        cid = new_conversation(stack, members=[USERS["bob"]], title=f"b{i}")
        send(stack, cid, "hi", f"cmid-cv-{i:04d}")
    counter = stack.counter()
    got = stack.invoke(conversations, "Query.conversations.first-page", "alice", {"limit": 20})
    assert len(got["items"]) == 20
    assert (counter.dynamodb, counter.kms) == (3, 0), counter.ops


def test_subscribe_check_is_one_request(stack: Stack) -> None:
    cid = new_conversation(stack)
    counter = stack.counter()
    got = stack.invoke(messages, "Subscription.onMessage.member", "alice", {"conversationId": cid})
    assert got == {"filter": {"conversationId": {"eq": cid}, "seq": {"gt": 0}},
                   "invalidation": {"conversationId": {"eq": cid}, "userId": {"in": [USERS["alice"], "*"]}}}
    assert counter.dynamodb == 1 and counter.kms == 0


def test_a_member_page_is_one_batch_get_and_one_query(stack: Stack) -> None:
    """members(conversationId, limit, nextToken): the membership check (conversation and the
    caller's member item) and one Query of limit + 1 member items, whatever the group's size."""
    others = [USERS[u] for u in ("bob", "carol", "mallory", "mod")]
    cid = new_conversation(stack, members=others, title="paged")
    token = None
    for expected in (2, 2, 1):
        counter = stack.counter()
        page = stack.invoke(conversations, "Query.members.ok", "bob",
                            {"conversationId": cid, "limit": 2, "nextToken": token},
                            replace_args=True)
        assert len(page["items"]) == expected
        assert counter.ops == ["dynamodb.BatchGetItem", "dynamodb.Query"] and counter.kms == 0
        token = page["nextToken"]
    assert token is None


def test_mark_read_is_one_dynamodb_request(stack: Stack) -> None:
    from resolvers import receipts

    cid = new_conversation(stack)
    for i in range(3):
        send(stack, cid, f"r{i}", f"cmid-mr-{i:04d}")
    counter = stack.counter()
    stack.invoke(receipts, "Mutation.markRead.ok", "bob", {"conversationId": cid, "seq": 2})
    assert (counter.dynamodb, counter.kms) == (1, 0), counter.ops
    counter.reset()
    stack.invoke(receipts, "Mutation.markRead.ok", "bob", {"conversationId": cid, "seq": 1})  # no-op
    assert (counter.dynamodb, counter.kms) == (1, 0), counter.ops


def test_reaction_and_edit_of_a_message_this_container_has_seen_cost_one_request(stack: Stack) -> None:
    """The container remembers the message it wrote (or read): the write is one transaction
    (member check + message update conditioned on the remembered revision) and the answer is
    the remembered message with the change applied. Warm: no KMS."""
    cid = new_conversation(stack)
    m = send(stack, cid, "hello", "cmid-bx-0001")
    counter = stack.counter()
    stack.invoke(messages, "Mutation.addReaction.ok", "bob",
                 {"conversationId": cid, "messageId": m["id"], "emoji": "👍"})
    assert counter.ops == ["dynamodb.TransactWriteItems"]
    counter.reset()
    edited = stack.invoke(messages, "Mutation.editMessage.ok", "alice", {"input": {
        "conversationId": cid, "messageId": m["id"], "body": "hello!", "expectedVersion": 1}})
    assert counter.ops == ["dynamodb.TransactWriteItems"]
    assert (edited["body"], edited["version"], edited["reactions"][0]["count"]) == ("hello!", 2, 1)
    counter.reset()
    removed = stack.invoke(messages, "Mutation.removeReaction.ok", "bob",
                           {"conversationId": cid, "messageId": m["id"], "emoji": "👍"})
    assert counter.ops == ["dynamodb.TransactWriteItems"]  # the last one: its kind goes too
    assert removed["reactions"] == []
    assert since(stack, cid, 0, "bob")["items"] == [removed]  # the answer is what is stored


def test_reaction_to_a_message_this_container_has_not_seen_reads_it_first(stack: Stack) -> None:
    cid = new_conversation(stack)
    m = send(stack, cid, "hello", "cmid-bx-0002")
    api.service().store.images.drop(cid, m["seq"])  # e.g. sent through another container
    counter = stack.counter()
    got = stack.invoke(messages, "Mutation.addReaction.ok", "bob",
                       {"conversationId": cid, "messageId": m["id"], "emoji": "👍"})
    assert counter.ops == ["dynamodb.BatchGetItem", "dynamodb.TransactWriteItems"]
    assert since(stack, cid, 0, "bob")["items"] == [got]
    api.reset()  # a cold container: the conversation's key too (one GetItem, one KMS Decrypt)
    counter = stack.counter()
    stack.invoke(messages, "Mutation.addReaction.ok", "alice",
                 {"conversationId": cid, "messageId": m["id"], "emoji": "🎉"})
    assert (counter.dynamodb, counter.kms) == (3, 1), counter.ops


def test_reaction_on_a_stale_image_costs_one_more_transaction(stack: Stack) -> None:
    from cloudchat.models import Caller
    from tests.integration.test_message_images import container

    cid = new_conversation(stack)
    m = send(stack, cid, "hello", "cmid-bx-0003")
    other = container()  # another Lambda container, with images of its own
    other.react(Caller(USERS["alice"], USERS["alice"]), cid, m["id"], "🎉", add=True)
    counter = stack.counter()
    got = stack.invoke(messages, "Mutation.addReaction.ok", "bob",
                       {"conversationId": cid, "messageId": m["id"], "emoji": "👍"})
    assert counter.ops == ["dynamodb.TransactWriteItems", "dynamodb.TransactWriteItems"]
    assert sorted(r["emoji"] for r in got["reactions"]) == ["🎉", "👍"]  # nothing lost
    assert since(stack, cid, 0, "bob")["items"] == [got]


def test_typing_is_one_dynamodb_request(stack: Stack) -> None:
    from resolvers import receipts

    cid = new_conversation(stack)
    counter = stack.counter()
    stack.invoke(receipts, "Mutation.sendTyping.ok", "bob", {"conversationId": cid, "typing": True})
    assert counter.ops == ["dynamodb.UpdateItem"]


def test_block_and_unblock_are_one_transaction_and_the_list_one_query(stack: Stack) -> None:
    """blockUser / unblockUser: one TransactWriteItems of two items (the pair item and the
    block set), also when it is a no-op; blockedUsers: one Query."""
    from resolvers import users

    for i in range(2):  # the second time: already blocked / not blocked (no-ops)
        counter = stack.counter()
        stack.invoke(users, "Mutation.blockUser.ok", "bob", {"userId": USERS["alice"]})
        assert counter.ops == ["dynamodb.TransactWriteItems"], (i, counter.ops)
    counter = stack.counter()
    assert len(stack.invoke(users, "Query.blockedUsers.ok", "bob", {})) == 1
    assert counter.ops == ["dynamodb.Query"]
    for i in range(2):
        counter = stack.counter()
        stack.invoke(users, "Mutation.unblockUser.ok", "bob", {"userId": USERS["alice"]})
        assert counter.ops == ["dynamodb.TransactWriteItems"], (i, counter.ops)


def test_pages_flag_blocked_senders_at_no_extra_request(stack: Stack) -> None:
    """The caller's block set is one more key in the page's BatchGetItem: a page of 50 stays
    one request, warm sends stay one request."""
    from resolvers import users

    cid = new_conversation(stack, members=[USERS["bob"]])
    for i in range(60):
        send(stack, cid, f"p{i}", f"cmid-bkb-{i:04d}")
    stack.invoke(users, "Mutation.blockUser.ok", "bob", {"userId": USERS["alice"]})
    counter = stack.counter()
    first = page(stack, cid, "bob", limit=50)
    assert all(m["senderBlocked"] for m in first["items"]) and len(first["items"]) == 50
    assert (counter.dynamodb, counter.kms) == (1, 0), counter.ops
    counter.reset()
    assert len(page(stack, cid, "bob", limit=50, token=first["nextToken"])["items"]) == 10
    assert (counter.dynamodb, counter.kms) == (1, 0), counter.ops
    counter.reset()
    assert len(since(stack, cid, 10, "bob")["items"]) == 50
    assert (counter.dynamodb, counter.kms) == (1, 0), counter.ops
    counter.reset()
    assert send(stack, cid, "still one", "cmid-bkb-9999")["senderBlocked"] is False
    assert (counter.dynamodb, counter.kms) == (1, 0), counter.ops


def test_adding_members_with_block_checks_is_one_transaction(stack: Stack) -> None:
    """addMembers carries one ConditionCheck per user added (they did not block the actor)
    in its one transaction: still one request after the read of the conversation."""
    cid = new_conversation(stack, members=[USERS["bob"]], title="team")
    counter = stack.counter()
    got = stack.invoke(conversations, "Mutation.addMembers.ok", "alice",
                       {"conversationId": cid, "userIds": [USERS["carol"], USERS["mallory"]]},
                       replace_args=True)
    assert got["action"] == "ADDED"
    assert counter.ops.count("dynamodb.TransactWriteItems") == 1, counter.ops


def test_a_directory_page_is_a_query_and_one_batch_get_of_blocks(stack: Stack) -> None:
    """users(query): the GSI2 query, then one BatchGetItem of the results' blocks of the
    caller (who blocked them is left out)."""
    from resolvers import users

    counter = stack.counter()
    got = stack.invoke(users, "Query.users.prefix", "alice", {"query": "", "limit": 5},
                       replace_args=True)
    assert got["items"]
    assert counter.ops == ["dynamodb.Query", "dynamodb.BatchGetItem"]


def test_delete_conversation_is_one_read_and_one_transaction_and_no_kms(stack: Stack) -> None:
    """deleteConversation: one BatchGetItem (the conversation and the caller's member item),
    for a GROUP one Query (a page of its member ids: members live only in their items), one
    TransactWriteItems (key destruction, member checks and deletions, pair guard, audit), no
    KMS call (the wrapped key is deleted, never unwrapped); cold or warm alike."""
    group = new_conversation(stack, members=[USERS["bob"], USERS["carol"]], title="budget")
    direct = new_conversation(stack, members=[USERS["bob"]])
    send(stack, group, "warm", "cmid-del-0001")
    for cid in (group, direct):
        counter = stack.counter()
        done = stack.invoke(conversations, "Mutation.deleteConversation.ok", "alice",
                            {"conversationId": cid}, replace_args=True)
        assert done["conversationId"] == cid
        assert counter.ops == ["dynamodb.BatchGetItem",
                               *(["dynamodb.Query"] if cid == group else []),
                               "dynamodb.TransactWriteItems"]
