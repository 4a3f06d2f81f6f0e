"""Issue 12: rate limits on every fan-out write (sends over a sliding 60 s window, typing
stops, renames, membership changes, new conversations), writes bounded by ``joinedSeq``
like reads, the actor's own SYSTEM messages not unread, and the tests the mutation run
found missing (late joiners' pages, threads and edit history; reactions at seq ==
joinedSeq; the last owner removing themselves; the fan-out's unread clamp)."""

from datetime import UTC, datetime

import pytest

from cloudchat import api
from resolvers import conversations, messages, receipts
from tests.integration.conftest import USERS, Stack, error_type, member_roles
from tests.integration.test_fanout import Captured, Stream, consume
from tests.integration.test_messages import new_conversation, page, send, since

ALICE, BOB, CAROL = USERS["alice"], USERS["bob"], USERS["carol"]


class Clock:
    """The service's clock, moved by hand (epoch seconds)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)


def clocked(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], t: float) -> Clock:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    api.reset()
    clock = Clock(t)
    api.service().clock = clock
    return clock


def now_minute() -> float:
    return float(int(datetime.now(UTC).timestamp()) // 60 * 60)


def call(stack: Stack, event: str, who: str, **args: object) -> dict:
    return stack.invoke(conversations, event, who, args, replace_args=True)


def rename(stack: Stack, cid: str, title: str, who: str = "alice") -> dict:
    return call(stack, "Mutation.renameConversation.ok", who, conversationId=cid, title=title)


def add(stack: Stack, cid: str, users: list[str], who: str = "alice") -> dict:
    return call(stack, "Mutation.addMembers.ok", who, conversationId=cid, userIds=users)


def set_role(stack: Stack, cid: str, user: str, role: str, who: str = "alice") -> dict:
    return call(stack, "Mutation.setMemberRole.ok", who, conversationId=cid, userId=user, role=role)


def remove(stack: Stack, cid: str, user: str, who: str = "alice") -> dict:
    return call(stack, "Mutation.removeMember.ok", who, conversationId=cid, userId=user)


def leave(stack: Stack, cid: str, who: str) -> dict:
    return call(stack, "Mutation.leaveConversation.ok", who, conversationId=cid)


def create(stack: Stack, who: str, members: list[str], title: str | None = "g") -> dict:
    return call(stack, "Mutation.createConversation.direct", who,
                input={"memberIds": members, **({"title": title} if title else {})})


def view(stack: Stack, cid: str, who: str) -> dict:
    return call(stack, "Query.conversation.ok", who, id=cid)


def typing(stack: Stack, cid: str, on: bool, who: str = "bob") -> dict:
    return stack.invoke(receipts, "Mutation.sendTyping.ok", who, {"conversationId": cid, "typing": on})


def ids(cid: str, mid: str) -> dict:
    return {"conversationId": cid, "messageId": mid}


def retry_after(result: dict) -> int:
    assert error_type(result) == "RateLimited", result
    return int(result["error"]["info"]["retryAfterSeconds"])


# ---------------------------------------------------------------- 6: typing stops
def test_typing_stops_are_rate_limited_like_starts(stack: Stack, monkeypatch) -> None:
    cid = new_conversation(stack, members=[BOB])
    clock = clocked(monkeypatch, {}, now_minute())
    stops = [typing(stack, cid, False) for _ in range(20)]
    assert [error_type(r) for r in stops] == [None] + ["RateLimited"] * 19
    assert retry_after(stops[1]) == 2  # TYPING_MIN_INTERVAL_MS 2000
    clock.t += 2
    assert typing(stack, cid, True)["typing"] is True
    clock.t += 0.1
    assert typing(stack, cid, False)["typing"] is False  # a stop right after a start: once
    assert error_type(typing(stack, cid, False)) == "RateLimited"
    assert error_type(typing(stack, cid, True)) == "RateLimited"
    clock.t += 2
    assert typing(stack, cid, False)["typing"] is False
    assert error_type(typing(stack, cid, False, who="mallory")) == "Forbidden"


# ---------------------------------------------------------------- 7: writes other than sends
def test_renames_membership_changes_and_new_conversations_are_metered_per_user(
        stack: Stack, monkeypatch) -> None:
    start = now_minute() + 10
    clock = clocked(monkeypatch, {"WRITE_RATE_PER_MINUTE": "5"}, start)
    cid = create(stack, "alice", [BOB])["id"]
    clock.t += 1
    assert rename(stack, cid, "two")["title"] == "two"
    clock.t += 1
    assert add(stack, cid, [CAROL])["action"] == "ADDED"
    clock.t += 1
    assert set_role(stack, cid, CAROL, "ADMIN")["action"] == "ROLE_CHANGED"
    clock.t += 1
    assert remove(stack, cid, CAROL)["action"] == "REMOVED"
    clock.t += 1  # five writes in the last 60 s: start .. start + 4
    before = sorted(map(str, stack.raw_items()))
    refused = [rename(stack, cid, "six"), add(stack, cid, [CAROL]),
               set_role(stack, cid, BOB, "ADMIN"), remove(stack, cid, BOB),
               create(stack, "alice", [CAROL])]
    assert [retry_after(r) for r in refused] == [55] * 5  # the oldest write turns 60 s old
    assert sorted(map(str, stack.raw_items())) == before  # nothing written by a refusal
    assert view(stack, cid, "alice")["title"] == "two"
    # per user: bob's own writes fill his log, and leaving is metered too
    for i in range(5):
        assert create(stack, "bob", [CAROL], title=f"b{i}")["id"]
    assert retry_after(leave(stack, cid, "bob")) == 60
    clock.t = start + 60
    assert rename(stack, cid, "six")["title"] == "six"
    assert retry_after(rename(stack, cid, "seven")) == 1


def test_a_refused_create_leaves_no_members_behind_in_a_large_group(
        stack: Stack, monkeypatch) -> None:
    """Groups past one transaction write member chunks first: the first carries the log."""
    from cloudchat.models import User

    many = [f"00000000-0000-4000-8000-{i:012d}" for i in range(120)]
    store = api.service().store
    for u in many:
        store.put_profile_if_absent(User(id=u, display_name=u[-4:], created_at="2026-01-01T00:00:00.000Z"))
    clocked(monkeypatch, {"WRITE_RATE_PER_MINUTE": "1", "MAX_GROUP_MEMBERS": "200"},
            now_minute() + 1)
    created = create(stack, "alice", many)
    assert created["memberCount"] == 121 and len(member_roles(stack, created["id"])) == 121
    before = sorted(map(str, stack.raw_items()))
    assert retry_after(create(stack, "alice", many)) == 60
    assert sorted(map(str, stack.raw_items())) == before


# ---------------------------------------------------------------- the send window
def test_the_send_limit_holds_across_a_minute_boundary(stack: Stack, monkeypatch) -> None:
    cid = new_conversation(stack, members=[BOB])
    start = now_minute() + 59.5
    clock = clocked(monkeypatch, {"SEND_RATE_PER_MINUTE": "3"}, start)
    assert all(error_type(send(stack, cid, f"a{i}", f"cmid-win-{i:04d}")) is None for i in range(3))
    clock.t = start + 1  # the next calendar minute
    assert retry_after(send(stack, cid, "over", "cmid-win-0004")) == 59
    clock.t = start + 60
    assert [error_type(send(stack, cid, f"b{i}", f"cmid-win-1{i:03d}")) for i in range(4)] == [
        None, None, None, "RateLimited"]


def test_the_send_window_is_exactly_a_sliding_minute(stack: Stack, monkeypatch) -> None:
    """Attempts at uneven times over three minutes: a send is accepted exactly when fewer
    than the limit were accepted in the 60 seconds before it."""
    cid = new_conversation(stack, members=[BOB])
    start = now_minute() + 37.25
    clock = clocked(monkeypatch, {"SEND_RATE_PER_MINUTE": "4"}, start)
    accepted: list[float] = []
    offsets = [0, 1, 2, 3, 4, 30, 59.9, 60, 60.5, 61, 62, 63, 64, 95, 119.9, 120, 121, 150, 179]
    for i, off in enumerate(offsets):
        clock.t = start + off
        result = send(stack, cid, f"s{i}", f"cmid-slide-{i:04d}")
        expected = sum(1 for a in accepted if a > clock.t - 60) < 4
        assert (error_type(result) is None) is expected, (off, accepted)
        if expected:
            accepted.append(clock.t)
    assert len(accepted) > 8  # the window moved on, more than twice


# ---------------------------------------------------------------- 8: writes bounded by joinedSeq
@pytest.fixture
def late(stack: Stack) -> dict[str, str]:
    """alice (owner) and bob; carol sends, leaves, and is added back as an admin after
    alice's two messages: m1 (seq 3) and m2 (seq 4, carol's joinedSeq)."""
    cid = new_conversation(stack, members=[BOB, CAROL], title="team")
    c1 = send(stack, cid, "carol was here", "cmid-late-0001", who="carol")["id"]
    assert leave(stack, cid, "carol")["action"] == "LEFT"  # seq 2
    m1 = send(stack, cid, "before carol: secret one", "cmid-late-0002")["id"]
    m2 = send(stack, cid, "before carol: secret two", "cmid-late-0003")["id"]
    add(stack, cid, [CAROL])  # seq 5: carol's joinedSeq is 4
    set_role(stack, cid, CAROL, "ADMIN")  # seq 6
    return {"cid": cid, "c1": c1, "m1": m1, "m2": m2}


def _hidden(result: dict) -> None:
    assert error_type(result) == "NotFound", result
    assert "secret" not in str(result) and "carol was here" not in str(result)


@pytest.mark.parametrize("target", ["m1", "m2", "c1"])
def test_a_later_joined_admin_cannot_act_on_history_before_joining(
        stack: Stack, late: dict[str, str], target: str) -> None:
    cid, mid = late["cid"], late[target]
    before = sorted(map(str, stack.raw_items()))
    _hidden(stack.invoke(messages, "Mutation.deleteMessage.ok", "carol", ids(cid, mid)))
    _hidden(stack.invoke(messages, "Mutation.reportMessage.ok", "carol",
                         {**ids(cid, mid), "reason": "spam"}))
    _hidden(stack.invoke(messages, "Mutation.addReaction.ok", "carol", {**ids(cid, mid), "emoji": "👍"}))
    _hidden(stack.invoke(messages, "Mutation.removeReaction.ok", "carol",
                         {**ids(cid, mid), "emoji": "👍"}))
    _hidden(stack.invoke(messages, "Mutation.sendMessage.reply", "carol", {"input": {
        "conversationId": cid, "parentId": mid, "body": "re", "clientMessageId": "cmid-late-r001"}}))
    _hidden(stack.invoke(messages, "Query.editHistory.ok", "carol", ids(cid, mid)))
    if target == "c1":  # her own message, from an earlier membership
        _hidden(stack.invoke(messages, "Mutation.editMessage.ok", "carol", {"input": {
            **ids(cid, mid), "body": "rewritten", "expectedVersion": 1}}))
    assert sorted(map(str, stack.raw_items())) == before
    # the members who saw them still can
    assert stack.invoke(messages, "Mutation.addReaction.ok", "bob",
                        {**ids(cid, mid), "emoji": "👍"})["reactions"]
    assert stack.invoke(messages, "Mutation.reportMessage.ok", "bob",
                        {**ids(cid, mid), "reason": "spam"})["reporterId"] == BOB


@pytest.mark.parametrize("cold", [False, True])
def test_a_reaction_at_exactly_joined_seq_is_not_found(
        stack: Stack, late: dict[str, str], cold: bool) -> None:
    """m2 has seq == carol's joinedSeq, the last message she does not see. Warm (this
    container remembers m2) the member condition decides; cold, the read before it."""
    cid, m2 = late["cid"], late["m2"]
    if cold:
        api.reset()
        since(stack, cid, 4, "carol")  # warm (key, profile), without reading m2
    counter = stack.counter()
    _hidden(stack.invoke(messages, "Mutation.addReaction.ok", "carol", {**ids(cid, m2), "emoji": "🎉"}))
    # cold: the read answers, no write is tried; warm: the member condition refuses it
    assert counter.ops == ["dynamodb.BatchGetItem" if cold else "dynamodb.TransactWriteItems"]
    assert [m["seq"] for m in since(stack, cid, 0, "carol")["items"]] == [5, 6]
    first_seen = since(stack, cid, 0, "carol")["items"][0]["id"]
    assert stack.invoke(messages, "Mutation.addReaction.ok", "carol",
                        {**ids(cid, first_seen), "emoji": "🎉"})["reactions"]


# ---------------------------------------------------------------- 14: own SYSTEM messages
def test_the_actors_own_system_messages_are_not_unread_for_them(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB], title="t")
    for title in ("one", "two", "three"):
        rename(stack, cid, title)
    assert view(stack, cid, "alice")["unreadCount"] == 0
    assert view(stack, cid, "bob")["unreadCount"] == 3
    add(stack, cid, [CAROL])
    set_role(stack, cid, BOB, "OWNER")
    set_role(stack, cid, ALICE, "ADMIN")  # re-roling themselves
    assert view(stack, cid, "alice")["unreadCount"] == 0
    set_role(stack, cid, CAROL, "ADMIN", who="bob")
    assert view(stack, cid, "alice")["unreadCount"] == 1  # bob's change is unread for alice
    assert view(stack, cid, "bob")["unreadCount"] == 0


# ---------------------------------------------------------------- the missing tests
@pytest.fixture
def joined_late(stack: Stack) -> tuple[str, str]:
    """alice and bob; five messages (a root with replies 2 and 3), carol added at seq 6
    (joinedSeq 5), then seq 7 (a reply) and 8."""
    cid = new_conversation(stack, members=[BOB], title="g")
    root = send(stack, cid, "root", "cmid-jl-0001")["id"]
    for i, who in ((2, "bob"), (3, "alice")):
        stack.invoke(messages, "Mutation.sendMessage.reply", who, {"input": {
            "conversationId": cid, "parentId": root, "body": f"old reply {i}",
            "clientMessageId": f"cmid-jl-{i:04d}"}})
    send(stack, cid, "four", "cmid-jl-0004")
    send(stack, cid, "five", "cmid-jl-0005")
    add(stack, cid, [CAROL])
    stack.invoke(messages, "Mutation.sendMessage.reply", "bob", {"input": {
        "conversationId": cid, "parentId": root, "body": "new reply", "clientMessageId": "cmid-jl-0007"}})
    send(stack, cid, "eight", "cmid-jl-0008")
    return cid, root


def test_a_late_joiner_pages_no_older_messages(stack: Stack, joined_late: tuple[str, str]) -> None:
    cid, _ = joined_late
    first = page(stack, cid, "carol", limit=2)
    assert [m["seq"] for m in first["items"]] == [8, 7] and first["nextToken"]
    second = page(stack, cid, "carol", limit=2, token=first["nextToken"])
    assert [m["seq"] for m in second["items"]] == [6] and second["nextToken"] is None
    whole = page(stack, cid, "carol", limit=50)
    assert [m["seq"] for m in whole["items"]] == [8, 7, 6] and whole["nextToken"] is None
    assert [m["seq"] for m in page(stack, cid, "bob", limit=50)["items"]] == list(range(8, 0, -1))


def test_a_late_joiner_sees_no_older_replies(stack: Stack, joined_late: tuple[str, str]) -> None:
    cid, root = joined_late
    thread = lambda who, limit=50, token=None: stack.invoke(
        messages, "Query.thread.ok", who,
        {"conversationId": cid, "rootId": root, "limit": limit, "nextToken": token})
    assert [m["body"] for m in thread("carol")["items"]] == ["new reply"]
    one = thread("carol", 1)
    assert [m["seq"] for m in one["items"]] == [7] and one["nextToken"] is None
    assert [m["seq"] for m in thread("bob")["items"]] == [2, 3, 7]


def test_a_later_joined_admin_reads_no_older_edit_history(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB], title="g")
    m = send(stack, cid, "first draft", "cmid-eh-0001")
    stack.invoke(messages, "Mutation.editMessage.ok", "alice", {"input": {
        **ids(cid, m["id"]), "body": "second draft", "expectedVersion": 1}})
    add(stack, cid, [CAROL])
    set_role(stack, cid, CAROL, "ADMIN")
    hist = stack.invoke(messages, "Query.editHistory.ok", "alice", ids(cid, m["id"]))
    assert [v["body"] for v in hist] == ["first draft", "second draft"]
    result = stack.invoke(messages, "Query.editHistory.ok", "carol", ids(cid, m["id"]))
    assert error_type(result) == "NotFound" and "draft" not in str(result)


def test_the_last_owner_cannot_remove_themselves(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL], title="g")
    set_role(stack, cid, BOB, "ADMIN")
    result = remove(stack, cid, ALICE)
    assert error_type(result) == "BadRequest", result
    members = member_roles(stack, cid, "bob")
    assert members == {ALICE: "OWNER", BOB: "ADMIN", CAROL: "MEMBER"}
    assert [m["kind"] for m in since(stack, cid, 0, "bob")["items"]] == ["SYSTEM"]  # bob's role only
    set_role(stack, cid, BOB, "OWNER")
    assert remove(stack, cid, ALICE)["action"] == "LEFT"  # no longer the last owner


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Captured:
    from resolvers import stream

    cap = Captured()
    monkeypatch.setattr(stream, "_publisher", lambda: cap)
    return cap


def test_a_stale_stream_batch_never_gives_a_negative_unread_count(
        stack: Stack, captured: Captured) -> None:
    """The consumer handles a batch after the member read further ahead: unread is 0."""
    cid = new_conversation(stack, members=[BOB])
    s = Stream()
    for i in range(3):
        send(stack, cid, f"m{i}", f"cmid-clamp-{i:04d}")
    stack.invoke(receipts, "Mutation.markRead.ok", "bob", {"conversationId": cid, "seq": 3})
    records = s.read()
    first = [r for r in records if r["dynamodb"].get("NewImage", {}).get("seq", {}).get("N") == "1"
             and r["dynamodb"]["NewImage"].get("type", {}).get("S") == "MSG"]
    assert len(first) == 1
    assert consume(first) == {"batchItemFailures": []}
    bob = [e for e in captured.events if e["userId"] == BOB and e["type"] == "MESSAGE"]
    assert [(e["seq"], e["unreadCount"]) for e in bob] == [(1, 0)]


def test_the_rate_log_update_fits_dynamodbs_expression_limits() -> None:
    """DynamoDB refuses an expression string over 4 KB, or with more than 300 operators or
    functions: the log's update at its largest (any limit above RATE_LOG_SLOTS) fits."""
    from cloudchat.store import RATE_LOG_SLOTS, Rate, Store

    rate = Rate("SEND", 10**6, 1_800_000_000_000)
    assert rate.slots == RATE_LOG_SLOTS and rate.window_ms == 60_000 * RATE_LOG_SLOTS // 10**6
    op = Store("t", lambda: None)._rate_op("u" * 36, rate)["Update"]
    for expression in (op["UpdateExpression"], op["ConditionExpression"]):
        assert len(expression.encode()) <= 4096
    assert op["UpdateExpression"].count("if_not_exists(") + 3 <= 300
