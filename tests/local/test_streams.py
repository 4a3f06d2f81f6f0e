"""The DynamoDB stream poller (cloudchat_local._streams) against a real moto server process,
with a throwaway handler module (tests/local/fake_stream_handler.py) wired in a copy of
template.yaml, the way a later stream consumer will be wired."""

from __future__ import annotations

import base64
import copy
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cloudchat_local._moto_server import MotoProcess
from cloudchat_local._streams import (
    CheckpointStore,
    FilterPattern,
    StreamEventSource,
    StreamPoller,
    stream_event_sources,
)
from cloudchat_local.template import DEFAULT_TEMPLATE_PATH, Template, TemplateError, load_template

from . import fake_stream_handler as fake

REGION = "us-east-1"


def fake_sources(template: Template, resolve: dict[str, str]) -> list[StreamEventSource]:
    """The fake consumer's event sources (template.yaml may have real consumers too)."""
    return [s for s in stream_event_sources(template, resolve) if s.function_logical_id == "FakeStreamFunction"]


def template_with_consumer(**properties: Any) -> Template:
    """template.yaml plus a function subscribed to the table stream (not a template change)."""
    document = copy.deepcopy(dict(load_template().document))
    event_props = {
        "Stream": {"Fn::GetAtt": ["Table", "StreamArn"]},
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 10,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }
    event_props.update(properties)
    event_props = {k: v for k, v in event_props.items() if v is not None}
    document["Resources"] = dict(document["Resources"])
    document["Resources"]["FakeStreamFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": "tests/local/",
            "Handler": "fake_stream_handler.handler",
            "Timeout": 7,
            "Events": {"TableStream": {"Type": "DynamoDB", "Properties": event_props}},
        },
    }
    return Template(document, DEFAULT_TEMPLATE_PATH)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    process = MotoProcess.start()
    try:
        yield process
    finally:
        process.stop()


def _client(moto: MotoProcess, service: str) -> Any:
    return boto3.client(service, endpoint_url=moto.endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


class Table:
    def __init__(self, moto: MotoProcess) -> None:
        self.ddb = _client(moto, "dynamodb")
        self.name = f"stream-test-{uuid.uuid4().hex[:8]}"
        kwargs = load_template().table_create_kwargs(self.name)
        self.stream_arn = self.ddb.create_table(**kwargs)["TableDescription"]["LatestStreamArn"]

    def put(self, pk: str, mode: str = "ok", **extra: Any) -> None:
        item = {"PK": {"S": pk}, "SK": {"S": "ITEM"}, "mode": {"S": mode}, **extra}
        self.ddb.put_item(TableName=self.name, Item=item)

    def update(self, pk: str, value: str) -> None:
        self.ddb.update_item(
            TableName=self.name, Key={"PK": {"S": pk}, "SK": {"S": "ITEM"}},
            UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": value}},
        )


@pytest.fixture
def table(moto: MotoProcess) -> Table:
    fake.reset()
    return Table(moto)


@pytest.fixture
def run_poller(moto: MotoProcess) -> Iterator[Any]:
    started: list[StreamPoller] = []

    def run(table: Table, checkpoints: CheckpointStore | None = None, **properties: Any) -> StreamPoller:
        template = template_with_consumer(**properties)
        (source,) = fake_sources(
            template, {"Table.StreamArn": table.stream_arn, "FakeStreamFunction": "fake-fn"}
        )
        poller = StreamPoller(
            source, fake.handler, client=_client(moto, "dynamodbstreams"), checkpoints=checkpoints,
            region=REGION, poll_interval_s=0.05, retry_initial_s=0.01, retry_max_s=0.05,
            clients=lambda service: _client(moto, service),
        )
        started.append(poller.start())
        return poller

    yield run
    for poller in started:
        poller.stop()


def sentinel_delivered(table: Table, name: str = "sentinel") -> None:
    """Writes one more item and waits for it: everything before it has been delivered."""
    table.put(name)
    assert fake.wait_for(lambda: name in fake.delivered()), fake.batches()


# --------------------------------------------------------------------------- template


def test_every_stream_event_of_the_template_is_found() -> None:
    template = load_template()
    expected = {
        (f.logical_id, name)
        for f in template.functions()
        for name, event in (f.properties.get("Events") or {}).items()
        if event.get("Type") == "DynamoDB"
    }
    resolve = {"Table.StreamArn": "arn:aws:dynamodb:us-east-1:1:table/t/stream/y"}
    found = {(s.function_logical_id, s.event_id) for s in stream_event_sources(template, resolve)}
    assert found == expected


def test_event_sources_come_from_the_template() -> None:
    template = template_with_consumer(BatchSize=7, MaximumRetryAttempts=3, BisectBatchOnFunctionError=True,
                                      MaximumBatchingWindowInSeconds=2, FunctionResponseTypes=None)
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2024"
    (source,) = fake_sources(template, {"Table.StreamArn": arn, "FakeStreamFunction": "fn-name"})
    assert source.stream_arn == arn
    assert source.module == "tests.local.fake_stream_handler"
    assert source.handler_attr == "handler"
    assert source.function_name == "fn-name"
    assert (source.batch_size, source.maximum_retry_attempts, source.bisect_on_error) == (7, 3, True)
    assert source.maximum_batching_window_s == 2
    assert source.report_batch_item_failures is False
    assert source.starting_position == "TRIM_HORIZON"
    assert source.timeout_s == 7


def test_disabled_event_sources_are_skipped() -> None:
    template = template_with_consumer(Enabled=False)
    assert fake_sources(template, {"Table.StreamArn": "arn:aws:dynamodb:us-east-1:1:table/t/stream/b"}) == []


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"StartingPosition": "AT_TIMESTAMP"}, "StartingPosition"),
        ({"BatchSize": 0}, "BatchSize"),
        ({"FilterCriteria": {"Filters": [{"Pattern": '{"eventName": [{"cidr": "10.0.0.0/8"}]}'}]}},
         "unsupported filter"),
        ({"FilterCriteria": {"Filters": [{"Pattern": "not json"}]}}, "not JSON"),
    ],
)
def test_unsupported_settings_fail_at_startup(properties: dict[str, Any], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        fake_sources(template_with_consumer(**properties), {"Table.StreamArn": "arn:aws:dynamodb:us-east-1:1:table/t/stream/b"})


def test_filter_patterns() -> None:
    record = {
        "eventName": "INSERT",
        "dynamodb": {"NewImage": {"SK": {"S": "MSG#000000000001"}, "n": {"N": "5"}, "tags": ["a", "b"]}},
    }
    cases = [
        ({"eventName": ["INSERT", "MODIFY"]}, True),
        ({"eventName": ["REMOVE"]}, False),
        ({"dynamodb": {"NewImage": {"SK": {"S": [{"prefix": "MSG#"}]}}}}, True),
        ({"dynamodb": {"NewImage": {"SK": {"S": [{"prefix": "META"}]}}}}, False),
        ({"dynamodb": {"NewImage": {"SK": {"S": [{"suffix": "001"}]}}}}, True),
        ({"eventName": [{"anything-but": ["REMOVE"]}]}, True),
        ({"eventName": [{"anything-but": {"prefix": "INS"}}]}, False),
        ({"eventName": [{"equals-ignore-case": "insert"}]}, True),
        ({"dynamodb": {"OldImage": [{"exists": False}]}}, True),
        ({"dynamodb": {"NewImage": [{"exists": True}]}}, True),
        ({"dynamodb": {"NewImage": {"tags": ["b"]}}}, True),
        ({"dynamodb": {"NewImage": {"SK": {"S": [{"wildcard": "MSG#*1"}]}}}}, True),
        ({"$or": [{"eventName": ["REMOVE"]}, {"eventName": ["INSERT"]}]}, True),
        ({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"SK": {"S": ["META"]}}}}, False),
    ]
    for pattern, expected in cases:
        assert FilterPattern(pattern).matches(record) is expected, pattern
    assert FilterPattern({"v": [{"numeric": [">", 1, "<=", 5]}]}).matches({"v": 5})
    assert not FilterPattern({"v": [{"numeric": [">", 5]}]}).matches({"v": 5})


# --------------------------------------------------------------------------- delivery


def test_put_and_update_arrive_once_in_order_in_lambdas_shape(table: Table, run_poller: Any) -> None:
    run_poller(table)
    table.put("k1", blob={"B": b"\x00\x01"})
    table.put("k2")
    table.update("k1", "changed")
    assert fake.wait_for(lambda: len(fake.delivered()) >= 3)
    sentinel_delivered(table)
    records = [r for batch in fake.CALLS for r in batch]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["PK"]["S"]) for r in records] == [
        ("INSERT", "k1"), ("INSERT", "k2"), ("MODIFY", "k1"), ("INSERT", "sentinel"),
    ]
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    first, _, modify, _ = records
    assert first["eventSource"] == "aws:dynamodb"
    assert first["eventSourceARN"] == table.stream_arn
    assert first["awsRegion"] == REGION
    assert isinstance(first["dynamodb"]["ApproximateCreationDateTime"], int)
    assert first["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert first["dynamodb"]["Keys"] == {"PK": {"S": "k1"}, "SK": {"S": "ITEM"}}
    assert first["dynamodb"]["NewImage"]["blob"] == {"B": base64.b64encode(b"\x00\x01").decode()}
    assert "OldImage" not in first["dynamodb"]
    assert "v" not in modify["dynamodb"]["OldImage"]
    assert modify["dynamodb"]["NewImage"]["v"] == {"S": "changed"}
    assert fake.CONTEXTS[0].function_name == "fake-fn"
    assert fake.CONTEXTS[0].get_remaining_time_in_millis() <= 7000


def test_batch_size_is_respected(table: Table, run_poller: Any) -> None:
    for k in ("a", "b", "c", "d", "e"):
        table.put(k)
    run_poller(table, BatchSize=2)
    assert fake.wait_for(lambda: len(fake.delivered()) == 5)
    assert fake.batches() == [["a", "b"], ["c", "d"], ["e"]]


def test_a_failing_batch_is_retried_whole(table: Table, run_poller: Any) -> None:
    table.put("a")
    table.put("b", "raise-once")
    table.put("c")
    run_poller(table)
    assert fake.wait_for(lambda: len(fake.batches()) >= 2)
    sentinel_delivered(table)
    assert fake.batches() == [["a", "b", "c"], ["a", "b", "c"], ["sentinel"]]


def test_a_partial_failure_redelivers_from_the_failed_record(table: Table, run_poller: Any) -> None:
    table.put("a")
    table.put("b", "fail-once")
    table.put("c")
    table.put("d")
    run_poller(table)
    assert fake.wait_for(lambda: len(fake.batches()) >= 2)
    sentinel_delivered(table)
    assert fake.batches() == [["a", "b", "c", "d"], ["b", "c", "d"], ["sentinel"]]


def test_partial_failures_checkpoint_at_the_lowest_failed_record(table: Table, run_poller: Any) -> None:
    table.put("a")
    table.put("b")
    table.put("c", "fail-once")
    table.put("d", "fail-once")
    run_poller(table)
    assert fake.wait_for(lambda: len(fake.batches()) >= 2)
    sentinel_delivered(table)
    assert fake.batches() == [["a", "b", "c", "d"], ["c", "d"], ["sentinel"]]


def test_batch_item_failures_are_ignored_without_report_batch_item_failures(
    table: Table, run_poller: Any
) -> None:
    table.put("a")
    table.put("b", "always-fail")
    run_poller(table, FunctionResponseTypes=None)
    assert fake.wait_for(lambda: len(fake.batches()) >= 1)
    sentinel_delivered(table)
    assert fake.batches() == [["a", "b"], ["sentinel"]]


def test_retries_stop_after_maximum_retry_attempts_with_bisection(table: Table, run_poller: Any) -> None:
    table.put("ok1")
    table.put("poison", "always-raise")
    table.put("ok2")
    poller = run_poller(table, MaximumRetryAttempts=2, BisectBatchOnFunctionError=True)
    assert fake.wait_for(lambda: len(fake.batches()) >= 7)
    sentinel_delivered(table)
    assert fake.batches() == [
        ["ok1", "poison", "ok2"],  # fails: halve
        ["ok1"],
        ["poison", "ok2"],  # fails: halve
        ["poison"], ["poison"], ["poison"],  # first try + 2 retries, then discarded
        ["ok2"],
        ["sentinel"],
    ]
    assert poller.discarded == 1


def test_discarded_batches_are_sent_to_the_on_failure_queue(
    moto: MotoProcess, table: Table, run_poller: Any
) -> None:
    sqs = _client(moto, "sqs")
    url = sqs.create_queue(QueueName=f"failures-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    table.put("poison", "always-raise")
    run_poller(table, MaximumRetryAttempts=0,
               DestinationConfig={"OnFailure": {"Type": "SQS", "Destination": arn}})
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15).get("Messages", [])
    assert len(messages) == 1
    failure = json.loads(messages[0]["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["functionArn"].endswith(":function:fake-fn")
    assert failure["responseContext"]["functionError"] == "Unhandled"
    info = failure["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["streamArn"] == table.stream_arn
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == fake.CALLS[0][0]["dynamodb"]["SequenceNumber"]
    sentinel_delivered(table)
    assert fake.batches() == [["poison"], ["sentinel"]]


def test_an_unavailable_on_failure_destination_is_left_out() -> None:
    template = template_with_consumer(
        DestinationConfig={"OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["Nowhere", "Arn"]}}}
    )
    (source,) = fake_sources(template, {"Table.StreamArn": "arn:aws:dynamodb:us-east-1:1:table/t/stream/b"})
    assert source.on_failure_destination is None


def test_the_template_on_failure_destination_is_resolved() -> None:
    template = template_with_consumer(
        DestinationConfig={"OnFailure": {"Type": "SNS", "Destination": {"Ref": "Topic"}}}
    )
    topic = "arn:aws:sns:us-east-1:123456789012:failures"
    (source,) = fake_sources(
        template, {"Table.StreamArn": "arn:aws:dynamodb:us-east-1:1:table/t/stream/b", "Topic": topic}
    )
    assert source.on_failure_destination == topic


def test_filtered_records_are_never_delivered(table: Table, run_poller: Any) -> None:
    pattern = '{"eventName": ["INSERT"], "dynamodb": {"Keys": {"PK": {"S": [{"prefix": "keep"}]}}}}'
    table.put("keep-1")
    table.put("drop-1")
    table.update("keep-1", "modified")
    table.put("keep-2")
    run_poller(table, FilterCriteria={"Filters": [{"Pattern": pattern}]})
    assert fake.wait_for(lambda: "keep-2" in fake.delivered())
    sentinel_delivered(table, "keep-sentinel")
    records = [r for batch in fake.CALLS for r in batch]
    assert [(r["eventName"], fake.keys([r])[0]) for r in records] == [
        ("INSERT", "keep-1"), ("INSERT", "keep-2"), ("INSERT", "keep-sentinel"),
    ]


def test_a_restarted_poller_resumes_after_its_checkpoint(
    table: Table, run_poller: Any, tmp_path: Path
) -> None:
    checkpoints = tmp_path / "checkpoints.json"
    table.put("a")
    table.put("b")
    first = run_poller(table, CheckpointStore(checkpoints))
    assert fake.wait_for(lambda: fake.delivered() == ["a", "b"])
    first.stop()
    table.put("c")
    run_poller(table, CheckpointStore(checkpoints))  # TRIM_HORIZON, but the checkpoint wins
    assert fake.wait_for(lambda: "c" in fake.delivered())
    assert fake.batches() == [["a", "b"], ["c"]]


def test_latest_starts_after_what_is_already_in_the_stream(table: Table, run_poller: Any) -> None:
    table.put("old")
    run_poller(table, StartingPosition="LATEST")
    sentinel_delivered(table)
    assert fake.batches() == [["sentinel"]]


def test_checkpoints_are_per_stream(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "c.json")
    store.put("Fn/Ev", "arn:one", "shard-1", "100")
    again = CheckpointStore(tmp_path / "c.json")
    assert again.get("Fn/Ev", "arn:one", "shard-1") == "100"
    assert again.get("Fn/Ev", "arn:two", "shard-1") is None  # the table was recreated
    assert again.get("Other/Ev", "arn:one", "shard-1") is None


def test_stream_event_source_key() -> None:
    source = StreamEventSource(
        function_logical_id="Fn", event_id="Ev", function_name="f", module="m", handler_attr="h",
        stream_arn="arn:aws:dynamodb:us-east-1:1:table/t/stream/b",
    )
    assert source.key == "Fn/Ev"
    assert source.accepts({"anything": 1})


def test_a_batch_filling_in_its_window_is_polled_like_lambda_not_in_a_loop(
        table: Table, moto: MotoProcess) -> None:
    """Records trickling in while a batch waits in its batching window are read at the poll
    rate (Lambda polls a shard about four times a second), not by re-polling the stream at
    once after every read that found something."""
    import time

    streams = _client(moto, "dynamodbstreams")
    calls = {"get_records": 0}

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(streams, name)

        def get_records(self, **kwargs: Any) -> Any:
            calls["get_records"] += 1
            return streams.get_records(**kwargs)

    template = template_with_consumer(MaximumBatchingWindowInSeconds=2, BatchSize=1000)
    (source,) = fake_sources(template, {"Table.StreamArn": table.stream_arn,
                                        "FakeStreamFunction": "fake-fn"})
    poller = StreamPoller(source, fake.handler, client=Counting(), region=REGION,
                          poll_interval_s=0.1, clients=lambda service: _client(moto, service))
    poller.start()
    try:
        started = time.monotonic()
        puts = 0
        while time.monotonic() - started < 1.0:  # a put every ~10 ms for a second
            table.put(f"t{puts}")
            puts += 1
        polled = calls["get_records"]
        elapsed = time.monotonic() - started
        assert fake.wait_for(lambda: len(fake.delivered()) == puts, timeout=10), fake.batches()
    finally:
        poller.stop()
    assert len(fake.batches()) == 1  # one batch, when its window closed
    assert polled <= elapsed / 0.1 + 3, (polled, puts)  # ~10 polls, not one per put


def test_without_a_batching_window_a_record_is_delivered_at_the_next_poll(
        table: Table, start_poller: Any) -> None:
    """MaximumBatchingWindowInSeconds 0 (the template's): Lambda invokes the function as soon
    as a poll finds records, one record or not; with a window it waits for the window."""
    recorder = Recorder()
    start_poller(table, recorder, BatchSize=100)
    sentinel = time.time()
    table.put("now")
    assert recorder.wait_for(lambda: len(recorder.records()) == 1)
    prompt = recorder.calls[0][0] - sentinel
    assert prompt < 1.0, prompt  # a poll every 0.05 s here; not a window's 2 s
    windowed = Recorder()
    start_poller(table, windowed, BatchSize=100, MaximumBatchingWindowInSeconds=2)
    sentinel = time.time()
    table.put("later")
    assert windowed.wait_for(lambda: any(fake.keys([r]) == ["later"] for r in windowed.records()))
    assert windowed.calls[-1][0] - sentinel >= 1.9


# --------------------------------------------------------------------------- parallelization and latency


def test_the_parallelization_factor_comes_from_the_template() -> None:
    arn = "arn:aws:dynamodb:us-east-1:1:table/t/stream/b"
    (source,) = fake_sources(template_with_consumer(ParallelizationFactor=3), {"Table.StreamArn": arn})
    assert source.parallelization_factor == 3
    (default,) = fake_sources(template_with_consumer(), {"Table.StreamArn": arn})
    assert default.parallelization_factor == 1
    (stream,) = [s for s in stream_event_sources(load_template(), {"Table.StreamArn": arn})
                 if s.function_logical_id == "StreamFunction"]
    (event,) = load_template().function("StreamFunction").properties["Events"].values()
    assert stream.parallelization_factor == event["Properties"]["ParallelizationFactor"] > 1
    for bad in (0, 11):
        with pytest.raises(TemplateError, match="ParallelizationFactor"):
            fake_sources(template_with_consumer(ParallelizationFactor=bad), {"Table.StreamArn": arn})


class Recorder:
    """A thread-safe handler: records each batch, how many run at once; raises on ``poison``."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.lock = threading.Condition()
        self.active = 0
        self.peak = 0
        self.calls: list[tuple[float, list[dict[str, Any]]]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.calls.append((time.time(), event["Records"]))
            self.lock.notify_all()
        try:
            time.sleep(self.delay_s)
            if any(fake.keys([r]) == ["poison"] for r in event["Records"]):
                raise RuntimeError("poison")
            return {"batchItemFailures": []}
        finally:
            with self.lock:
                self.active -= 1

    def records(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for _, batch in self.calls for r in batch]

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> bool:
        with self.lock:
            return self.lock.wait_for(predicate, timeout)


@pytest.fixture
def start_poller(moto: MotoProcess) -> Iterator[Any]:
    started: list[StreamPoller] = []

    def start(table: Table, handler: Any, *, checkpoints: CheckpointStore | None = None,
              latency_s: float = 0.0, isolate: bool = False, **properties: Any) -> StreamPoller:
        (source,) = fake_sources(template_with_consumer(**properties),
                                 {"Table.StreamArn": table.stream_arn, "FakeStreamFunction": "fake-fn"})
        poller = StreamPoller(
            source, handler, client=_client(moto, "dynamodbstreams"), checkpoints=checkpoints,
            region=REGION, poll_interval_s=0.05, retry_initial_s=0.05, retry_max_s=0.2,
            latency_s=latency_s, isolate=isolate, clients=lambda service: _client(moto, service),
        )
        started.append(poller.start())
        return poller

    yield start
    for poller in started:
        poller.stop()


def _lane(key: str, lanes: int) -> int:
    from cloudchat_local._stream_shards import lane_of

    return lane_of({"dynamodb": {"Keys": {"PK": {"S": key}, "SK": {"S": "ITEM"}}}}, lanes)


def _history(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per item, what it went through, in delivery order."""
    seen: dict[str, list[str]] = {}
    for r in records:
        new = r["dynamodb"].get("NewImage") or {}
        seen.setdefault(fake.keys([r])[0], []).append(new.get("v", {}).get("S", r["eventName"]))
    return seen


def test_parallel_batches_run_concurrently_and_keep_each_items_order(
        table: Table, start_poller: Any) -> None:
    keys = [f"k{i}" for i in range(8)]
    assert len({_lane(k, 4) for k in keys}) > 1
    recorder = Recorder(delay_s=0.15)
    start_poller(table, recorder, ParallelizationFactor=4, BatchSize=2)
    for version in ("INSERT", "v1", "v2", "v3"):
        for key in keys:  # interleaved: each batch of the shard mixes items
            table.put(key) if version == "INSERT" else table.update(key, version)
    assert recorder.wait_for(lambda: len(recorder.records()) == 32), len(recorder.records())
    history = _history(recorder.records())
    assert history == {k: ["INSERT", "v1", "v2", "v3"] for k in keys}
    assert 1 < recorder.peak <= 4  # batches ran at once, never more than the factor
    for _, batch in recorder.calls:  # a batch holds the items of one lane only
        assert len({_lane(k, 4) for k in fake.keys(batch)}) == 1


def test_one_batch_at_a_time_without_parallelization(table: Table, start_poller: Any) -> None:
    recorder = Recorder(delay_s=0.05)
    start_poller(table, recorder, BatchSize=1)
    for i in range(6):
        table.put(f"s{i}")
    assert recorder.wait_for(lambda: len(recorder.records()) == 6)
    assert recorder.peak == 1
    assert [fake.keys([r])[0] for r in recorder.records()] == [f"s{i}" for i in range(6)]


def test_a_failing_lane_holds_the_checkpoint_but_not_the_other_lanes(
        table: Table, start_poller: Any, tmp_path: Path) -> None:
    others = [k for k in (f"o{i}" for i in range(20)) if _lane(k, 2) != _lane("poison", 2)][:3]
    recorder = Recorder()
    store = CheckpointStore(tmp_path / "checkpoints.json")
    table.put("first")
    poller = start_poller(table, recorder, checkpoints=store, ParallelizationFactor=2,
                          MaximumBatchingWindowInSeconds=0)
    assert recorder.wait_for(lambda: "first" in fake.keys(recorder.records()))
    table.put("poison")
    for key in others:
        table.put(key)
    assert recorder.wait_for(lambda: all(k in fake.keys(recorder.records()) for k in others))
    assert recorder.wait_for(lambda: fake.keys(recorder.records()).count("poison") >= 2)  # retried
    poller.stop()
    poison_seq = next(r["dynamodb"]["SequenceNumber"] for r in recorder.records()
                      if fake.keys([r]) == ["poison"])
    (shard_id,) = json.loads((tmp_path / "checkpoints.json").read_text())["checkpoints"][
        "FakeStreamFunction/TableStream"]["shards"]
    upto = store.get("FakeStreamFunction/TableStream", table.stream_arn, shard_id)
    assert upto is not None and int(upto) < int(poison_seq)  # a restart redelivers from poison
    first_seq = recorder.records()[0]["dynamodb"]["SequenceNumber"]
    assert int(upto) >= int(first_seq)  # ... but not what was done before it


def test_records_are_delivered_no_sooner_than_the_stream_latency(
        table: Table, start_poller: Any) -> None:
    recorder = Recorder()
    start_poller(table, recorder, latency_s=0.8, MaximumBatchingWindowInSeconds=0)
    put_at = time.time()
    table.put("late")
    assert recorder.wait_for(lambda: len(recorder.calls) == 1)
    delivered_at, _ = recorder.calls[0]
    assert delivered_at - put_at >= 0.8
    with pytest.raises(ValueError, match="latency_s"):
        StreamPoller(fake_sources(template_with_consumer(), {"Table.StreamArn": table.stream_arn})[0],
                     recorder, client=None, latency_s=-1)


def test_concurrent_batches_run_in_separate_processes_when_isolated(
        table: Table, start_poller: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As Lambda runs concurrent batches in separate execution environments: the handler is
    loaded in a process per lane (nothing shared with this process or the other lanes)."""
    log = tmp_path / "invocations.jsonl"
    monkeypatch.setenv("FAKE_STREAM_LOG", str(log))
    keys = [f"p{i}" for i in range(8)]
    assert {_lane(k, 2) for k in keys} == {0, 1}
    start_poller(table, fake.handler, isolate=True, ParallelizationFactor=2, BatchSize=1)
    for key in keys:
        table.put(key)
    for key in keys:
        table.update(key, "v1")
    deadline = time.monotonic() + 60
    while sum(len(e["keys"]) for e in fake.logged(str(log))) < 16:
        assert time.monotonic() < deadline, fake.logged(str(log))
        time.sleep(0.1)
    entries = fake.logged(str(log))
    pids = {e["pid"] for e in entries}
    assert len(pids) == 2 and os.getpid() not in pids
    assert fake.CALLS == []  # nothing ran in this process
    lane_pids: dict[int, set[int]] = {}
    for entry in entries:
        for key in entry["keys"]:
            lane_pids.setdefault(_lane(key, 2), set()).add(entry["pid"])
    assert all(len(p) == 1 for p in lane_pids.values())  # one warm environment per lane
    order: dict[str, int] = {}
    for entry in entries:
        for key in entry["keys"]:
            order[key] = order.get(key, 0) + 1
    assert order == {k: 2 for k in keys}


def test_the_consumers_process_applies_the_stream_lag_and_isolates_lanes(
        moto: MotoProcess, table: Table, tmp_path: Path) -> None:
    from cloudchat_local._consumers import _start_pollers
    from cloudchat_local._streams import stop_all

    template = template_with_consumer(ParallelizationFactor=2)
    resolve = {"Table.StreamArn": table.stream_arn, "FakeStreamFunction": "fake-fn"}
    spec = {
        "document": template.document, "template_path": str(template.path),
        "resolve": resolve, "endpoint": moto.endpoint, "region": REGION,
        "account_id": "123456789012", "access_key_id": "testing", "secret_access_key": "testing",
        "checkpoints": str(tmp_path / "checkpoints.json"), "poll_interval_s": 0.05,
        "stream_lag_s": 0.5,
    }
    pollers = _start_pollers(spec)
    try:
        fake_pollers = [p for p in pollers if p.source.function_logical_id == "FakeStreamFunction"]
        assert [(p.latency_s, p.isolate) for p in fake_pollers] == [(0.5, True)]
    finally:
        stop_all(pollers)


def test_dev_takes_the_stream_lag_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    from cloudchat_local import dev

    assert dev._parser().parse_args(["--stream-lag", "0.25"]).stream_lag == 0.25
    assert dev._parser().parse_args([]).stream_lag == 0.0
    assert dev.main(["--stream-lag", "-1"]) == 2
    assert "--stream-lag" in capsys.readouterr().err
    assert dev.LocalStack(stream_lag_s=0.5).stream_lag_s == 0.5
