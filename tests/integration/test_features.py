"""Conversation features through the real handlers under moto: threads, reactions, receipts,
typing, edit and delete. Each rule has a test that fails when the rule is broken."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from cloudchat import api
from resolvers import messages, receipts
from tests.integration.conftest import ISOLATED_TRANSACTIONS, USERS, Stack, error_type
from tests.integration.test_messages import new_conversation, page, send, since

ALICE, BOB, CAROL = USERS["alice"], USERS["bob"], USERS["carol"]


@pytest.fixture
def conv(stack: Stack) -> str:
    return new_conversation(stack, members=[BOB, CAROL])


def ids(cid: str, mid: str) -> dict:
    return {"conversationId": cid, "messageId": mid}


# ---------------------------------------------------------------- threads
def reply(stack: Stack, cid: str, parent: str, body: str, cmid: str, who: str = "bob") -> dict:
    return stack.invoke(messages, "Mutation.sendMessage.reply", who, {"input": {
        "conversationId": cid, "parentId": parent, "body": body, "clientMessageId": cmid}})


def test_threads_keep_seq_and_summarise_on_the_root(stack: Stack, conv: str) -> None:
    root = send(stack, conv, "root", "cmid-root-0001")
    r1 = reply(stack, conv, root["id"], "first reply", "cmid-rep-0001")
    r2 = reply(stack, conv, r1["id"], "reply to a reply", "cmid-rep-0002", who="carol")
    assert (r1["seq"], r2["seq"]) == (2, 3)  # replies still take conversation seqs
    assert r1["parentId"] == root["id"] and r2["parentId"] == root["id"]  # joins the root
    got = since(stack, conv, 0)["items"][0]
    assert got["replyCount"] == 2 and got["lastReplyAt"] == r2["createdAt"]
    assert got["replyUserIds"] == sorted([BOB, CAROL])
    thread = stack.invoke(messages, "Query.thread.ok", "alice", {"conversationId": conv, "rootId": root["id"]})
    assert [m["body"] for m in thread["items"]] == ["first reply", "reply to a reply"]
    first = stack.invoke(messages, "Query.thread.ok", "alice",
                         {"conversationId": conv, "rootId": root["id"], "limit": 1})
    assert len(first["items"]) == 1 and first["nextToken"]
    rest = stack.invoke(messages, "Query.thread.ok", "alice", {
        "conversationId": conv, "rootId": root["id"], "limit": 1, "nextToken": first["nextToken"]})
    assert [m["seq"] for m in rest["items"]] == [3] and rest["nextToken"] is None
    assert [m["seq"] for m in since(stack, conv, 0)["items"]] == [1, 2, 3]  # catch-up gap-free


def test_thread_denials_and_bad_input(stack: Stack, conv: str) -> None:
    root = send(stack, conv, "root", "cmid-root-0002")
    assert error_type(stack.invoke(messages, "Query.thread.ok", "mallory",
                                   {"conversationId": conv, "rootId": root["id"]})) == "Forbidden"
    other = new_conversation(stack, members=[BOB], title="elsewhere")
    before = stack.raw_items()
    assert error_type(reply(stack, other, root["id"], "x", "cmid-rep-0003")) == "NotFound"
    assert error_type(reply(stack, conv, "bad-id", "x", "cmid-rep-0004")) == "BadRequest"
    assert stack.raw_items() == before


# ---------------------------------------------------------------- reactions
def react(stack: Stack, cid: str, mid: str, emoji: str, who: str = "bob", add: bool = True) -> dict:
    name = "Mutation.addReaction.ok" if add else "Mutation.removeReaction.ok"
    return stack.invoke(messages, name, who, {**ids(cid, mid), "emoji": emoji})


def test_reactions_once_per_user_and_emoji(stack: Stack, conv: str) -> None:
    m = send(stack, conv, "react to me", "cmid-rx-0001")
    react(stack, conv, m["id"], "👍")
    twice = react(stack, conv, m["id"], "👍")  # no-op
    assert twice["reactions"] == [{"emoji": "👍", "count": 1, "userIds": [BOB], "reactedByMe": True}]
    both = react(stack, conv, m["id"], "👍", who="carol")
    assert both["reactions"][0]["count"] == 2
    tada = react(stack, conv, m["id"], ":tada:", who="alice")["reactions"]
    assert [(r["emoji"], r["count"]) for r in tada] == [("👍", 2), (":tada:", 1)]  # most used first
    gone = {r["emoji"]: r for r in react(stack, conv, m["id"], "👍", add=False)["reactions"]}
    assert gone["👍"] == {"emoji": "👍", "count": 1, "userIds": [CAROL], "reactedByMe": False}
    again = {r["emoji"]: r for r in react(stack, conv, m["id"], "👍", add=False)["reactions"]}
    assert again["👍"]["count"] == 1  # removing an absent one: no-op
    react(stack, conv, m["id"], "👍", who="carol", add=False)
    last = since(stack, conv, 0, "alice")["items"][0]
    assert [r["emoji"] for r in last["reactions"]] == [":tada:"]


def test_at_most_twenty_distinct_reactions(stack: Stack, conv: str, monkeypatch) -> None:
    monkeypatch.setenv("MAX_REACTION_KINDS", "3")
    api.reset()
    m = send(stack, conv, "many", "cmid-rx-0002")
    for e in ("😀", "😃", "😄"):
        react(stack, conv, m["id"], e)
    assert error_type(react(stack, conv, m["id"], "😁")) == "BadRequest"
    assert react(stack, conv, m["id"], "😀", who="carol")["reactions"][0]["count"] == 2  # existing kind ok


def test_reaction_rules(stack: Stack, conv: str) -> None:
    m = send(stack, conv, "x", "cmid-rx-0003")
    before = stack.raw_items()
    bad = stack.invoke(messages, "Mutation.addReaction.bad-emoji", "bob", ids(conv, m["id"]))
    assert error_type(bad) == "BadRequest"
    for e in ("👍👍", "ab", ":Bad Name:", ""):
        assert error_type(react(stack, conv, m["id"], e)) == "BadRequest", e
    assert error_type(react(stack, conv, m["id"], "👍", who="mallory")) == "Forbidden"
    forged = m["id"][:-1] + ("A" if m["id"][-1] != "A" else "B")
    assert error_type(react(stack, conv, forged, "👍")) == "NotFound"
    assert stack.raw_items() == before


# ---------------------------------------------------------------- edit and delete
def edit(stack: Stack, cid: str, mid: str, body: str, version: int, who: str = "alice") -> dict:
    return stack.invoke(messages, "Mutation.editMessage.ok", who, {"input": {
        **ids(cid, mid), "body": body, "expectedVersion": version}})


def test_edit_keeps_encrypted_history(stack: Stack, conv: str) -> None:
    m = send(stack, conv, "helo", "cmid-ed-0001")
    e1 = edit(stack, conv, m["id"], "hello", 1)
    assert (e1["body"], e1["version"]) == ("hello", 2) and e1["editedAt"]
    e2 = edit(stack, conv, m["id"], "hello!", 2)
    assert e2["version"] == 3
    history = stack.invoke(messages, "Query.editHistory.ok", "alice", ids(conv, m["id"]))
    assert [(v["version"], v["body"]) for v in history] == [(1, "helo"), (2, "hello"), (3, "hello!")]
    assert "helo" not in repr(stack.raw_items())  # history stays encrypted
    assert error_type(stack.invoke(messages, "Query.editHistory.ok", "bob", ids(conv, m["id"]))) == "Forbidden"
    assert error_type(stack.invoke(messages, "Query.editHistory.ok", "mallory", ids(conv, m["id"]))) == "Forbidden"


def test_edit_rules(stack: Stack, conv: str, monkeypatch) -> None:
    m = send(stack, conv, "mine", "cmid-ed-0002")
    assert error_type(edit(stack, conv, m["id"], "theirs", 1, who="bob")) == "Forbidden"  # author only
    assert error_type(edit(stack, conv, m["id"], "", 1)) == "BadRequest"
    assert error_type(edit(stack, conv, m["id"], "x", 0)) == "BadRequest"
    assert error_type(edit(stack, conv, m["id"], "x", 1, who="mallory")) == "Forbidden"
    monkeypatch.setenv("EDIT_WINDOW_SECONDS", "0")
    api.reset()
    import time

    time.sleep(0.01)
    late = edit(stack, conv, m["id"], "too late", 1)
    assert error_type(late) == "Forbidden" and "seconds" in late["error"]["message"]


@pytest.mark.moto_fidelity(ISOLATED_TRANSACTIONS)
def test_concurrent_edits_one_wins_nothing_lost(stack: Stack, conv: str) -> None:
    m = send(stack, conv, "v1", "cmid-ed-0003")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda b: edit(stack, conv, m["id"], b, 1), ["left", "right"]))
    winners = [r for r in results if "error" not in r]
    losers = [r for r in results if error_type(r) == "Conflict"]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0]["error"]["info"] == {"currentVersion": 2}
    history = stack.invoke(messages, "Query.editHistory.ok", "alice", ids(conv, m["id"]))
    assert [v["body"] for v in history] == ["v1", winners[0]["body"]]


def test_delete_leaves_a_tombstone_and_destroys_ciphertext(stack: Stack, conv: str) -> None:
    root = send(stack, conv, "secret plans", "cmid-del-0001")
    reply(stack, conv, root["id"], "a reply", "cmid-del-0002")
    react(stack, conv, root["id"], "👍")
    edit(stack, conv, root["id"], "secret plans v2", 1)
    gone = stack.invoke(messages, "Mutation.deleteMessage.ok", "alice", ids(conv, root["id"]))
    assert gone["body"] is None and gone["deletedBy"] == ALICE and gone["deletedAt"]
    assert gone["reactions"] == [] and gone["replyCount"] == 1 and gone["seq"] == 1
    raw = next(i for i in stack.raw_items() if i["SK"]["S"] == "MSG#000000000001")
    assert "bodies" not in raw
    audit = [i for i in stack.raw_items() if i["SK"]["S"].startswith("AUDIT#000000000001#")]
    assert len(audit) == 1 and audit[0]["actorId"]["S"] == ALICE
    assert [m["seq"] for m in since(stack, conv, 0)["items"]] == [1, 2]  # structure kept
    assert stack.invoke(messages, "Query.editHistory.ok", "alice", ids(conv, root["id"])) == []
    again = stack.invoke(messages, "Mutation.deleteMessage.ok", "alice", ids(conv, root["id"]))
    assert error_type(again) == "Conflict"
    assert error_type(edit(stack, conv, root["id"], "zombie", 3)) == "Conflict"


def test_last_message_copy_is_destroyed_too(stack: Stack, conv: str) -> None:
    m = send(stack, conv, "the last word", "cmid-del-0003")
    stack.invoke(messages, "Mutation.deleteMessage.ok", "alice", ids(conv, m["id"]))
    meta = next(i for i in stack.raw_items() if i["SK"]["S"] == "META")
    assert "bodies" not in meta["lastMessage"]["M"]
    from resolvers import conversations

    view = stack.invoke(conversations, "Query.conversation.ok", "bob", {"id": conv})
    assert view["lastMessage"]["body"] is None and view["lastMessage"]["deletedAt"]


def test_who_may_delete(stack: Stack, conv: str) -> None:
    m = send(stack, conv, "alice's", "cmid-del-0004", who="alice")
    b = send(stack, conv, "bob's", "cmid-del-0005", who="bob")
    c = send(stack, conv, "carol's", "cmid-del-0006", who="carol")
    # a plain member cannot delete someone else's message
    assert error_type(stack.invoke(messages, "Mutation.deleteMessage.ok", "bob", ids(conv, m["id"]))) == "Forbidden"
    assert error_type(stack.invoke(messages, "Mutation.deleteMessage.ok", "mallory", ids(conv, b["id"]))) == "Forbidden"
    # the conversation owner (alice created it) can
    assert stack.invoke(messages, "Mutation.deleteMessage.ok", "alice", ids(conv, b["id"]))["deletedBy"] == ALICE
    # a global moderator can, without being a member
    mod = stack.invoke(messages, "Mutation.deleteMessage.ok", "mod", ids(conv, c["id"]))
    assert mod["deletedBy"] == USERS["mod"]
    assert since(stack, conv, 0)["items"][0]["body"] == "alice's"


# ---------------------------------------------------------------- receipts
def mark(stack: Stack, cid: str, seq: int, who: str = "bob", kind: str = "Read") -> dict:
    return stack.invoke(receipts, f"Mutation.mark{kind}.ok", who, {"conversationId": cid, "seq": seq})


def test_receipts_move_forward_only(stack: Stack, conv: str) -> None:
    for i in range(3):
        send(stack, conv, f"m{i}", f"cmid-rc-{i:04d}")
    from resolvers import conversations

    unread = lambda: stack.invoke(conversations, "Query.conversation.ok", "bob", {"id": conv})["unreadCount"]
    assert unread() == 3
    r = mark(stack, conv, 2)
    assert (r["kind"], r["seq"], r["userId"]) == ("READ", 2, BOB)
    assert unread() == 1
    older = mark(stack, conv, 1)  # an older receipt is a no-op
    assert older["seq"] == 2 and unread() == 1
    assert mark(stack, conv, 3, kind="Delivered")["seq"] == 3
    listing = stack.invoke(receipts, "Query.readReceipts.ok", "carol", {"conversationId": conv})
    by_user = {x["userId"]: x for x in listing}
    assert by_user[BOB] == {"userId": BOB, "readSeq": 2, "deliveredSeq": 3}
    assert by_user[ALICE]["readSeq"] == 3  # own sends count as read


def test_receipt_rules(stack: Stack, conv: str) -> None:
    send(stack, conv, "only one", "cmid-rc-0100")
    before = stack.raw_items()
    assert error_type(mark(stack, conv, 5)) == "BadRequest"  # beyond the last message
    assert error_type(mark(stack, conv, 0)) == "BadRequest"
    assert error_type(mark(stack, conv, 1, who="mallory")) == "Forbidden"
    assert error_type(stack.invoke(receipts, "Query.readReceipts.ok", "mallory", {"conversationId": conv})) == "Forbidden"
    assert error_type(stack.invoke(receipts, "Subscription.onReceipt.member", "mallory", {"conversationId": conv})) == "Forbidden"
    assert stack.invoke(receipts, "Subscription.onReceipt.member", "bob", {"conversationId": conv}) == {
        "invalidation": {"conversationId": {"eq": conv}, "userId": {"in": [BOB, "*"]}}}
    assert stack.raw_items() == before


# ---------------------------------------------------------------- typing
def typing(stack: Stack, cid: str, on: bool, who: str = "bob") -> dict:
    return stack.invoke(receipts, "Mutation.sendTyping.ok", who, {"conversationId": cid, "typing": on})


def test_typing_is_members_only_and_rate_limited(stack: Stack, conv: str) -> None:
    ev = typing(stack, conv, True)
    assert ev["userId"] == BOB and ev["typing"] is True and ev["expiresAt"] > "2026"
    assert error_type(typing(stack, conv, True)) == "RateLimited"  # faster than the interval
    assert typing(stack, conv, False)["typing"] is False  # stopping is always allowed
    assert typing(stack, conv, True, who="carol")["userId"] == CAROL  # per user
    assert error_type(typing(stack, conv, True, who="mallory")) == "Forbidden"
    assert error_type(stack.invoke(receipts, "Subscription.onTyping.non-member", "mallory",
                                   {"conversationId": conv})) == "Forbidden"
    assert error_type(stack.invoke(receipts, "Mutation.sendTyping.ok", "bob",
                                   {"conversationId": conv, "typing": "yes"})) == "BadRequest"


# ---------------------------------------------------------------- send rate limit
def test_send_rate_limit_is_enforced_in_the_send_transaction(stack: Stack, conv: str, monkeypatch) -> None:
    monkeypatch.setenv("SEND_RATE_PER_MINUTE", "3")
    api.reset()
    results = [send(stack, conv, f"r{i}", f"cmid-rate-{i:04d}") for i in range(4)]
    assert [error_type(r) for r in results] == [None, None, None, "RateLimited"]
    assert results[3]["error"]["info"]["retryAfterSeconds"] > 0
    assert [m["seq"] for m in since(stack, conv, 0)["items"]] == [1, 2, 3]
    assert send(stack, conv, "bob is fine", "cmid-rate-bob1", who="bob")["seq"] == 4  # per user
    assert page(stack, conv)["items"][0]["seq"] == 4
