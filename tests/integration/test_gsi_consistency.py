"""Decisions that must be exact never rest on a GSI read alone.

On AWS a global secondary index lags the table (eventually consistent; ``ConsistentRead``
is refused on GSIs). Here the local stack's own lag (``cloudchat_local.moto.gsi_lag``) runs with a
test clock: ``settle()`` lets the indexes catch up; every write after that is invisible to
index reads (and only to them) until the clock moves on, which is what AWS can do to any
write for a while. Each test makes an index answer stale in the way that would mislead, and
checks that the decision is still right: a removed member's index entry still exists, a
new member's is not there yet, a read marker or a reply changed since the index image.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cloudchat import api
from cloudchat_local.moto import gsi_lag
from resolvers import conversations, messages, receipts, stream, users
from tests.integration.conftest import USERS, LambdaContext, Stack, error_type
from tests.integration.test_fanout import Captured, Stream
from tests.integration.test_features import reply
from tests.integration.test_messages import new_conversation, send

ALICE, BOB, CAROL = USERS["alice"], USERS["bob"], USERS["carol"]
LAG = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def settle(self) -> None:
        """Every write so far reaches the indexes."""
        self.now += LAG + 1


@pytest.fixture
def clock(stack: Stack) -> Iterator[Clock]:
    c = Clock()
    gsi_lag(LAG, c)
    try:
        yield c
    finally:
        gsi_lag(0)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Captured:
    cap = Captured()
    monkeypatch.setattr(stream, "_publisher", lambda: cap)
    return cap


def listing(stack: Stack, who: str) -> dict[str, dict[str, Any]]:
    page = stack.invoke(conversations, "Query.conversations.first-page", who, {"limit": 50})
    return {c["id"]: c for c in page["items"]}


def remove(stack: Stack, cid: str, user: str) -> None:
    change = stack.invoke(conversations, "Mutation.removeMember.ok", "alice",
                          {"conversationId": cid, "userId": user}, replace_args=True)
    assert change["action"] == "REMOVED", change


def add(stack: Stack, cid: str, user: str) -> dict[str, Any]:
    change = stack.invoke(conversations, "Mutation.addMembers.ok", "alice",
                          {"conversationId": cid, "userIds": [user]}, replace_args=True)
    assert change["action"] == "ADDED", change
    return dict(change)


def index_lists(who: str, cid: str) -> bool:
    """What GSI1 itself answers (the stale candidate list the service starts from)."""
    rows, _ = api.service().store.memberships(who, 100, None)
    return cid in {m.conversation_id for m in rows}


# ------------------------------------------------------------------ conversations page


def test_a_removed_member_whose_index_entry_remains_does_not_see_the_conversation(
        stack: Stack, clock: Clock) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL], title="team")
    send(stack, cid, "before", "cmid-gsi-0001")
    clock.settle()
    assert cid in listing(stack, "carol")
    remove(stack, cid, CAROL)
    send(stack, cid, "said after carol left", "cmid-gsi-0002")
    assert index_lists(CAROL, cid)  # the index is stale ...
    assert cid not in listing(stack, "carol")  # ... the page is not
    assert listing(stack, "bob")[cid]["lastMessage"]["body"] == "said after carol left"
    clock.settle()
    assert not index_lists(CAROL, cid)
    assert cid not in listing(stack, "carol")


def test_a_member_removed_and_added_again_counts_unread_from_joining_again(
        stack: Stack, clock: Clock) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL], title="team")
    send(stack, cid, "before", "cmid-gsi-0003")
    clock.settle()
    remove(stack, cid, CAROL)
    send(stack, cid, "while carol was away", "cmid-gsi-0004")
    add(stack, cid, CAROL)  # within the lag: the index still has her first entry
    stale = next(m for m in api.service().store.memberships(CAROL, 10, None)[0]
                 if m.conversation_id == cid)
    assert stale.joined_seq == 0
    row = listing(stack, "carol")[cid]
    assert row["lastMessage"]["kind"] == "SYSTEM"  # "Alice added Carol"
    assert row["unreadCount"] == 1  # from joining again, not from her first joining


def test_unread_counts_come_from_the_member_item_not_the_index(stack: Stack, clock: Clock) -> None:
    cid = new_conversation(stack, members=[BOB])
    for i in range(3):
        send(stack, cid, f"m{i}", f"cmid-gsi-1{i:03d}")
    clock.settle()
    assert listing(stack, "bob")[cid]["unreadCount"] == 3
    stack.invoke(receipts, "Mutation.markRead.ok", "bob", {"conversationId": cid, "seq": 3})
    row = next(m for m in api.service().store.memberships(BOB, 10, None)[0]
               if m.conversation_id == cid)
    assert row.read_seq == 0  # the index image still has the old marker
    assert listing(stack, "bob")[cid]["unreadCount"] == 0


def test_a_new_conversation_appears_in_the_list_once_the_index_has_it(
        stack: Stack, clock: Clock) -> None:
    """Eventual, and harmless: the creator has the conversation from createConversation,
    the others from onUserEvent; everything addressed by id works at once."""
    cid = new_conversation(stack, members=[BOB], title="fresh")
    assert cid not in listing(stack, "bob")
    assert stack.invoke(conversations, "Query.conversation.ok", "bob",
                        {"id": cid})["id"] == cid
    assert send(stack, cid, "works at once", "cmid-gsi-2001", who="bob")["seq"] == 1
    clock.settle()
    assert cid in listing(stack, "bob")


# ------------------------------------------------------------------ presence contacts


def presence(stack: Stack, who: str, user_ids: list[str]) -> Any:
    return stack.invoke(users, "Query.presence.ok", who, {"userIds": user_ids})


def test_presence_is_refused_once_the_only_shared_conversation_is_left(
        stack: Stack, clock: Clock) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL], title="team")
    clock.settle()
    assert isinstance(presence(stack, "carol", [BOB]), list)
    remove(stack, cid, CAROL)
    assert index_lists(CAROL, cid)
    assert error_type(presence(stack, "carol", [BOB])) == "Forbidden"
    assert error_type(presence(stack, "bob", [CAROL])) == "Forbidden"
    assert api.service().store.contacts(CAROL) == {CAROL}


def test_a_new_contacts_presence_is_refused_until_the_index_has_it(
        stack: Stack, clock: Clock) -> None:
    """Fails closed: presence is never shown to someone who shares nothing with you; a
    contact made in the last moments may be refused until GSI1 catches up (clients ask
    again every 30 s)."""
    new_conversation(stack, members=[CAROL], title="new")
    assert error_type(presence(stack, "carol", [ALICE])) == "Forbidden"
    clock.settle()
    assert isinstance(presence(stack, "carol", [ALICE]), list)


def test_coming_online_is_not_announced_to_a_former_contact(
        stack: Stack, clock: Clock, captured: Captured) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL], title="team")
    clock.settle()
    remove(stack, cid, CAROL)
    s = Stream()
    stack.invoke(users, "Mutation.heartbeat.ok", "carol")
    stream.lambda_handler({"Records": s.read()}, LambdaContext())
    assert [e for e in captured.events if e["type"] == "PRESENCE"] == []


# ------------------------------------------------------------------ threads


def thread(stack: Stack, cid: str, root: str, who: str = "alice", **more: Any) -> Any:
    return stack.invoke(messages, "Query.thread.ok", who,
                        {"conversationId": cid, "rootId": root, "limit": 50, **more})


def test_a_deleted_reply_is_not_shown_from_a_stale_index_image(stack: Stack, clock: Clock) -> None:
    cid = new_conversation(stack, members=[BOB], title="t")
    root = send(stack, cid, "root", "cmid-gsi-3001")
    r1 = reply(stack, cid, root["id"], "secret reply", "cmid-gsi-3002")
    r2 = reply(stack, cid, root["id"], "typo reply", "cmid-gsi-3003")
    clock.settle()
    deleted = stack.invoke(messages, "Mutation.deleteMessage.ok", "bob",
                           {"conversationId": cid, "messageId": r1["id"]})
    assert deleted["deletedAt"]
    edited = stack.invoke(messages, "Mutation.editMessage.ok", "bob", {"input": {
        "conversationId": cid, "messageId": r2["id"], "body": "fixed reply",
        "expectedVersion": r2["version"]}})
    assert edited["body"] == "fixed reply"
    got = thread(stack, cid, root["id"])["items"]
    assert [m["seq"] for m in got] == [r1["seq"], r2["seq"]]
    assert got[0]["deletedAt"] and got[0]["body"] in (None, "")
    assert got[1]["body"] == "fixed reply"


def test_thread_access_and_history_from_joining_with_a_stale_index(
        stack: Stack, clock: Clock) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL], title="t")
    root = send(stack, cid, "root", "cmid-gsi-4001")
    reply(stack, cid, root["id"], "before carol left", "cmid-gsi-4002")
    clock.settle()
    remove(stack, cid, CAROL)
    assert error_type(thread(stack, cid, root["id"], "carol")) == "Forbidden"
    reply(stack, cid, root["id"], "while carol was away", "cmid-gsi-4003")
    clock.settle()
    joined = add(stack, cid, CAROL)["message"]["seq"] - 1
    late = reply(stack, cid, root["id"], "after carol is back", "cmid-gsi-4004")
    clock.settle()
    got = thread(stack, cid, root["id"], "carol", limit=1)
    assert [m["seq"] for m in got["items"]] == [late["seq"]]  # nothing from before joining
    assert late["seq"] > joined
    assert [m["body"] for m in thread(stack, cid, root["id"], "bob")["items"]] == [
        "before carol left", "while carol was away", "after carol is back"]


def test_a_reply_reaches_the_thread_once_the_index_has_it(stack: Stack, clock: Clock) -> None:
    cid = new_conversation(stack, members=[BOB], title="t")
    root = send(stack, cid, "root", "cmid-gsi-5001")
    clock.settle()
    reply(stack, cid, root["id"], "new reply", "cmid-gsi-5002")
    assert thread(stack, cid, root["id"])["items"] == []  # eventual, like the index
    clock.settle()
    assert [m["body"] for m in thread(stack, cid, root["id"])["items"]] == ["new reply"]


# ------------------------------------------------------------------ moderation


def test_reported_messages_show_the_message_as_it_is_now(stack: Stack, clock: Clock) -> None:
    cid = new_conversation(stack, members=[BOB])
    m = send(stack, cid, "rude words", "cmid-gsi-6001", who="bob")
    stack.invoke(messages, "Mutation.reportMessage.ok", "alice",
                 {"conversationId": cid, "messageId": m["id"], "reason": "rude"})
    clock.settle()
    stack.invoke(messages, "Mutation.deleteMessage.ok", "bob",
                 {"conversationId": cid, "messageId": m["id"]})
    got = stack.invoke(messages, "Query.reportedMessages.moderator", "mod", {"limit": 20})
    assert [bool(r["message"]["deletedAt"]) for r in got["items"]] == [True]
    assert got["items"][0]["message"]["body"] in (None, "")


def test_thread_and_conversations_pages_keep_their_request_budgets(stack: Stack) -> None:
    """Reading from the table costs no extra request: the thread page is the index query
    plus one batch get (member + replies); the conversations page the index query plus one
    batch get (conversation + member items, 20 of each)."""
    cid = new_conversation(stack, members=[BOB], title="t")
    root = send(stack, cid, "root", "cmid-gsi-7001")
    for i in range(5):
        reply(stack, cid, root["id"], f"r{i}", f"cmid-gsi-71{i:02d}")
    for i in range(19):
        new_conversation(stack, members=[BOB], title=f"c{i}")
    counter = stack.counter()
    assert len(thread(stack, cid, root["id"], "bob")["items"]) == 5
    assert counter.ops == ["dynamodb.Query", "dynamodb.BatchGetItem"]
    counter.reset()
    page = stack.invoke(conversations, "Query.conversations.first-page", "bob", {"limit": 20})
    assert len(page["items"]) == 20
    # (first the caller's large-conversation markers: services/conversations.py)
    assert counter.ops == ["dynamodb.Query", "dynamodb.Query", "dynamodb.BatchGetItem"]
