"""Blocking (issue 14, part 5) through the real handlers under moto: blockUser, unblockUser,
blockedUsers; a block refuses a DIRECT conversation and adding its blocker to a group inside
the write's own transaction (no check-then-act window); blocked senders' messages are flagged
for the blocker only; the directory hides blockers; blocked senders notify no one."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from cloudchat import api
from cloudchat.store import MAX_BLOCKS
from resolvers import conversations, messages, users
from tests.integration.conftest import ISOLATED_TRANSACTIONS, USERS, Stack, error_type, member_roles
from tests.integration.test_fanout import STREAMED, Captured, Stream, consume, received
from tests.integration.test_messages import new_conversation, page, send, since

ALICE, BOB, CAROL, MALLORY = USERS["alice"], USERS["bob"], USERS["carol"], USERS["mallory"]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Captured:
    """The user events the stream consumer publishes."""
    from resolvers import stream

    cap = Captured()
    monkeypatch.setattr(stream, "_publisher", lambda: cap)
    return cap


@pytest.fixture
def mailboxes(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Notifications: an SNS topic with a queue per user, filtered on `recipient`."""
    import json

    import boto3

    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="cloudchat-test-notifications")["TopicArn"]
    queues = {}
    for who in ("alice", "bob", "carol"):
        url = sqs.create_queue(QueueName=f"inbox-{who}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={
            "RawMessageDelivery": "true", "FilterPolicy": json.dumps({"recipient": [USERS[who]]})})
        queues[who] = url
    monkeypatch.setenv("NOTIFICATIONS_TOPIC_ARN", topic)
    api.reset()
    return queues


def block(stack: Stack, who: str, user_id: object) -> Any:
    return stack.invoke(users, "Mutation.blockUser.ok", who, {"userId": user_id}, replace_args=True)


def unblock(stack: Stack, who: str, user_id: object) -> Any:
    return stack.invoke(users, "Mutation.unblockUser.ok", who, {"userId": user_id},
                        replace_args=True)


def blocked(stack: Stack, who: str) -> Any:
    return stack.invoke(users, "Query.blockedUsers.ok", who, {}, replace_args=True)


def create(stack: Stack, who: str, members: list[str], title: str | None = None) -> Any:
    return stack.invoke(conversations, "Mutation.createConversation.direct", who,
                        {"input": {"memberIds": members, **({"title": title} if title else {})}},
                        replace_args=True)


def add(stack: Stack, cid: str, user_ids: list[str], who: str = "alice") -> Any:
    return stack.invoke(conversations, "Mutation.addMembers.ok", who,
                        {"conversationId": cid, "userIds": user_ids}, replace_args=True)


def thread(stack: Stack, cid: str, root: str, who: str) -> Any:
    return stack.invoke(messages, "Query.thread.ok", who, {"conversationId": cid, "rootId": root},
                        replace_args=True)


# ---------------------------------------------------------------- block, unblock, list
def test_block_list_and_unblock(stack: Stack) -> None:
    first = block(stack, "bob", ALICE)
    assert first["userId"] == ALICE and first["blockedAt"].endswith("Z")
    assert block(stack, "bob", CAROL)["userId"] == CAROL
    listed = blocked(stack, "bob")
    assert sorted(b["userId"] for b in listed) == sorted([ALICE, CAROL])
    assert [b["blockedAt"] for b in listed] == sorted((b["blockedAt"] for b in listed), reverse=True)
    assert blocked(stack, "alice") == []  # only the caller's own blocks
    assert unblock(stack, "bob", ALICE) == {"userId": ALICE, "wasBlocked": True}
    assert [b["userId"] for b in blocked(stack, "bob")] == [CAROL]


def test_blocking_twice_and_unblocking_a_non_blocked_user_are_no_ops(stack: Stack) -> None:
    first = block(stack, "bob", ALICE)
    before = sorted(map(str, stack.raw_items()))
    assert block(stack, "bob", ALICE) == first  # the first blockedAt
    assert sorted(map(str, stack.raw_items())) == before
    assert unblock(stack, "bob", CAROL) == {"userId": CAROL, "wasBlocked": False}
    assert sorted(map(str, stack.raw_items())) == before
    assert unblock(stack, "bob", ALICE)["wasBlocked"] is True
    assert unblock(stack, "bob", ALICE)["wasBlocked"] is False


def test_bad_input_is_refused_and_writes_nothing(stack: Stack) -> None:
    before = sorted(map(str, stack.raw_items()))
    for value in (BOB, "", "not an id!", "x" * 129, None, 7, [ALICE]):
        assert error_type(block(stack, "bob", value)) == "BadRequest", value
        assert error_type(unblock(stack, "bob", value)) == "BadRequest", value
    assert sorted(map(str, stack.raw_items())) == before


def test_an_unknown_id_is_blocked_like_any_other(stack: Stack) -> None:
    """The answer never tells whether a user has the id (no NotFound to probe with)."""
    ghost = "99999999-9999-4999-8999-999999999999"
    assert block(stack, "bob", ghost)["userId"] == ghost
    assert unblock(stack, "bob", ghost)["wasBlocked"] is True


def test_blocks_are_bounded(stack: Stack) -> None:
    for i in range(MAX_BLOCKS):
        assert error_type(block(stack, "bob", f"blocked-{i:03d}")) is None
    before = sorted(map(str, stack.raw_items()))
    refused = block(stack, "bob", "one-too-many")
    assert error_type(refused) == "BadRequest" and refused["error"]["info"] == {"maxBlocks": MAX_BLOCKS}
    assert sorted(map(str, stack.raw_items())) == before
    assert block(stack, "bob", "blocked-000")["userId"] == "blocked-000"  # re-blocking: a no-op
    assert len(blocked(stack, "bob")) == MAX_BLOCKS
    unblock(stack, "bob", "blocked-000")
    assert error_type(block(stack, "bob", "one-too-many")) is None


# ---------------------------------------------------------------- what a block forbids
def test_a_block_forbids_a_direct_conversation_either_way(stack: Stack) -> None:
    block(stack, "bob", ALICE)
    before = sorted(map(str, stack.raw_items()))
    theirs = create(stack, "alice", [BOB])
    assert error_type(theirs) == "Forbidden"
    assert "blocked" not in theirs["error"]["message"]  # a plain refusal for the blocked user
    mine = create(stack, "bob", [ALICE])
    assert error_type(mine) == "Forbidden" and mine["error"]["info"] == {"userIds": [ALICE]}
    assert sorted(map(str, stack.raw_items())) == before
    unblock(stack, "bob", ALICE)
    assert create(stack, "alice", [BOB])["kind"] == "DIRECT"


def test_an_existing_direct_conversation_stays_and_is_answered(stack: Stack) -> None:
    cid = create(stack, "alice", [BOB])["id"]
    block(stack, "bob", ALICE)
    assert create(stack, "alice", [BOB])["id"] == cid  # (it was open already: no new one)


def test_a_block_forbids_adding_its_blocker_to_a_group(stack: Stack) -> None:
    cid = new_conversation(stack, members=[CAROL], title="team")
    block(stack, "bob", ALICE)
    before = sorted(map(str, stack.raw_items()))
    refused = add(stack, cid, [BOB, MALLORY])
    assert error_type(refused) == "Forbidden" and refused["error"]["info"] == {"userIds": [BOB]}
    assert sorted(map(str, stack.raw_items())) == before  # mallory was not added either
    refused = create(stack, "alice", [BOB, CAROL], title="new team")
    assert error_type(refused) == "Forbidden"
    assert sorted(map(str, stack.raw_items())) == before
    # carol (not blocked) may add bob; bob's block is of alice only
    stack.invoke(conversations, "Mutation.setMemberRole.ok", "alice",
                 {"conversationId": cid, "userId": CAROL, "role": "ADMIN"}, replace_args=True)
    assert add(stack, cid, [BOB], who="carol")["userIds"] == [BOB]


def test_the_blocker_may_still_add_whom_they_blocked(stack: Stack) -> None:
    """A block stops the blocked user; the blocker's own choices are theirs."""
    block(stack, "alice", BOB)
    cid = new_conversation(stack, members=[CAROL], title="team")
    assert add(stack, cid, [BOB])["userIds"] == [BOB]


def test_a_large_group_refused_by_a_block_leaves_nothing_behind(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past one transaction, members are written in chunks first: a block refusing the last
    transaction deletes them again (the creator's write-rate log keeps the attempt)."""
    from cloudchat.models import User

    many = [f"00000000-0000-4000-8000-{i:012d}" for i in range(120)]
    store = api.service().store
    for u in many:
        store.put_profile_if_absent(User(id=u, display_name=u[-4:], created_at="2026-01-01T00:00:00.000Z"))
    monkeypatch.setenv("MAX_GROUP_MEMBERS", "200")
    api.reset()
    store = api.service().store
    state = lambda: sorted(str(i) for i in stack.raw_items() if "RATE#" not in i["SK"]["S"])
    for blocker in (many[5], many[119]):  # checked with the conversation item / the first chunk
        store.block(blocker, ALICE, "2026-01-01T00:00:00.000Z")
        with_block = state()
        refused = create(stack, "alice", many, title="big")
        assert error_type(refused) == "Forbidden" and refused["error"]["info"] == {"userIds": [blocker]}
        assert state() == with_block
        store.unblock(blocker, ALICE)
    created = create(stack, "alice", many, title="big")
    assert created["memberCount"] == 121 and len(member_roles(stack, created["id"])) == 121


def test_add_members_is_bounded_to_1000_ids_per_call(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB], title="team")
    before = sorted(map(str, stack.raw_items()))
    too_many = [f"00000000-0000-4000-8000-{i:012d}" for i in range(1001)]
    refused = add(stack, cid, too_many)
    assert error_type(refused) == "BadRequest"
    assert refused["error"]["message"] == "add at most 1000 members at a time"
    assert sorted(map(str, stack.raw_items())) == before


def test_the_check_is_inside_the_write_not_before_it(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """A block landing after addMembers read the conversation and before its transaction
    still refuses the add: the check is a ConditionCheck in that transaction."""
    cid = new_conversation(stack, members=[CAROL], title="team")
    store = api.service().store
    original = type(store).change_members

    def block_first(self: Any, *args: Any, **kwargs: Any) -> str:
        self.block(BOB, ALICE, "2026-01-01T00:00:00.000Z")  # the block lands in the window
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(store), "change_members", block_first)
    assert error_type(add(stack, cid, [BOB])) == "Forbidden"
    monkeypatch.setattr(type(store), "change_members", original)
    store.unblock(BOB, ALICE)
    created = type(store).create_conversation

    def block_before_create(self: Any, *args: Any, **kwargs: Any) -> None:
        self.block(BOB, ALICE, "2026-01-01T00:00:00.000Z")
        created(self, *args, **kwargs)

    monkeypatch.setattr(type(store), "create_conversation", block_before_create)
    assert error_type(create(stack, "alice", [BOB])) == "Forbidden"
    assert error_type(create(stack, "alice", [BOB, CAROL], title="g")) == "Forbidden"


@pytest.mark.moto_fidelity(ISOLATED_TRANSACTIONS)
def test_a_concurrent_block_and_add_never_both_win(stack: Stack) -> None:
    """Bob blocks alice while alice adds bob, many times over: either the add committed first
    (bob is a member, then blocked her) or the block did (the add is refused, nothing
    written), and nothing else (no Conflict, no failure). That an add after the block is
    refused even within the add's read-to-write window is the test above."""
    for round_ in range(8):
        cid = new_conversation(stack, members=[CAROL], title=f"race {round_}")
        results: dict[str, Any] = {}
        go = threading.Barrier(2)

        def adding(cid: str = cid, go: threading.Barrier = go,
                   results: dict[str, Any] = results) -> None:
            go.wait()
            results["add"] = add(stack, cid, [BOB])

        def blocking(go: threading.Barrier = go, results: dict[str, Any] = results) -> None:
            go.wait()
            results["block"] = block(stack, "bob", ALICE)

        threads = [threading.Thread(target=adding), threading.Thread(target=blocking)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert error_type(results["block"]) is None
        member = api.service().store.get_member(cid, BOB)
        if error_type(results["add"]) is None:
            # the add won: it committed before the block, so the block is the later write
            assert member is not None and results["add"]["userIds"] == [BOB]
        else:
            assert error_type(results["add"]) == "Forbidden" and member is None
        unblock(stack, "bob", ALICE)


# ---------------------------------------------------------------- reading
def test_blocked_senders_messages_are_flagged_for_the_blocker_only(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL], title="team")
    root = send(stack, cid, "from alice", "cmid-blk-0001")
    send(stack, cid, "from carol", "cmid-blk-0002", who="carol")
    reply = stack.invoke(messages, "Mutation.sendMessage.reply", "alice", {"input": {
        "conversationId": cid, "body": "alice replies", "clientMessageId": "cmid-blk-0003",
        "parentId": root["id"]}})
    assert root["senderBlocked"] is False
    block(stack, "bob", ALICE)
    flags = lambda items: [(m["body"], m["senderBlocked"]) for m in items]
    newest_first = [("alice replies", True), ("from carol", False), ("from alice", True)]
    assert flags(page(stack, cid, "bob")["items"])[:3] == newest_first
    assert flags(since(stack, cid, 0, "bob")["items"])[-3:] == newest_first[::-1]
    assert flags(thread(stack, cid, root["id"], "bob")["items"]) == [("alice replies", True)]
    assert all(not m["senderBlocked"] for m in page(stack, cid, "carol")["items"])
    # SYSTEM messages record what happened: never flagged
    change = stack.invoke(conversations, "Mutation.renameConversation.ok", "alice",
                          {"conversationId": cid, "title": "renamed"}, replace_args=True)
    assert change["title"] == "renamed"
    system = page(stack, cid, "bob")["items"][0]
    assert system["kind"] == "SYSTEM" and system["senderBlocked"] is False
    unblock(stack, "bob", ALICE)
    assert not any(m["senderBlocked"] for m in page(stack, cid, "bob")["items"])
    assert reply["senderBlocked"] is False


def test_the_directory_hides_you_from_those_you_blocked(stack: Stack) -> None:
    names = lambda who, q: [u["displayName"] for u in stack.invoke(
        users, "Query.users.prefix", who, {"query": q, "limit": 20}, replace_args=True)["items"]]
    assert "Bob" in names("alice", "") and "Bob" in names("alice", "bo")
    block(stack, "bob", ALICE)
    assert "Bob" not in names("alice", "") and names("alice", "bo") == []
    assert "Bob" not in names("alice", "bob@")  # by email too
    assert "Alice" in names("bob", "")  # the blocker still finds them (to unblock)
    assert "Bob" in names("carol", "")
    # usersByIds still names bob for alice: it shows the members and senders she sees
    got = stack.invoke(users, "Query.usersByIds.ok", "alice", {"ids": [BOB]}, replace_args=True)
    assert [u["id"] for u in got] == [BOB]


def test_a_directory_page_is_never_empty_while_more_follow(stack: Stack) -> None:
    for who in ("bob", "carol"):
        block(stack, who, ALICE)
    got = stack.invoke(users, "Query.users.prefix", "alice", {"query": "", "limit": 1},
                       replace_args=True)
    seen = []
    while True:
        assert got["items"] or got["nextToken"] is None
        seen += [u["displayName"] for u in got["items"]]
        if not got["nextToken"]:
            break
        got = stack.invoke(users, "Query.users.prefix", "alice",
                           {"query": "", "limit": 1, "nextToken": got["nextToken"]}, replace_args=True)
    assert "Bob" not in seen and "Carol" not in seen and "Alice" in seen and "Mallory" in seen


# ---------------------------------------------------------------- notices
@STREAMED
def test_a_blocked_sender_notifies_no_one_who_blocked_them(
        stack: Stack, events: Captured, mailboxes: dict[str, str]) -> None:
    s = Stream()
    cid = new_conversation(stack, members=[BOB, CAROL], title="launch")
    block(stack, "bob", ALICE)
    send(stack, cid, "secret plan", "cmid-bnt-0001")
    consume(s.read())
    assert received(mailboxes["bob"]) == []  # no notification from a blocked sender
    assert received(mailboxes["carol"]) == ["Alice: secret plan"]
    by_user = {e["userId"]: e for e in events.events if e["type"] == "MESSAGE"}
    assert by_user[BOB]["preview"] is None and by_user[BOB]["unreadCount"] == 1
    assert by_user[CAROL]["preview"] == "secret plan"
    # carol's messages still reach bob
    send(stack, cid, "carol here", "cmid-bnt-0002", who="carol")
    consume(s.read())
    assert received(mailboxes["bob"]) == ["Carol: carol here"]  # (no claim was spent on alice's)
    last = [e for e in events.events if e["type"] == "MESSAGE" and e["userId"] == BOB][-1]
    assert last["preview"] == "carol here"

