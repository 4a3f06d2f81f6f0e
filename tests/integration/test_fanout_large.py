"""Large conversations (over LargeGroupThreshold; cloudchat.fanout_large): the stream
consumer's work per message does not grow with members. Real stream records (moto), a small
threshold set per test: list positions merged at read time (order, paging, unread counts),
user events for online members only, notifications coalesced per window (an injected
clock), markers written when a conversation crosses the threshold, redeliveries harmless,
and the consumer's requests per message the same at 3 and 6 members."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from cloudchat import api
from cloudchat.services import iso
from resolvers import conversations, users
from tests.integration.conftest import USERS, Stack, error_type
from tests.integration.test_fanout import STREAMED, Captured, Stream, consume, inboxes, received
from tests.integration.test_members import call
from tests.integration.test_mentions import send
from tests.integration.test_messages import new_conversation

ALICE, BOB, CAROL = USERS["alice"], USERS["bob"], USERS["carol"]
MALLORY, MOD, ROOT = USERS["mallory"], USERS["mod"], USERS["root"]

__all__ = ["inboxes"]  # (the fixture, imported for these tests)

pytestmark = STREAMED


@pytest.fixture
def threshold(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    def set_to(n: int) -> None:
        monkeypatch.setenv("LARGE_GROUP_THRESHOLD", str(n))
        api.reset()
    set_to(2)  # alice, bob and carol are a large conversation
    return set_to


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Captured:
    from resolvers import stream

    cap = Captured()
    monkeypatch.setattr(stream, "_publisher", lambda: cap)
    return cap


def clock_ahead(seconds: float) -> None:
    """The service's clock (the consumer's and the resolvers') moved forward."""
    service = api.service()
    real = service.clock
    service.clock = lambda: real() + timedelta(seconds=seconds)


def listed(stack: Stack, who: str, limit: int = 50, token: str | None = None) -> dict[str, Any]:
    args: dict[str, Any] = {"limit": limit}
    if token is not None:
        args["nextToken"] = token
    return stack.invoke(conversations, "Query.conversations.first-page", who, args)


def order(stack: Stack, who: str) -> list[str]:
    return [c["id"] for c in listed(stack, who)["items"]]


def messages(captured: Captured, kind: str = "MESSAGE") -> list[tuple[str, str, int, int]]:
    return [(e["userId"], e["conversationId"], e["seq"], e["unreadCount"])
            for e in captured.events if e["type"] == kind]


def beat(stack: Stack, who: str) -> None:
    stack.invoke(users, "Mutation.heartbeat.ok", who)


def test_over_the_threshold_markers_then_the_flag_at_the_threshold_nothing(
        stack: Stack, captured: Captured, threshold: Callable[[int], None]) -> None:
    s = Stream()
    store = api.service().store
    big = new_conversation(stack, members=[BOB, CAROL], title="big")  # 3 > 2
    consume(s.read())
    threshold(3)
    small = new_conversation(stack, members=[BOB, CAROL], title="small")  # 3, not > 3
    consume(s.read())
    for who in (ALICE, BOB, CAROL):
        assert store.large_conversation_ids(who) == [big]
    assert store.messages_and_state(big, [])[1].large
    assert not store.messages_and_state(small, [])[1].large
    # a member added to a large conversation gets a marker; one who leaves loses it
    threshold(2)
    call(stack, "addMembers", "alice", conversationId=big, userIds=[MALLORY])
    call(stack, "leaveConversation", "carol", conversationId=big)
    consume(s.read())
    assert store.large_conversation_ids(MALLORY) == [big]
    assert store.large_conversation_ids(CAROL) == []


def test_crossing_the_threshold_writes_every_members_marker(
        stack: Stack, captured: Captured, threshold: Callable[[int], None]) -> None:
    threshold(3)
    s = Stream()
    store = api.service().store
    cid = new_conversation(stack, members=[BOB, CAROL], title="grows")
    consume(s.read())
    assert not store.messages_and_state(cid, [])[1].large
    call(stack, "addMembers", "alice", conversationId=cid, userIds=[MALLORY])  # 4 > 3
    records = s.read()
    consume(records)
    consume(records)  # (a redelivery writes the same markers)
    assert store.messages_and_state(cid, [])[1].large
    for who in (ALICE, BOB, CAROL, MALLORY):
        assert store.large_conversation_ids(who) == [cid]


def test_no_list_positions_move_and_the_list_merges_by_activity(
        stack: Stack, captured: Captured, threshold: Callable[[int], None]) -> None:
    s = Stream()
    store = api.service().store
    big = new_conversation(stack, members=[BOB, CAROL], title="big")
    consume(s.read())
    threshold(50)
    a = new_conversation(stack, members=[BOB], title="a")
    b = new_conversation(stack, members=[BOB], title="b")
    threshold(2)
    joined = store.get_member(big, BOB)
    assert joined is not None
    send(stack, a, "in a", "cmid-lg-0001")
    send(stack, big, "in big", "cmid-lg-0002")
    send(stack, b, "in b", "cmid-lg-0003")
    consume(s.read())
    assert order(stack, "bob") == [b, big, a]
    after = store.get_member(big, BOB)
    assert after is not None and after.last_activity == joined.last_activity  # not moved
    send(stack, big, "again", "cmid-lg-0004", who="carol")
    consume(s.read())
    assert order(stack, "bob") == [big, b, a]
    # unread counts stay lastSeq - readSeq
    items = {c["id"]: c for c in listed(stack, "bob")["items"]}
    assert items[big]["unreadCount"] == 2
    assert items[big]["lastMessage"]["body"] == "again"


def test_paging_the_merged_list_neither_repeats_nor_misses(
        stack: Stack, captured: Captured, threshold: Callable[[int], None]) -> None:
    s = Stream()
    bigs = [new_conversation(stack, members=[BOB, CAROL], title=f"big{i}") for i in range(3)]
    consume(s.read())
    threshold(50)
    smalls = [new_conversation(stack, members=[BOB], title=f"s{i}") for i in range(4)]
    threshold(2)
    # activity interleaved: s0 big0 s1 big1 s2 big2 s3 (oldest first)
    for i, cid in enumerate([smalls[0], bigs[0], smalls[1], bigs[1], smalls[2], bigs[2],
                             smalls[3]]):
        send(stack, cid, f"m{i}", f"cmid-pg-{i:04d}")
    consume(s.read())
    full = order(stack, "bob")
    assert full == [smalls[3], bigs[2], smalls[2], bigs[1], smalls[1], bigs[0], smalls[0]]
    for size in (1, 2, 3):
        seen: list[str] = []
        token = None
        while True:
            got = listed(stack, "bob", size, token)
            seen += [c["id"] for c in got["items"]]
            token = got["nextToken"]
            if token is None:
                break
        assert seen == full, size


def test_user_events_go_to_online_members_only_and_offline_ones_catch_up(
        stack: Stack, captured: Captured, threshold: Callable[[int], None]) -> None:
    s = Stream()
    cid = new_conversation(stack, members=[BOB, CAROL, MALLORY], title="big")
    consume(s.read())
    beat(stack, "carol")
    beat(stack, "alice")
    consume(s.read())  # (their heartbeats: online in their large conversations)
    send(stack, cid, "hello", "cmid-on-0001")
    send(stack, cid, "hey @bob", "cmid-on-0002", mentions=[BOB])
    consume(s.read())
    # online alice and carol, and bob because the message mentions him
    assert sorted(messages(captured)) == sorted([(ALICE, cid, 2, 0), (CAROL, cid, 2, 2),
                                                 (BOB, cid, 2, 2)])
    # a mention reaches an offline member: the MENTION event
    assert messages(captured, "MENTION") == [(BOB, cid, 2, 2)]
    # bob, offline, catches up from the list: unread 2
    bob = {c["id"]: c for c in listed(stack, "bob")["items"]}
    assert bob[cid]["unreadCount"] == 2
    # presence lapses: carol no longer gets events
    captured.events.clear()
    clock_ahead(api.service().PRESENCE_ONLINE_SECONDS + 1)
    send(stack, cid, "later", "cmid-on-0003")
    consume(s.read())
    assert messages(captured) == []


def test_notifications_coalesce_per_conversation_and_window(
        stack: Stack, captured: Captured, threshold: Callable[[int], None],
        inboxes: dict[str, str]) -> None:
    s = Stream()
    cid = new_conversation(stack, members=[BOB, CAROL], title="big")
    consume(s.read())
    beat(stack, "carol")  # online: not notified
    consume(s.read())
    send(stack, cid, "first", "cmid-nt-0001")
    send(stack, cid, "second", "cmid-nt-0002")
    records = s.read()
    consume(records)
    consume(records)  # a redelivered batch notifies no one again
    send(stack, cid, "third", "cmid-nt-0003")  # same window: no sweep
    consume(s.read())
    assert received(inboxes["bob"]) == ["Alice: first"]
    assert received(inboxes["carol"]) == []
    assert received(inboxes["alice"]) == []
    clock_ahead(api.service().settings.notify_window_seconds + 1)
    send(stack, cid, "next window", "cmid-nt-0004")
    send(stack, cid, "and more", "cmid-nt-0005")
    consume(s.read())
    # carol's heartbeat is old by now: both are offline, each notified once
    assert received(inboxes["bob"]) == ["Alice: next window"]
    assert received(inboxes["carol"]) == ["Alice: next window"]


def test_a_message_costs_the_same_requests_at_3_and_6_members(
        stack: Stack, captured: Captured, threshold: Callable[[int], None],
        inboxes: dict[str, str]) -> None:
    """Per message in a window (the sweep claimed by an earlier one), with one member
    online: BatchGetItem (messages and fan-out state), the online Query, BatchGetItem of
    the online member's item, and the block check of it (BatchGetItem): 4 DynamoDB
    requests, no write, and 1 publish, whatever the members. (The member Query bounded by
    the threshold is left out once the process has seen the conversation flagged large.)"""
    costs = []
    for others in ([BOB, CAROL], [BOB, CAROL, MALLORY, MOD, ROOT]):
        s = Stream()
        cid = new_conversation(stack, members=others, title=f"n{len(others)}")
        consume(s.read())
        beat(stack, "carol")
        consume(s.read())
        send(stack, cid, "claims the sweep", f"cmid-cost-{len(others)}-0")
        consume(s.read())
        send(stack, cid, "measured", f"cmid-cost-{len(others)}-1")
        records = s.read()
        captured.events.clear()
        counter = stack.counter()
        assert consume(records) == {"batchItemFailures": []}
        ddb = [op for op in counter.ops if op.startswith("dynamodb.")]
        sns = [op for op in counter.ops if op.startswith("sns.")]
        costs.append((ddb, sns, len(captured.events)))
    assert costs[0] == costs[1]
    ddb, sns, events = costs[0]
    assert sorted(ddb) == sorted(["dynamodb.BatchGetItem", "dynamodb.Query",
                                  "dynamodb.BatchGetItem", "dynamodb.BatchGetItem"]), ddb
    assert (sns, events) == ([], 1)


def test_a_heartbeat_refreshes_online_records_of_large_conversations_only(
        stack: Stack, captured: Captured, threshold: Callable[[int], None]) -> None:
    s = Stream()
    store = api.service().store
    big = new_conversation(stack, members=[BOB, CAROL], title="big")
    consume(s.read())
    beat(stack, "bob")
    consume(s.read())
    now = api.service().clock()
    assert store.online_members(big, iso(now)) == [BOB]
    later = now + timedelta(seconds=api.service().PRESENCE_ONLINE_SECONDS + 1)
    assert store.online_members(big, iso(later)) == []
    threshold(50)
    small = new_conversation(stack, members=[BOB], title="small")
    consume(s.read())
    beat(stack, "bob")
    consume(s.read())
    assert store.online_members(small, iso(now)) == []


def test_the_list_of_a_member_of_large_conversations_stays_three_requests(
        stack: Stack, captured: Captured, threshold: Callable[[int], None]) -> None:
    """The markers (one Query), the GSI1 page over-read by the markers' count (one Query),
    and one BatchGetItem of conversation + member items for the page's small conversations
    and every large one (up to 50 of them together: 100 keys)."""
    s = Stream()
    bigs = [new_conversation(stack, members=[BOB, CAROL], title=f"big{i}") for i in range(4)]
    consume(s.read())
    threshold(50)
    smalls = [new_conversation(stack, members=[BOB], title=f"s{i}") for i in range(6)]
    threshold(2)
    counter = stack.counter()
    got = listed(stack, "bob", 5)
    assert len(got["items"]) == 5 and got["nextToken"]
    assert counter.ops == ["dynamodb.Query", "dynamodb.Query", "dynamodb.BatchGetItem"]
    assert {c["id"] for c in got["items"]} <= set(bigs) | set(smalls)


class Ordered:
    """A publisher and a notifier that record, in one list, what happened in which order;
    the publisher fails its first ``fail`` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.log: list[tuple[str, str]] = []
        self.fail = fail

    def publish_user_events(self, events: list[dict[str, Any]]) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("AppSync is down")
        self.log += [("event", f"{e['type']}:{e['userId']}") for e in events]

    def notify(self, user_id: str, subject: str, text: str, data: dict[str, Any],
               devices: list[str], email: Any = None) -> None:
        self.log.append(("notice", f"{user_id}:{text}"))


@pytest.fixture
def ordered(monkeypatch: pytest.MonkeyPatch) -> Ordered:
    from resolvers import stream

    both = Ordered()
    monkeypatch.setattr(stream, "_publisher", lambda: both)
    monkeypatch.setattr(stream, "_notifier", lambda: both)
    return both


@pytest.mark.parametrize("size", ["small", "large"])
def test_user_events_are_published_before_notifications(
        stack: Stack, threshold: Callable[[int], None], ordered: Ordered, size: str) -> None:
    """A run's events go out first, then its notifications (both sides of the threshold);
    a mention's notification too."""
    s = Stream()
    threshold(2 if size == "large" else 50)
    cid = new_conversation(stack, members=[BOB, CAROL], title="order")
    consume(s.read())
    beat(stack, "alice")
    consume(s.read())
    ordered.log.clear()
    send(stack, cid, "first", "cmid-ord-0001")
    send(stack, cid, "@carol look", "cmid-ord-0002", mentions=[CAROL])
    consume(s.read())
    kinds = [k for k, _ in ordered.log]
    assert "event" in kinds and "notice" in kinds, ordered.log
    assert kinds == sorted(kinds, key=lambda k: k != "event"), ordered.log  # events first
    notices = sorted(v for k, v in ordered.log if k == "notice")
    assert notices == sorted([f"{BOB}:Alice: first", f"{CAROL}:Alice: first",
                              f"{CAROL}:Alice mentioned you: @carol look"])


def test_a_failed_publish_is_redelivered_and_each_member_notified_once(
        stack: Stack, threshold: Callable[[int], None], ordered: Ordered) -> None:
    """Large path: the publish fails, the records come back, the events go out on the
    retry; the sweep's notifications go out once (the mention's on the failed attempt
    already, as its count cannot be redone)."""
    s = Stream()
    cid = new_conversation(stack, members=[BOB, CAROL], title="retry")
    consume(s.read())
    beat(stack, "alice")
    consume(s.read())
    ordered.log.clear()
    send(stack, cid, "hello all", "cmid-rt-0001", mentions=[CAROL])
    records = s.read()
    ordered.fail = 1
    failed = consume(records)["batchItemFailures"]
    assert failed
    assert [k for k, _ in ordered.log] == ["notice"]  # the mention's, not the events
    first = {r["dynamodb"]["SequenceNumber"] for r in records}
    assert {f["itemIdentifier"] for f in failed} <= first
    assert consume(records) == {"batchItemFailures": []}
    events = sorted(v for k, v in ordered.log if k == "event")
    assert events == sorted([f"MESSAGE:{ALICE}", f"MESSAGE:{CAROL}", f"MENTION:{CAROL}"])
    notices = sorted(v for k, v in ordered.log if k == "notice")
    assert notices == sorted([f"{CAROL}:Alice mentioned you: hello all", f"{BOB}:Alice: hello all"])


@pytest.mark.parametrize("inside", [{}, {"k": None, "l": None}, {"k": "row"}, {"l": 7},
                                    {"k": None, "l": ["x"]}])
def test_a_list_token_of_another_shape_is_bad_request(stack: Stack, inside: dict[str, Any]) -> None:
    from tests.integration.conftest import error_type

    token = api.service().tokens.seal(inside, user_id=BOB, operation="conversations")
    assert error_type(listed(stack, "bob", 5, token)) == "BadRequest"


def test_a_member_online_when_the_conversation_becomes_large_gets_events_at_once(
        stack: Stack, captured: Captured, threshold: Callable[[int], None]) -> None:
    """Online before the conversation existed (no heartbeat since): the marker walk gives
    them their online record; so does joining a large conversation while online."""
    s = Stream()
    beat(stack, "bob")
    consume(s.read())
    cid = new_conversation(stack, members=[BOB, CAROL], title="big")
    consume(s.read())
    beat(stack, "mallory")
    consume(s.read())
    call(stack, "addMembers", "alice", conversationId=cid, userIds=[MALLORY])
    consume(s.read())
    captured.events.clear()
    send(stack, cid, "hi", "cmid-now-0001")
    consume(s.read())
    assert sorted(u for u, *_ in messages(captured)) == sorted([BOB, MALLORY])


def test_presence_in_a_large_conversation_is_asked_for_not_announced(
        stack: Stack, captured: Captured, threshold: Callable[[int], None]) -> None:
    """Coming online is announced to the co-members of small conversations only (a large
    one's members are never enumerated per heartbeat); a co-member of a large conversation
    may still ask for it, a stranger may not."""
    s = Stream()
    new_conversation(stack, members=[BOB, CAROL], title="big")  # 3 > 2: large
    consume(s.read())
    new_conversation(stack, "carol", members=[MALLORY], title="small")  # 2: small
    consume(s.read())
    beat(stack, "carol")
    consume(s.read())
    announced = sorted(e["userId"] for e in captured.events if e["type"] == "PRESENCE")
    assert announced == [MALLORY]  # not alice or bob, who share only the large one with her
    seen = stack.invoke(users, "Query.presence.ok", "alice", {"userIds": [CAROL, BOB]})
    assert [(p["userId"], p["online"]) for p in seen] == [(CAROL, True), (BOB, False)]
    refused = stack.invoke(users, "Query.presence.ok", "mallory", {"userIds": [ALICE]})
    assert error_type(refused) == "Forbidden"


def test_search_across_conversations_finds_a_large_one_whose_list_row_is_old(
        stack: Stack, captured: Captured, threshold: Callable[[int], None]) -> None:
    """The consumer does not move a large conversation's GSI1 rows, so its row stays where
    the member joined; search's "most recently active" conversations include it by its own
    last activity, as the conversation list does."""
    from resolvers import messages as messages_resolver

    s = Stream()
    big = new_conversation(stack, members=[BOB, CAROL], title="big")  # 3 > 2: large
    consume(s.read())
    for i in range(21):  # 21 small conversations listed above it in GSI1
        new_conversation(stack, members=[BOB], title=f"small {i}")
    consume(s.read())
    send(stack, big, "the quarterly needle", "cmid-sx-0001")
    consume(s.read())
    assert order(stack, "bob")[0] == big
    got = stack.invoke(messages_resolver, "Query.searchMessages.ok", "bob",
                       {"query": "needle", "conversationId": None, "limit": 20},
                       replace_args=True)
    assert [m["body"] for m in got["items"]] == ["the quarterly needle"]
