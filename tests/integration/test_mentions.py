"""Mentions (issue 14 part 6) through the real handlers under moto: validation inside the
send transaction, the MENTION event and notification (even when muted), and
unreadMentionCount across sends, repeats of the stream and markRead."""

from typing import Any

import pytest

from cloudchat import api
from resolvers import conversations, messages, receipts
from tests.integration.conftest import USERS, Stack, error_type
from tests.integration.test_fanout import (  # noqa: F401 (fixtures)
    STREAMED,
    Captured,
    Stream,
    captured,
    consume,
    inboxes,
    received,
)
from tests.integration.test_messages import new_conversation, page


@pytest.fixture
def events(request: pytest.FixtureRequest) -> Captured:
    """test_fanout's ``captured``: the user events the stream consumer publishes."""
    return request.getfixturevalue("captured")  # type: ignore[no-any-return]


@pytest.fixture
def mail(request: pytest.FixtureRequest) -> dict[str, str]:
    """test_fanout's ``inboxes``: an SQS queue per user on the notification topic."""
    return request.getfixturevalue("inboxes")  # type: ignore[no-any-return]

ALICE, BOB, CAROL, MALLORY = USERS["alice"], USERS["bob"], USERS["carol"], USERS["mallory"]


def send(stack: Stack, cid: str, body: str, cmid: str, mentions: Any = None,
         who: str = "alice", parent: str | None = None) -> dict:
    msg: dict[str, Any] = {"conversationId": cid, "body": body, "clientMessageId": cmid}
    if mentions is not None:
        msg["mentions"] = mentions
    if parent is not None:
        msg["parentId"] = parent
    return stack.invoke(messages, "Mutation.sendMessage.ok", who, {"input": msg},
                        replace_args=True)


def group(stack: Stack) -> str:
    return new_conversation(stack, members=[BOB, CAROL], title="team")


def view(stack: Stack, cid: str, who: str) -> dict:
    return stack.invoke(conversations, "Query.conversation.ok", who, {"id": cid},
                        replace_args=True)


def mark_read(stack: Stack, cid: str, who: str, seq: int) -> None:
    out = stack.invoke(receipts, "Mutation.markRead.ok", who, {"conversationId": cid, "seq": seq},
                       replace_args=True)
    assert error_type(out) is None, out


def test_mentions_are_stored_deduplicated_and_shown_everywhere(stack: Stack) -> None:
    cid = group(stack)
    msg = send(stack, cid, "@bob @carol @bob look", "cmid-men-0001", [BOB, CAROL, BOB])
    assert msg["mentions"] == [BOB, CAROL]
    assert page(stack, cid, "carol")["items"][0]["mentions"] == [BOB, CAROL]
    assert view(stack, cid, "bob")["lastMessage"]["mentions"] == [BOB, CAROL]
    plain = send(stack, cid, "no one", "cmid-men-0002")
    assert plain["mentions"] == []
    assert send(stack, cid, "nobody either", "cmid-men-0003", [])["mentions"] == []


@pytest.mark.parametrize("bad", ["not-a-list", [""], ["a b"], [7], [None],
                                 [f"user-{i:03d}" for i in range(51)]])
def test_bad_mentions_are_bad_requests_and_write_nothing(stack: Stack, bad: Any) -> None:
    cid = group(stack)
    send(stack, cid, "warm", "cmid-bad-0000")
    before = stack.raw_items()
    out = send(stack, cid, "hi", "cmid-bad-0001", bad)
    assert error_type(out) == "BadRequest", out
    assert stack.raw_items() == before


def test_duplicates_collapse_before_the_limit(stack: Stack) -> None:
    cid = group(stack)
    assert send(stack, cid, "x", "cmid-dup-0001", [BOB] * 60 + [CAROL])["mentions"] == [BOB, CAROL]


@pytest.mark.parametrize("cold", [False, True])
def test_a_non_member_mention_is_refused_and_nothing_is_written(stack: Stack, cold: bool) -> None:
    cid = group(stack)
    send(stack, cid, "first", "cmid-out-0001")
    if cold:
        api.reset()  # a new container: the conversation is read first
    before = stack.raw_items()
    out = send(stack, cid, "hey @mallory", "cmid-out-0002", [BOB, MALLORY])
    assert error_type(out) == "BadRequest", out
    assert MALLORY in out["error"]["message"] and BOB not in out["error"]["message"]
    assert stack.raw_items() == before
    # the refused send claimed nothing: the same clientMessageId goes through without her
    assert send(stack, cid, "hey @bob", "cmid-out-0002", [BOB])["seq"] == 2


def test_a_removed_member_can_no_longer_be_mentioned(stack: Stack) -> None:
    cid = group(stack)
    send(stack, cid, "warm", "cmid-rm-0001", [CAROL])
    stack.invoke(conversations, "Mutation.removeMember.ok", "alice",
                 {"conversationId": cid, "userId": CAROL}, replace_args=True)
    assert error_type(send(stack, cid, "@carol?", "cmid-rm-0002", [CAROL])) == "BadRequest"


def test_a_non_member_caller_is_forbidden_whatever_the_mentions(stack: Stack) -> None:
    cid = group(stack)
    out = send(stack, cid, "hi", "cmid-nm-0001", [BOB], who="mallory")
    assert error_type(out) == "Forbidden"
    api.reset()
    out = send(stack, cid, "hi", "cmid-nm-0002", [MALLORY], who="mallory")
    assert error_type(out) == "Forbidden"


def test_a_retry_must_repeat_the_mentions(stack: Stack) -> None:
    cid = group(stack)
    first = send(stack, cid, "hi", "cmid-rt-0001", [BOB, CAROL])
    assert send(stack, cid, "hi", "cmid-rt-0001", [CAROL, BOB])["id"] == first["id"]
    assert error_type(send(stack, cid, "hi", "cmid-rt-0001", [BOB])) == "Conflict"
    assert error_type(send(stack, cid, "hi", "cmid-rt-0001")) == "Conflict"


def test_edits_keep_the_mentions(stack: Stack) -> None:
    cid = group(stack)
    msg = send(stack, cid, "hi @bob", "cmid-ed-0001", [BOB])
    edited = stack.invoke(messages, "Mutation.editMessage.ok", "alice", {"input": {
        "conversationId": cid, "messageId": msg["id"], "body": "hi @bob!", "expectedVersion": 1}},
        replace_args=True)
    assert edited["version"] == 2 and edited["mentions"] == [BOB]


@STREAMED
def test_mentioned_member_gets_event_and_notification_while_muted(
        stack: Stack, events: Captured, mail: dict[str, str]) -> None:
    s = Stream()
    cid = group(stack)
    stack.invoke(conversations, "Mutation.muteConversation.ok", "bob",
                 {"conversationId": cid, "until": "2999-01-01T00:00:00Z"}, replace_args=True)
    stack.invoke(conversations, "Mutation.muteConversation.ok", "carol",
                 {"conversationId": cid, "until": "2999-01-01T00:00:00Z"}, replace_args=True)
    msg = send(stack, cid, "@bob please review", "cmid-ev-0001", [BOB, ALICE])
    records = s.read()
    consume(records)
    consume(records)  # a repeated batch: no second notification, no double count
    mentions = [e for e in events.events if e["type"] == "MENTION"]
    assert {e["userId"] for e in mentions} == {BOB}  # not carol, not the sender herself
    event = mentions[0]
    assert (event["conversationId"], event["seq"], event["senderId"]) == (cid, msg["seq"], ALICE)
    assert event["unreadMentionCount"] == 1 and event["preview"] == "@bob please review"
    assert received(mail["bob"]) == ["Alice mentioned you: @bob please review"]
    assert received(mail["carol"]) == []  # muted and not mentioned
    assert received(mail["alice"]) == []
    assert view(stack, cid, "bob")["unreadMentionCount"] == 1


@STREAMED
def test_a_mentioned_member_is_notified_once_not_twice(
        stack: Stack, events: Captured, mail: dict[str, str]) -> None:
    s = Stream()
    cid = group(stack)
    send(stack, cid, "@bob hi", "cmid-one-0001", [BOB])
    consume(s.read())
    assert received(mail["bob"]) == ["Alice mentioned you: @bob hi"]  # not also "Alice: ..."
    assert received(mail["carol"]) == ["Alice: @bob hi"]  # the regular notice


@STREAMED
def test_unread_mention_count_follows_sends_repeats_and_mark_read(
        stack: Stack, events: Captured) -> None:
    s = Stream()
    cid = group(stack)
    send(stack, cid, "@bob one", "cmid-cnt-0001", [BOB])
    send(stack, cid, "plain", "cmid-cnt-0002")
    root = send(stack, cid, "@bob @carol three", "cmid-cnt-0003", [BOB, CAROL])
    send(stack, cid, "reply to @bob", "cmid-cnt-0004", [BOB], who="carol", parent=root["id"])
    records = s.read()
    consume(records)
    consume(records)  # the stream repeats itself: nothing counts twice
    consume(records[::2])
    assert view(stack, cid, "bob")["unreadMentionCount"] == 3
    assert view(stack, cid, "carol")["unreadMentionCount"] == 0  # she read up to her reply
    assert view(stack, cid, "alice")["unreadMentionCount"] == 0
    listed = stack.invoke(conversations, "Query.conversations.first-page", "bob", {"limit": 10})
    assert [c["unreadMentionCount"] for c in listed["items"] if c["id"] == cid] == [3]
    mark_read(stack, cid, "bob", 1)
    assert view(stack, cid, "bob")["unreadMentionCount"] == 2
    mark_read(stack, cid, "bob", 3)
    assert view(stack, cid, "bob")["unreadMentionCount"] == 1
    mark_read(stack, cid, "bob", 4)
    assert view(stack, cid, "bob")["unreadMentionCount"] == 0
    consume(records)  # a late repeat after reading counts nothing again
    assert view(stack, cid, "bob")["unreadMentionCount"] == 0
    bob = [e["unreadMentionCount"] for e in events.events
           if e["type"] == "MENTION" and e["userId"] == BOB]
    assert bob[:3] == [1, 2, 3]


@STREAMED
def test_read_mentions_are_trimmed_from_the_member_item(stack: Stack, events: Captured) -> None:
    from cloudchat.store._mentions import TRIM_AT

    s = Stream()
    cid = group(stack)
    for i in range(TRIM_AT):
        send(stack, cid, f"@bob {i}", f"cmid-trim-{i:04d}", [BOB])
    consume(s.read())
    mark_read(stack, cid, "bob", TRIM_AT)
    last = send(stack, cid, "@bob again", "cmid-trim-9999", [BOB])
    consume(s.read())
    member = api.service().store.get_member(cid, BOB)
    assert member is not None and member.mention_seqs == {last["seq"]}
    assert view(stack, cid, "bob")["unreadMentionCount"] == 1


def test_counting_a_mention_of_someone_no_longer_a_member_creates_nothing(stack: Stack) -> None:
    """The consumer read the members, then the member left: its conditional writes refuse
    (UpdateItem would otherwise create a bare member item), with and without trimming."""
    from cloudchat.store._mentions import TRIM_AT

    cid = group(stack)
    stack.invoke(conversations, "Mutation.removeMember.ok", "alice",
                 {"conversationId": cid, "userId": CAROL}, replace_args=True)
    before = stack.raw_items()
    store = api.service().store
    assert store.note_mention(cid, CAROL, 5, frozenset(), 0) is False
    assert store.note_mention(cid, CAROL, 50, frozenset(range(1, TRIM_AT + 1)), TRIM_AT) is False
    assert stack.raw_items() == before
