"""Injected faults, through the real handlers under moto (in-process), and one against the
local stack over real sockets.

Faults are injected at the HTTP layer of the app's own boto3 clients (botocore's
``before-send`` event, inside botocore's retry loop), so the SDK retries them exactly as it
would real ones; retry back-off is zeroed to keep the tests fast.

* DynamoDB throttling during a send: retried by the SDK, or a clear RateLimited; never a
  partial write or a duplicate (also when a committed write's response is lost).
* TransactionConflict cancellations: sends retried (seq stays gap-free), receipts never
  claim a marker that was not written.
* KMS unavailable on a cold container: a masked InternalFailure, nothing written.
* S3 unavailable during a send with attachments: a clear error, nothing written; a
  retried send returns the original message and its objects are kept.
* The stream consumer failing mid-batch: only that record and the ones after it are
  reported, and the re-delivery publishes each user event once, bumps activity once.
* A WebSocket client vanishing without ``stop`` (TCP closed abruptly): the emulator drops
  its subscriptions (GET /_emulator/subscriptions) and keeps serving the others.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import socket
import struct
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from botocore.retries.standard import ExponentialBackoff

from cloudchat import api, aws
from resolvers import conversations, messages, receipts, stream
from tests.integration.conftest import (
    BUCKET,
    ISOLATED_TRANSACTIONS,
    STREAMS_SURVIVE_CANCELLED_TRANSACTIONS,
    TABLE,
    USERS,
    LambdaContext,
    Stack,
    error_type,
)
from tests.integration.test_fanout import Stream
from tests.integration.test_media import grant, send_with, upload
from tests.integration.test_messages import new_conversation, send, since

BOB, CAROL = USERS["bob"], USERS["carol"]


# ------------------------------------------------------------------------------- injection
class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


def json_error(status: int, code: str, message: str, **extra: Any) -> Callable[[Any], AWSResponse]:
    """An AWS JSON-protocol error response (DynamoDB, KMS)."""
    def respond(request: Any) -> AWSResponse:
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message,
                           **extra}).encode()
        return AWSResponse(request.url, status, {"x-amzn-RequestId": "fault-injected",
                                                 "Content-Type": "application/x-amz-json-1.0"}, _Raw(body))
    return respond


def conflict(request: Any) -> AWSResponse:
    """TransactWriteItems cancelled for a TransactionConflict on one of its items."""
    n = len(json.loads(request.body)["TransactItems"])
    reasons = [{"Code": "None"}] * n
    reasons[min(1, n - 1)] = {"Code": "TransactionConflict",
                              "Message": "Transaction is ongoing for the item"}
    codes = ", ".join(r["Code"] for r in reasons)
    return json_error(400, "TransactionCanceledException",
                      f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                      CancellationReasons=reasons)(request)


def unreachable(request: Any) -> AWSResponse:
    raise EndpointConnectionError(endpoint_url=request.url)


class Faults:
    """Fails chosen operations of the app's AWS clients, ``times`` times (None: until
    cleared), and counts every attempt the SDK makes. The clients retry 3 times
    (cloudchat.aws): a persistent fault is seen on 4 attempts."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._rules: list[tuple[str, str, Callable[[Any], AWSResponse], int | None]] = []
        self._hooked: set[int] = set()
        self._lock = threading.Lock()  # concurrent sends share the rules

    def fail(self, service: str, operation: str, fault: Callable[[Any], AWSResponse],
             times: int | None = None) -> None:
        self._hook(service)
        self._rules.append((service, operation, fault, times))

    def clear(self) -> None:
        self._rules.clear()

    def count(self, *services: str) -> None:
        for service in services:
            self._hook(service)

    def _hook(self, service: str) -> None:
        client = aws.client(service)  # the app's own client (api.reset() makes new ones)
        if id(client) in self._hooked:
            return
        self._hooked.add(id(client))
        client.meta.events.register_first(f"before-send.{service}", self._before_send)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        with self._lock:
            return self._apply(request, event_name)

    def _apply(self, request: Any, event_name: str) -> AWSResponse | None:
        _, service, operation = event_name.split(".")
        self.attempts[f"{service}.{operation}"] += 1
        for i, (svc, op, fault, times) in enumerate(self._rules):
            if svc == service and op in (operation, "*"):
                if times is not None:
                    if times <= 0:
                        continue
                    self._rules[i] = (svc, op, fault, times - 1)
                self.injected[f"{service}.{operation}"] += 1
                response = fault(request)
                # botocore emits before-send to every handler, and moto's (registered after
                # this one) would still execute the request: send it nowhere instead.
                request.url = "https://fault-injected.invalid/"
                return response
        return None


@pytest.fixture
def faults(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Faults:
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    return Faults()


def table_state() -> list[tuple[str, str, str]]:
    """Every item of the table (test inspection only: a Scan)."""
    ddb = boto3.client("dynamodb")
    items, kwargs = [], {"TableName": TABLE}
    while True:
        resp = ddb.scan(**kwargs)
        items += resp["Items"]
        if "LastEvaluatedKey" not in resp:
            break
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    return sorted((i["PK"]["S"], i["SK"]["S"], json.dumps(i, sort_keys=True, default=str)) for i in items)


def stored_seqs(stack: Stack, cid: str) -> list[int]:
    return [m["seq"] for m in since(stack, cid, 0, "bob", limit=100)["items"]]


def guards(cid: str) -> list[str]:
    return [sk for pk, sk, _ in table_state() if pk == f"CONV#{cid}" and sk.startswith("CMID#")]


def masked(result: Any) -> None:
    """An unexpected failure reaches the client masked: InternalFailure with a request id."""
    assert error_type(result) == "InternalFailure", result
    text = result["error"]["message"]
    assert text.startswith("Internal failure (request ") and len(text) < 80, text


# ------------------------------------------------------------------------------- DynamoDB throttling
THROTTLES = ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]


@pytest.mark.parametrize("code", THROTTLES)
def test_a_throttled_send_is_retried_by_the_sdk_and_stored_once(stack: Stack, faults: Faults,
                                                                code: str) -> None:
    cid = new_conversation(stack)
    send(stack, cid, "one", "cmid-thr-0001")
    faults.fail("dynamodb", "TransactWriteItems", json_error(400, code, "Rate of requests exceeds"), times=2)
    msg = send(stack, cid, "two", "cmid-thr-0002")
    assert error_type(msg) is None and msg["seq"] == 2, msg
    assert faults.attempts["dynamodb.TransactWriteItems"] == 3  # two throttled, one through
    assert stored_seqs(stack, cid) == [1, 2] and len(guards(cid)) == 2


@pytest.mark.parametrize("operation", ["TransactWriteItems", "GetItem"])
def test_a_persistently_throttled_send_is_rate_limited_and_writes_nothing(
        stack: Stack, faults: Faults, operation: str) -> None:
    cid = new_conversation(stack)
    send(stack, cid, "one", "cmid-thr-0101")
    if operation == "GetItem":
        api.reset()  # a cold container reads the conversation first
    before = table_state()
    faults.fail("dynamodb", operation, json_error(400, "ProvisionedThroughputExceededException",
                                                  "The level of configured provisioned throughput "
                                                  "for the table was exceeded"))
    result = send(stack, cid, "two", "cmid-thr-0102")
    assert error_type(result) == "RateLimited", result
    assert "retry" in result["error"]["message"]
    assert faults.attempts[f"dynamodb.{operation}"] == 4  # the SDK's attempts, then the error
    faults.clear()
    assert table_state() == before  # nothing written, the rate window not counted
    again = send(stack, cid, "two", "cmid-thr-0102")  # the client retries later
    assert again["seq"] == 2 and stored_seqs(stack, cid) == [1, 2] and len(guards(cid)) == 2


def test_a_throttled_page_read_is_rate_limited(stack: Stack, faults: Faults) -> None:
    cid = new_conversation(stack)
    send(stack, cid, "one", "cmid-thr-0201")
    faults.fail("dynamodb", "BatchGetItem", json_error(400, "ThrottlingException", "Throughput exceeds"))
    assert error_type(since(stack, cid, 0)) == "RateLimited"


def test_a_committed_send_whose_response_was_lost_is_not_stored_twice(stack: Stack, faults: Faults) -> None:
    """The write commits, its response is lost, the SDK sends it again: the second attempt
    is cancelled by the clientMessageId guard and the original comes back."""
    cid = new_conversation(stack)
    send(stack, cid, "one", "cmid-lost-0001")
    faults.count("dynamodb")
    retried: list[int] = []

    def lose_first_response(attempts: int, **_: Any) -> int | None:
        if attempts == 1 and not retried:
            retried.append(attempts)
            return 0  # "retry now", as after a timeout or a 500 on the way back
        return None

    aws.client("dynamodb").meta.events.register_first("needs-retry.dynamodb.TransactWriteItems",
                                                       lose_first_response)
    msg = send(stack, cid, "two", "cmid-lost-0002")
    assert retried and faults.attempts["dynamodb.TransactWriteItems"] == 2
    assert error_type(msg) is None and msg["seq"] == 2 and msg["body"] == "two", msg
    (stored,) = [m for m in since(stack, cid, 0)["items"] if m["seq"] == 2]
    assert stored["id"] == msg["id"]
    assert stored_seqs(stack, cid) == [1, 2] and len(guards(cid)) == 2


# ------------------------------------------------------------------------------- TransactionConflict
@pytest.mark.moto_fidelity(ISOLATED_TRANSACTIONS)
def test_transaction_conflicts_are_retried_and_seq_stays_gap_free(stack: Stack, faults: Faults) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL])
    faults.fail("dynamodb", "TransactWriteItems", conflict, times=3)
    msg = send(stack, cid, "after three conflicts", "cmid-cfl-0001")
    assert error_type(msg) is None and msg["seq"] == 1
    assert faults.attempts["dynamodb.TransactWriteItems"] == 4
    # concurrent senders, with conflicts sprinkled in
    faults.fail("dynamodb", "TransactWriteItems", conflict, times=8)
    with ThreadPoolExecutor(max_workers=9) as pool:
        results = list(pool.map(lambda i: send(stack, cid, f"c{i}", f"cmid-cfl-1{i:03d}",
                                               who=("alice", "bob", "carol")[i % 3]), range(9)))
    assert all(error_type(r) is None for r in results), results
    assert faults.injected["dynamodb.TransactWriteItems"] == 11
    assert sorted(r["seq"] for r in results) == list(range(2, 11))
    assert stored_seqs(stack, cid) == list(range(1, 11)) and len(guards(cid)) == 10


def _receipts(stack: Stack, cid: str) -> dict[str, int]:
    got = stack.invoke(receipts, "Query.readReceipts.ok", "bob", {"conversationId": cid}, replace_args=True)
    return {r["userId"]: r["readSeq"] for r in got}


@pytest.mark.parametrize("times", [1, None])
def test_a_receipt_under_transaction_conflict_never_claims_an_unwritten_marker(
        stack: Stack, faults: Faults, times: int | None) -> None:
    cid = new_conversation(stack)
    for i in range(3):
        send(stack, cid, f"m{i}", f"cmid-rcf-000{i}")
    faults.fail("dynamodb", "TransactWriteItems", conflict, times=times)
    result = stack.invoke(receipts, "Mutation.markRead.ok", "bob", {"conversationId": cid, "seq": 3},
                          replace_args=True)
    faults.clear()
    stored = _receipts(stack, cid)[BOB]
    if error_type(result) is None:  # retried through: the receipt is what was stored
        assert result["seq"] == stored == 3, (result, stored)
    else:  # or a clear Conflict, and nothing moved
        assert error_type(result) == "Conflict" and "retry" in result["error"]["message"]
        assert stored == 0
    if times == 1:
        assert error_type(result) is None  # one conflict is retried away


def test_a_reaction_under_transaction_conflict_is_a_clear_conflict(stack: Stack, faults: Faults) -> None:
    cid = new_conversation(stack)
    msg = send(stack, cid, "react to me", "cmid-rxc-0001")
    before = table_state()
    faults.fail("dynamodb", "TransactWriteItems", conflict)
    result = stack.invoke(messages, "Mutation.addReaction.ok", "bob",
                          {"conversationId": cid, "messageId": msg["id"], "emoji": "👍"}, replace_args=True)
    assert error_type(result) == "Conflict" and "retry" in result["error"]["message"]
    faults.clear()
    assert table_state() == before


# ------------------------------------------------------------------------------- KMS
KMS_FAULTS = {
    "unreachable": unreachable,
    "KMSInternalException": json_error(500, "KMSInternalException", "internal error"),
    "DisabledException": json_error(400, "DisabledException", "arn:aws:kms:... is disabled."),
}


@pytest.mark.parametrize("fault", sorted(KMS_FAULTS))
def test_kms_unavailable_on_a_cold_container_is_masked_and_writes_nothing(
        stack: Stack, faults: Faults, fault: str) -> None:
    cid = new_conversation(stack)
    send(stack, cid, "one", "cmid-kms-0001")
    api.reset()  # a cold container: no data key cached
    faults.fail("kms", "*", KMS_FAULTS[fault])
    before = table_state()
    result = send(stack, cid, "two", "cmid-kms-0002")
    masked(result)
    assert "kms" not in result["error"]["message"].lower()
    assert faults.attempts["kms.Decrypt"] == (4 if fault != "DisabledException" else 1)
    created = stack.invoke(conversations, "Mutation.createConversation.direct", "alice",
                           {"input": {"memberIds": [CAROL]}}, replace_args=True)
    masked(created)  # GenerateDataKey failed: no conversation without a key
    assert error_type(since(stack, cid, 0)) == "InternalFailure"  # reading needs the key too
    assert table_state() == before
    faults.clear()
    assert send(stack, cid, "two", "cmid-kms-0002")["seq"] == 2  # KMS back: the retry goes through
    assert stored_seqs(stack, cid) == [1, 2] and len(guards(cid)) == 2


# ------------------------------------------------------------------------------- S3
def uploaded(ticket: dict[str, Any]) -> None:
    """The presigned POST, and the `pending` tag its `tagging` field sets in S3 (moto
    ignores that field)."""
    upload(ticket)
    boto3.client("s3").put_object_tagging(Bucket=BUCKET, Key=ticket["key"], Tagging={
        "TagSet": [{"Key": "state", "Value": "pending"}]})


def _tags(key: str) -> dict[str, str]:
    got = boto3.client("s3").get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in got}


@pytest.mark.parametrize("operation", ["HeadObject", "PutObjectTagging"])
def test_s3_unavailable_during_a_send_with_attachments(stack: Stack, faults: Faults, operation: str) -> None:
    """S3 down while the attachment is checked (before the write): a clear error and
    nothing written. S3 down while its object is marked attached (after the commit: a
    refused send must never move a tag, tests/integration/test_message_integrity.py): the
    message is stored, the client sees a masked error, the object is still `pending`. Either
    way the client's retry answers the message, stored once, and the object loses its
    `pending` tag (else the lifecycle rule deletes it in a day)."""
    cid = new_conversation(stack, members=[BOB])
    send(stack, cid, "one", "cmid-s3-0001")
    ticket = grant(stack, cid)
    uploaded(ticket)
    before = table_state()
    faults.fail("s3", operation, unreachable)
    result = send_with(stack, cid, [ticket["uploadId"]], cmid="cmid-s3-0002")
    masked(result)
    assert faults.attempts[f"s3.{operation}"] == 4
    faults.clear()
    if operation == "HeadObject":
        assert table_state() == before  # no message, the upload still pending
    else:
        assert stored_seqs(stack, cid) == [1, 2]  # committed before the tag was moved
    assert _tags(ticket["key"]) == {"state": "pending"}
    msg = send_with(stack, cid, [ticket["uploadId"]], cmid="cmid-s3-0002")
    assert error_type(msg) is None and msg["seq"] == 2 and msg["kind"] == "IMAGE", msg
    assert _tags(ticket["key"]) == {"state": "attached"}
    assert stored_seqs(stack, cid) == [1, 2] and len(guards(cid)) == 2


def test_a_retried_send_with_attachments_returns_the_original(stack: Stack, faults: Faults) -> None:
    """The response of a send with attachments is lost; the client sends it again (same
    clientMessageId, same attachments): the original message, not 'already attached'."""
    cid = new_conversation(stack, members=[BOB])
    ticket = grant(stack, cid)
    uploaded(ticket)
    first = send_with(stack, cid, [ticket["uploadId"]], cmid="cmid-s3r-0001")
    again = send_with(stack, cid, [ticket["uploadId"]], cmid="cmid-s3r-0001")
    assert error_type(again) is None, again
    assert (again["id"], again["seq"], again["body"]) == (first["id"], first["seq"], first["body"])
    assert [a["id"] for a in again["attachments"]] == [ticket["uploadId"]]
    assert stored_seqs(stack, cid) == [1] and len(guards(cid)) == 1
    # the same upload on a new message is still refused
    other = send_with(stack, cid, [ticket["uploadId"]], cmid="cmid-s3r-0002")
    assert error_type(other) == "BadRequest" and "already" in other["error"]["message"]


# ------------------------------------------------------------------------------- stream consumer
class Publisher:
    """Records published user events; fails every batch that carries ``poison``."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.poison: tuple[str, int] | None = None

    def publish_user_events(self, events: list[dict[str, Any]]) -> None:
        if self.poison and any((e.get("conversationId"), e.get("seq")) == self.poison for e in events):
            raise RuntimeError("AppSync unavailable")
        self.events.extend(events)


def consume(records: list[dict[str, Any]]) -> dict[str, Any]:
    return stream.lambda_handler({"Records": records}, LambdaContext())


def _is_message(record: dict[str, Any], cid: str, seq: int) -> bool:
    new = record["dynamodb"].get("NewImage") or {}
    return (record["eventName"] == "INSERT" and new.get("type", {}).get("S") == "MSG"
            and new["conversationId"]["S"] == cid and new["seq"]["N"] == str(seq))


def _activity(cid: str) -> dict[str, str]:
    ddb = boto3.client("dynamodb")
    resp = ddb.query(TableName=TABLE, KeyConditionExpression="PK = :pk AND begins_with(SK, :m)",
                     ExpressionAttributeValues={":pk": {"S": f"CONV#{cid}"}, ":m": {"S": "MEMBER#"}})
    out = {}
    for i in resp["Items"]:
        assert i["GSI1SK"]["S"] == f"{i['lastActivity']['S']}#{cid}"
        out[i["userId"]["S"]] = i["lastActivity"]["S"]
    return out


@pytest.mark.moto_fidelity(STREAMS_SURVIVE_CANCELLED_TRANSACTIONS)
def test_a_stream_batch_failing_mid_way_is_redelivered_without_duplicates(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole batch in one Fanout (FANOUT_WORKERS=1: runs interleaved as in the stream);
    by partition, tests/integration/test_fanout.py::test_a_failed_partition_is_redelivered..."""
    from cloudchat.config import get_settings

    monkeypatch.setenv("FANOUT_WORKERS", "1")
    get_settings.cache_clear()
    publisher = Publisher()
    monkeypatch.setattr(stream, "_publisher", lambda: publisher)
    s = Stream()
    a = new_conversation(stack, members=[BOB, CAROL], title="a")
    b = new_conversation(stack, members=[BOB], title="b")
    sent = [(a, "alice"), (b, "bob"), (a, "carol"), (a, "alice"), (b, "alice"), (a, "bob")]
    last: dict[str, dict[str, Any]] = {}
    counts: Counter[str] = Counter()
    for i, (cid, who) in enumerate(sent):
        counts[cid] += 1
        last[cid] = send(stack, cid, f"m{i}", f"cmid-str-{i:04d}", who=who)
    records = s.read()
    # Runs of one conversation: a1 | b1 | a2 a3 | b2 | a4; each run is one event per member,
    # of its latest message. Three runs' events fit a publish request here, so the request
    # with the run a2-a3 (its event: seq 3) fails after [a1, b1] went out.
    from cloudchat import fanout

    monkeypatch.setattr(fanout, "PUBLISH_BATCH", 5)
    poisoned = next(i for i, r in enumerate(records) if _is_message(r, a, 3))
    run_start = next(i for i, r in enumerate(records) if _is_message(r, a, 2))

    def seqnum(record: dict[str, Any]) -> str:
        return str(record["dynamodb"]["SequenceNumber"])

    publisher.poison = (a, 3)
    first = consume(records)
    failed = [f["itemIdentifier"] for f in first["batchItemFailures"]]
    assert seqnum(records[poisoned]) in failed  # the failing record is reported...
    lowest = min(i for i, r in enumerate(records) if seqnum(r) in failed)
    assert lowest == run_start  # ...from its run's first message: nothing of it went out
    done = sorted((e["conversationId"], e["seq"]) for e in publisher.events if e["type"] == "MESSAGE")
    assert sorted(set(done)) == sorted([(a, 1), (b, 1)])  # what came before it did

    # Lambda re-delivers from the lowest failed sequence number; AppSync is back.
    publisher.poison = None
    assert consume(records[lowest:]) == {"batchItemFailures": []}

    members = {a: [USERS["alice"], BOB, CAROL], b: [USERS["alice"], BOB]}
    for cid in (a, b):
        for u in members[cid]:
            seqs = [e["seq"] for e in publisher.events
                    if e["type"] == "MESSAGE" and e["userId"] == u and e["conversationId"] == cid]
            # in order, never twice, and the inbox ends at the conversation's last message
            assert seqs == sorted(set(seqs)) and seqs[-1] == counts[cid], (cid, u, seqs)
    assert [e["seq"] for e in publisher.events
            if e["type"] == "MESSAGE" and e["userId"] == BOB and e["conversationId"] == a] == [1, 3, 4]
    for cid in (a, b):  # every member's list position is the conversation's last message
        assert _activity(cid) == dict.fromkeys(members[cid], last[cid]["createdAt"])
    # at-least-once: the whole batch once more changes no state
    state = table_state()
    assert consume(records) == {"batchItemFailures": []}
    assert table_state() == state


# ------------------------------------------------------------------------------- vanishing WebSocket clients
ON_MESSAGE = "subscription S($c: ID!) { onMessage(conversationId: $c) { id conversationId seq body } }"
ON_USER_EVENT = "subscription U($u: ID!) { onUserEvent(userId: $u) { userId type } }"
SEND = """mutation M($input: SendMessageInput!) {
  sendMessage(input: $input) { id conversationId seq senderId kind body createdAt clientMessageId version }
}"""


@pytest.fixture(scope="module")
def devstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.e2e.conftest import DevStack

    dev = DevStack(tmp_path_factory.mktemp("faults-stack") / "state").start()
    try:
        yield dev
    finally:
        assert dev.stop() == 0, dev.log()


class RawClient:
    """AppSync's real-time protocol over a raw WebSocket, so the TCP connection can be cut."""

    def __init__(self, dev: Any, token: str) -> None:
        self.dev, self.token = dev, token
        self.auth = {"Authorization": token, "host": dev.host}
        self.ws: Any = None

    async def connect(self) -> RawClient:
        from websockets.asyncio.client import connect

        header = base64.b64encode(json.dumps(self.auth, separators=(",", ":")).encode()).decode()
        self.ws = await connect(f"{self.dev.outputs['GraphQLRealtimeUrl']}?header={header}&payload=e30=",
                                subprotocols=["graphql-ws"])
        await self.ws.send(json.dumps({"type": "connection_init"}))
        assert (await self.frame())["type"] == "connection_ack"
        return self

    async def start(self, sub_id: str, query: str, variables: dict[str, Any], *, wait: bool = True) -> None:
        await self.ws.send(json.dumps({"id": sub_id, "type": "start", "payload": {
            "data": json.dumps({"query": query, "variables": variables}),
            "extensions": {"authorization": self.auth}}}))
        if wait:
            assert await self.frame() == {"type": "start_ack", "id": sub_id}

    async def frame(self, timeout: float = 15.0) -> dict[str, Any]:
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if frame.get("type") != "ka":
                return dict(frame)

    def vanish(self, *, reset: bool) -> None:
        """Gone without stop or a close frame: the TCP connection just ends (FIN, or RST)."""
        transport = self.ws.transport
        if reset:
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


def _active(dev: Any) -> dict[str, Any]:
    base = dev.url.rsplit("/graphql", 1)[0]
    with urllib.request.urlopen(f"{base}/_emulator/subscriptions", timeout=5) as resp:
        return dict(json.load(resp))


async def _settle(dev: Any, want: int, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        now = await asyncio.to_thread(_active, dev)
        if now["active"] == want or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.05)


@pytest.mark.e2e
def test_a_vanished_websocket_client_leaves_no_subscription_behind(devstack: Any) -> None:
    dev = devstack
    conv = dev.outputs["DemoConversationId"]
    alice, bob = dev.token("alice"), dev.token("bob")
    alice_sub = dev.user("alice")["sub"]

    async def scenario() -> None:
        baseline = (await asyncio.to_thread(_active, dev))["active"]
        watcher = await RawClient(dev, bob).connect()
        await watcher.start("w", ON_MESSAGE, {"c": conv})
        assert (await _settle(dev, baseline + 1))["active"] == baseline + 1
        for round_, reset in enumerate([False, True, False, True]):
            gone = await RawClient(dev, alice).connect()
            await gone.start("m", ON_MESSAGE, {"c": conv})
            await gone.start("u", ON_USER_EVENT, {"u": alice_sub})
            now = await _settle(dev, baseline + 3)
            assert now["active"] == baseline + 3 and now["byField"]["onUserEvent"] >= 1, now
            gone.vanish(reset=reset)
            now = await _settle(dev, baseline + 1)
            assert now["active"] == baseline + 1, (round_, reset, now)
        # gone while a start is still being authorized: nothing registers late
        early = await RawClient(dev, alice).connect()
        await early.start("late", ON_MESSAGE, {"c": conv}, wait=False)
        early.vanish(reset=True)
        await asyncio.sleep(1.0)
        assert (await _settle(dev, baseline + 1))["active"] == baseline + 1
        # publishing still reaches the live subscriber
        sent = await dev.execute(alice, SEND, {"input": {
            "conversationId": conv, "body": "after the vanishing", "clientMessageId": f"vanish-{time.time_ns()}"}})
        data = await watcher.frame()
        assert data["type"] == "data" and data["id"] == "w", data
        assert data["payload"]["data"]["onMessage"]["id"] == sent["sendMessage"]["id"]
        await watcher.ws.send(json.dumps({"type": "stop", "id": "w"}))
        assert await watcher.frame() == {"type": "complete", "id": "w"}
        assert (await _settle(dev, baseline))["active"] == baseline
        with contextlib.suppress(Exception):
            await watcher.ws.close()

    asyncio.run(asyncio.wait_for(scenario(), 90))
    assert dev.process is not None and dev.process.poll() is None  # the stack is still serving


@pytest.mark.e2e
def test_presence_events_reach_the_user_channel(devstack: Any) -> None:
    """A PRESENCE event (the consumer sends `online`) was refused by publishUserEvent
    (UserEventInput had no `online`): a poison record stalling the stream consumer."""
    dev = devstack
    alice, carol = dev.token("alice"), dev.token("carol")

    async def scenario() -> dict[str, Any]:
        client = await RawClient(dev, alice).connect()
        await client.start("u", ON_USER_EVENT.replace("{ userId type }", "{ userId type senderId online }"),
                           {"u": dev.user("alice")["sub"]})
        await dev.execute(carol, "mutation { heartbeat { online } }")  # carol shares the demo conversation
        while True:
            frame = await client.frame(timeout=30)
            event = frame["payload"]["data"]["onUserEvent"]
            if event["type"] == "PRESENCE":
                await client.ws.close()
                return dict(event)

    event = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert event == {"userId": dev.user("alice")["sub"], "type": "PRESENCE",
                     "senderId": dev.user("carol")["sub"], "online": True}
    assert "failed record" not in "".join(dev.output)


@pytest.mark.e2e
def test_the_subscriptions_endpoint_counts_by_field(devstack: Any) -> None:
    got = _active(devstack)
    assert set(got) == {"active", "byField"}
    assert set(got["byField"]) == {"onMessage", "onReceipt", "onTyping", "onUserEvent", "onMembershipChange"}
    assert got["active"] == sum(got["byField"].values())


@pytest.mark.moto_fidelity(STREAMS_SURVIVE_CANCELLED_TRANSACTIONS)
def test_a_stream_batch_failing_at_its_first_record_is_retried_whole(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """When nothing of the batch could be done, Powertools' processor raises (Lambda retries
    the whole batch) instead of answering that every record failed; the retry then works."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    publisher = Publisher()
    monkeypatch.setattr(stream, "_publisher", lambda: publisher)
    s = Stream()
    cid = new_conversation(stack, members=[BOB], title="first fails")
    s.read()  # (the conversation's own records)
    send(stack, cid, "only one", "cmid-first-0001")
    records = s.read()
    first_message = next(i for i, r in enumerate(records) if _is_message(r, cid, 1))
    publisher.poison = (cid, 1)
    with pytest.raises(BatchProcessingError):
        consume(records[first_message:])
    publisher.poison = None
    assert consume(records[first_message:]) == {"batchItemFailures": []}
    assert [e["seq"] for e in publisher.events if e["type"] == "MESSAGE" and e["userId"] == BOB] == [1]
