"""The stream consumer (resolvers/stream.py) fed with the table's real stream records
(moto): ordering for every member, per-user events, idempotence under repeats."""

import json
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from graphql import FieldNode, OperationDefinitionNode, parse

from cloudchat import api
from cloudchat.publisher import AppSyncPublisher
from resolvers import conversations, stream
from tests.integration.conftest import (
    STREAMS_SURVIVE_CANCELLED_TRANSACTIONS,
    TABLE,
    USERS,
    LambdaContext,
    Stack,
    jsonable,
)
from tests.integration.test_messages import new_conversation, send
from tests.unit.appsync_server import AppSyncServer, published, running

STREAMED = pytest.mark.moto_fidelity(STREAMS_SURVIVE_CANCELLED_TRANSACTIONS)

BOB, CAROL = USERS["bob"], USERS["carol"]


class Captured:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.requests: list[int] = []  # events per publish call

    def publish_user_events(self, events: list[dict[str, Any]]) -> None:
        self.events.extend(events)
        self.requests.append(len(events))


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Captured:
    cap = Captured()
    monkeypatch.setattr(stream, "_publisher", lambda: cap)
    return cap


class Stream:
    """Reads the table's stream from where the last read stopped."""

    def __init__(self) -> None:
        self.client = boto3.client("dynamodbstreams")
        arn = boto3.client("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        shard = self.client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        self.arn = arn
        self.iterator = self.client.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def read(self) -> list[dict[str, Any]]:
        out = []
        while True:
            resp = self.client.get_records(ShardIterator=self.iterator, Limit=1000)
            self.iterator = resp["NextShardIterator"]
            if not resp["Records"]:
                return out
            for r in resp["Records"]:
                # Lambda's event is JSON: binary attributes arrive base64-encoded, dates as numbers
                ddb = json.loads(json.dumps(r["dynamodb"], default=jsonable))
                out.append({**r, "dynamodb": ddb, "eventSourceARN": self.arn})


def consume(records: list[dict[str, Any]]) -> dict[str, Any]:
    return stream.lambda_handler({"Records": records}, LambdaContext())


def listing(stack: Stack, who: str) -> list[str]:
    return [c["id"] for c in stack.invoke(conversations, "Query.conversations.first-page", who,
                                          {"limit": 50})["items"]]


@STREAMED
def test_every_member_sees_conversations_in_activity_order(stack: Stack, captured: Captured) -> None:
    s = Stream()
    convs = [new_conversation(stack, members=[BOB, CAROL], title=f"g{i}") for i in range(4)]
    # a burst in several conversations, by different senders; the last one is the oldest conversation
    for i, (cid, who) in enumerate([(convs[2], "alice"), (convs[1], "carol"), (convs[3], "alice"),
                                     (convs[0], "carol")]):
        send(stack, cid, f"burst {i}", f"cmid-fan-{i:04d}", who=who)
    records = s.read()
    assert consume(records) == {"batchItemFailures": []}
    expected = [convs[0], convs[3], convs[1], convs[2]]
    for who in ("alice", "bob", "carol"):
        assert listing(stack, who) == expected, who
    bob = [e for e in captured.events if e["userId"] == BOB and e["type"] == "MESSAGE"]
    assert {(e["conversationId"], e["seq"], e["unreadCount"]) for e in bob} == {
        (c, 1, 1) for c in convs}
    assert all(e["preview"].startswith("burst") for e in bob)
    senders = [e for e in captured.events if e["type"] == "MESSAGE" and e["userId"] == e["senderId"]]
    assert all(e["unreadCount"] == 0 for e in senders)


@STREAMED
def test_repeated_and_out_of_order_records_are_harmless(stack: Stack, captured: Captured) -> None:
    s = Stream()
    a = new_conversation(stack, members=[BOB], title="a")
    b = new_conversation(stack, members=[BOB], title="b")
    send(stack, a, "first", "cmid-ooo-0001")
    send(stack, b, "second", "cmid-ooo-0002")
    send(stack, a, "third", "cmid-ooo-0003")
    records = s.read()
    consume(records)
    final = listing(stack, "bob")
    shuffled = records * 3
    random.Random(7).shuffle(shuffled)
    assert consume(shuffled) == {"batchItemFailures": []}
    assert listing(stack, "bob") == final == [a, b]


def test_records_of_cancelled_writes_publish_nothing(stack: Stack, captured: Captured) -> None:
    cid = new_conversation(stack, members=[BOB])
    send(stack, cid, "one", "cmid-can-0001")
    s = Stream()
    s.read()
    # a retry of the same send: its transaction is cancelled (the clientMessageId guard) and
    # the original is answered; moto still emits records for the cancelled transaction. The
    # same key with another body: cancelled too, and a Conflict.
    assert send(stack, cid, "one", "cmid-can-0001")["seq"] == 1
    assert send(stack, cid, "one, again", "cmid-can-0001")["error"]["type"] == "Conflict"
    consume(s.read())
    assert [e for e in captured.events if e["type"] == "MESSAGE"] == []


@STREAMED
def test_membership_events(stack: Stack, captured: Captured) -> None:
    s = Stream()
    cid = new_conversation(stack, members=[BOB], title="team")
    stack.invoke(conversations, "Mutation.addMembers.ok", "alice",
                 {"conversationId": cid, "userIds": [CAROL]}, replace_args=True)
    consume(s.read())
    kinds = {(e["userId"], e["type"]) for e in captured.events}
    assert {(BOB, "ADDED_TO_CONVERSATION"), (CAROL, "ADDED_TO_CONVERSATION")} <= kinds
    captured.events.clear()
    stack.invoke(conversations, "Mutation.removeMember.ok", "alice",
                 {"conversationId": cid, "userId": BOB}, replace_args=True)
    records = s.read()
    consume(records + records)  # repeated
    removed = [e for e in captured.events if e["type"] == "REMOVED_FROM_CONVERSATION"]
    assert {e["userId"] for e in removed} == {BOB}
    # bob no longer gets message events for it
    captured.events.clear()
    send(stack, cid, "after", "cmid-mem-evt-1")
    consume(s.read())
    assert BOB not in {e["userId"] for e in captured.events}


def test_a_failing_record_is_reported_for_retry(stack: Stack, captured: Captured,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    s = Stream()
    cid = new_conversation(stack, members=[BOB])
    send(stack, cid, "x", "cmid-fail-0001")
    records = s.read()

    def broken(events: list[dict[str, Any]]) -> None:
        raise RuntimeError("AppSync unavailable")

    monkeypatch.setattr(captured, "publish_user_events", broken)
    result = consume(records)
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    msg_records = {r["dynamodb"]["SequenceNumber"] for r in records
                   if r["eventName"] == "INSERT"
                   and r["dynamodb"]["NewImage"].get("type", {}).get("S") == "MSG"}
    assert msg_records <= failed


@pytest.fixture
def inboxes(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An SNS topic with one SQS queue per user, subscribed with a filter on `recipient`."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="cloudchat-test-notifications")["TopicArn"]
    queues = {}
    for who in ("alice", "bob", "carol"):
        url = sqs.create_queue(QueueName=f"inbox-{who}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"recipient": [USERS[who]]})})
        queues[who] = url
    monkeypatch.setenv("NOTIFICATIONS_TOPIC_ARN", topic)
    api.reset()
    return queues


def received(url: str) -> list[str]:
    sqs = boto3.client("sqs")
    out = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


@STREAMED
def test_offline_members_are_notified_once_muted_and_online_ones_not(
        stack: Stack, captured: Captured, inboxes: dict[str, str]) -> None:
    from resolvers import users

    s = Stream()
    cid = new_conversation(stack, members=[BOB, CAROL], title="launch")
    stack.invoke(users, "Mutation.heartbeat.ok", "carol")  # carol is online
    send(stack, cid, "first secret plan", "cmid-ntf-0001")
    send(stack, cid, "second", "cmid-ntf-0002")  # inside the coalescing window
    records = s.read()
    consume(records)
    consume(records)  # repeated records do not notify again
    bob = received(inboxes["bob"])
    assert bob == ["Alice: first secret plan"]
    assert received(inboxes["carol"]) == []  # online
    assert received(inboxes["alice"]) == []  # the sender
    # muted: nothing at all
    stack.invoke(conversations, "Mutation.muteConversation.ok", "bob",
                 {"conversationId": cid, "until": "2999-01-01T00:00:00Z"}, replace_args=True)
    other = new_conversation(stack, members=[BOB], title="other")
    send(stack, other, "hello other", "cmid-ntf-0003")
    send(stack, cid, "while muted", "cmid-ntf-0004")
    consume(s.read())
    assert received(inboxes["bob"]) == ["Alice: hello other"]


def test_mute_rules(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB])
    mute = lambda who, until: stack.invoke(conversations, "Mutation.muteConversation.ok", who,
                                           {"conversationId": cid, "until": until}, replace_args=True)
    assert mute("bob", "2030-01-01T00:00:00+02:00") == {"conversationId": cid,
                                                        "mutedUntil": "2029-12-31T22:00:00.000Z"}
    # the caller's own mute shows on the conversation, in the list and on its own
    view = lambda who: stack.invoke(conversations, "Query.conversation.ok", who, {"id": cid},
                                    replace_args=True)
    assert view("bob")["mutedUntil"] == "2029-12-31T22:00:00.000Z"
    assert view("alice")["mutedUntil"] is None
    listed = stack.invoke(conversations, "Query.conversations.first-page", "bob", {"limit": 50})["items"]
    assert [c["mutedUntil"] for c in listed if c["id"] == cid] == ["2029-12-31T22:00:00.000Z"]
    assert mute("bob", None)["mutedUntil"] is None
    assert view("bob")["mutedUntil"] is None
    from tests.integration.conftest import error_type

    assert error_type(mute("bob", "tomorrow")) == "BadRequest"
    assert error_type(mute("bob", "2030-01-01T00:00:00")) == "BadRequest"  # no zone
    assert error_type(mute("mallory", None)) == "Forbidden"


@STREAMED
def test_rename_and_presence_reach_the_user_channels(stack: Stack, captured: Captured) -> None:
    from resolvers import users

    s = Stream()
    cid = new_conversation(stack, members=[BOB], title="old")
    stack.invoke(conversations, "Mutation.renameConversation.ok", "alice",
                 {"conversationId": cid, "title": "new"}, replace_args=True)
    stack.invoke(users, "Mutation.heartbeat.ok", "carol")  # carol shares nothing with bob
    stack.invoke(users, "Mutation.heartbeat.ok", "bob")
    stack.invoke(users, "Mutation.heartbeat.ok", "bob")  # still online: no second event
    consume(s.read())
    renamed = {e["userId"] for e in captured.events if e["type"] == "CONVERSATION_RENAMED"}
    assert renamed == {USERS["alice"], BOB}
    presence = [(e["userId"], e["senderId"]) for e in captured.events if e["type"] == "PRESENCE"]
    assert presence == [(USERS["alice"], BOB)]


@STREAMED
def test_a_batch_of_messages_costs_a_few_requests_not_a_few_per_message(
        stack: Stack, captured: Captured, inboxes: dict[str, str]) -> None:
    """Twenty messages of one three-member conversation in one stream batch: the consumer
    confirms them in one BatchGetItem, reads the members once, moves each member's list
    position once and runs one notification pass (presence, title, name, one claim and one
    device lookup per offline member), instead of all of that per message. Every message's
    members get one inbox event each, of the latest message, and bob is notified once."""
    s = Stream()
    cid = new_conversation(stack, members=[BOB, CAROL], title="burst")
    s.read()  # (the conversation's own records)
    for i in range(20):
        send(stack, cid, f"burst {i}", f"cmid-burst-{i:04d}")
    records = s.read()
    counter = stack.counter()
    assert consume(records) == {"batchItemFailures": []}
    ddb = [op for op in counter.ops if op.startswith("dynamodb.")]
    members = 3
    # BatchGetItem + members Query + one bump per member but the sender (the send moved
    # hers) + the recipients' blocks of the sender (one BatchGetItem) + presence BatchGetItem
    # + conversation + sender profile + (claim + devices) per offline recipient (bob and
    # carol). Message by message it was 202 requests.
    assert len(ddb) == 1 + 1 + (members - 1) + 1 + 3 + 2 * 2, counter.ops
    messages = [e for e in captured.events if e["type"] == "MESSAGE"]
    # one inbox event per member for the run, of the latest message: one publish call of 3
    # events (3 AppSync requests, one per member, concurrent), not 20 calls
    assert sorted((e["userId"], e["seq"], e["unreadCount"]) for e in messages) == sorted(
        [(USERS["alice"], 20, 0), (BOB, 20, 20), (CAROL, 20, 20)])
    assert messages[0]["preview"] == "burst 19"
    assert captured.requests == [members]
    assert received(inboxes["bob"]) == ["Alice: burst 0"]
    assert received(inboxes["carol"]) == ["Alice: burst 0"]


# ------------------------------------------------------------ the real publisher, on loopback
@pytest.fixture
def appsync(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppSyncServer]:
    """The stream consumer with the real AppSyncPublisher, against a loopback AppSync."""
    with running() as srv:
        publisher = AppSyncPublisher(srv.url, "us-east-1")
        monkeypatch.setattr(stream, "_publisher", lambda: publisher)
        yield srv


@pytest.fixture
def one_worker(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole batch in one ``Fanout.handle_batch`` call (``FANOUT_WORKERS=1``): the
    conversations' runs interleaved as in the stream."""
    from cloudchat.config import get_settings

    monkeypatch.setenv("FANOUT_WORKERS", "1")
    get_settings.cache_clear()


def _interleaved_burst(stack: Stack) -> tuple[str, str, list[dict[str, Any]]]:
    """Two conversations' messages interleaved in one stream batch: runs a1 | b1 | a2 | b2."""
    s = Stream()
    a = new_conversation(stack, members=[BOB, CAROL], title="a")
    b = new_conversation(stack, members=[BOB], title="b")
    s.read()  # (the conversations' own records)
    for i, (cid, who) in enumerate([(a, "alice"), (b, "bob"), (a, "carol"), (b, "alice")]):
        send(stack, cid, f"m{i}", f"cmid-pub-{i:04d}", who=who)
    return a, b, s.read()


@STREAMED
def test_the_consumer_publishes_one_unaliased_field_per_request_each_user_in_order(
        stack: Stack, appsync: AppSyncServer, one_worker: None) -> None:
    """What AppSync receives from the stream consumer: one request per user event, each a
    mutation whose only root field is ``publishUserEvent`` without an alias (aliased
    mutation fields trigger no subscription), sent concurrently across users and, for each
    user, in the order of the stream."""
    appsync.delay = 0.005
    a, b, records = _interleaved_burst(stack)
    assert consume(records) == {"batchItemFailures": []}
    events = published(appsync)
    assert len(appsync.requests) == len(events) == 3 + 2 + 3 + 2  # members per run
    for request in appsync.requests:
        (operation,) = parse(request["body"]["query"]).definitions
        assert isinstance(operation, OperationDefinitionNode)
        (field,) = operation.selection_set.selections
        assert isinstance(field, FieldNode)
        assert (field.name.value, field.alias) == ("publishUserEvent", None)
    order = [(a, 1), (b, 1), (a, 2), (b, 2)]
    for who, expected in ((USERS["alice"], order), (BOB, order), (CAROL, [(a, 1), (a, 2)])):
        got = [(e["conversationId"], e["seq"]) for e in events if e["userId"] == who]
        assert got == expected, (who, got)
    assert appsync.max_in_flight > 1  # users in parallel


@STREAMED
def test_a_failed_publish_is_reported_and_redone_without_reordering(
        stack: Stack, appsync: AppSyncServer, monkeypatch: pytest.MonkeyPatch,
        one_worker: None) -> None:
    """AppSync refuses carol's events: the batch reports the failed records for Lambda to
    redeliver, and nothing of carol's after the refused event was sent before it."""
    from cloudchat import fanout

    monkeypatch.setattr(fanout, "PUBLISH_BATCH", 5)  # calls: [a1 b1] [a2 b2]
    a, b, records = _interleaved_burst(stack)
    appsync.fail_user = CAROL
    result = consume(records)
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    assert failed, result
    carol = [(e["conversationId"], e["seq"]) for e in published(appsync) if e["userId"] == CAROL]
    assert carol == [(a, 1)]  # refused, and her (a, 2) never overtook it
    lowest = min(i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] in failed)
    appsync.fail_user = None
    appsync.requests.clear()
    assert consume(records[lowest:]) == {"batchItemFailures": []}
    order = [(a, 1), (b, 1), (a, 2), (b, 2)]
    for who, expected in ((USERS["alice"], order), (BOB, order), (CAROL, [(a, 1), (a, 2)])):
        got = [(e["conversationId"], e["seq"]) for e in published(appsync) if e["userId"] == who]
        assert got == expected, (who, got)


# ------------------------------------------------------------ partitions of a batch at once
@STREAMED
def test_a_batchs_conversations_are_fanned_out_apart_each_as_one_run(
        stack: Stack, appsync: AppSyncServer) -> None:
    """With FANOUT_WORKERS > 1 (the default) the batch is split by partition: each
    conversation's messages are one run even when the stream interleaves them, so each
    member gets one event per conversation, of its latest message (5 requests, not 10)."""
    a, b, records = _interleaved_burst(stack)
    assert consume(records) == {"batchItemFailures": []}
    events = published(appsync)
    got = sorted((e["userId"], e["conversationId"], e["seq"]) for e in events)
    assert got == sorted([(USERS["alice"], a, 2), (BOB, a, 2), (CAROL, a, 2),
                          (USERS["alice"], b, 2), (BOB, b, 2)])
    assert len(appsync.requests) == 5
    for who in ("alice", "bob"):  # the listing as the stream ordered it: b's last message last
        assert listing(stack, who)[:2] == [b, a]


@STREAMED
def test_a_failed_partition_is_redelivered_from_its_first_record_and_nothing_is_lost(
        stack: Stack, appsync: AppSyncServer) -> None:
    """AppSync refuses carol's events (she is only in a): b's partition completes, a's fails,
    and the batch reports every record from a's first one on; redelivered from there, every
    member ends with an event of each conversation's last message (b's may come twice:
    at-least-once)."""
    a, b, records = _interleaved_burst(stack)
    appsync.fail_user = CAROL
    result = consume(records)
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    first_of_a = min(i for i, r in enumerate(records)
                     if r["dynamodb"]["Keys"]["PK"]["S"].endswith(a)
                     and r["dynamodb"]["Keys"]["SK"]["S"].startswith("MSG"))
    assert failed == {r["dynamodb"]["SequenceNumber"] for r in records[first_of_a:]}
    b_events = {(e["userId"], e["seq"]) for e in published(appsync) if e["conversationId"] == b}
    assert b_events == {(USERS["alice"], 2), (BOB, 2)}  # b was not held up by a
    appsync.fail_user = None
    assert consume(records[first_of_a:]) == {"batchItemFailures": []}
    last = {(e["userId"], e["conversationId"]) for e in published(appsync) if e["seq"] == 2}
    assert last == {(USERS["alice"], a), (BOB, a), (CAROL, a), (USERS["alice"], b), (BOB, b)}
