"""DynamoDB Streams → Lambda, locally: what an event source mapping does, for the functions
template.yaml subscribes to a table stream.

:func:`stream_event_sources` reads every ``AWS::Serverless::Function`` event of ``Type:
DynamoDB`` (``Stream``, ``StartingPosition``, ``BatchSize``, ``MaximumBatchingWindowInSeconds``,
``FunctionResponseTypes``, ``MaximumRetryAttempts``, ``BisectBatchOnFunctionError``,
``MaximumRecordAgeInSeconds``, ``FilterCriteria``, ``ParallelizationFactor``, ``Enabled``).
A :class:`StreamPoller` per source reads the stream from moto (DescribeStream,
GetShardIterator, GetRecords, as Lambda's poller does) and invokes the handler in its own
process (the local stack runs the pollers in a process of their own:
:mod:`cloudchat_local._consumers`) with Lambda's event::

    {"Records": [{"eventID", "eventName", "eventVersion", "eventSource": "aws:dynamodb",
                  "awsRegion", "eventSourceARN": <stream arn>,
                  "dynamodb": {"ApproximateCreationDateTime": <epoch seconds>, "Keys",
                               "NewImage", "OldImage", "SequenceNumber", "SizeBytes",
                               "StreamViewType"}}, ...]}

Delivery follows Lambda's rules for a shard: records in order, one batch at a time, at least
once. With ``ParallelizationFactor`` N, up to N batches of a shard run at once: each record
goes to one of N lanes by its item's key (partition and sort key: Lambda keeps order per item
and promises nothing wider, so two items of one partition may be processed out of order),
each lane delivers in order with one batch in flight and its own retries, and the shard's
checkpoint stops before the lowest record any lane has not finished. Concurrent batches run
in separate processes in the local stack (:mod:`cloudchat_local._environments`), as Lambda
runs them in separate execution environments. A poller can hold each record back until its
``ApproximateCreationDateTime`` plus a delivery latency (``latency_s``), as Lambda lags the
table. A batch that raises is retried whole (halved first with ``BisectBatchOnFunctionError``);
with ``ReportBatchItemFailures`` the response ``{"batchItemFailures": [{"itemIdentifier":
<SequenceNumber>}]}`` checkpoints before the lowest failed record and retries from it (an
empty or null list is success; an empty, null or unknown identifier fails the whole batch).
Retries back off exponentially; after ``MaximumRetryAttempts`` (default -1: forever), or
when records are older than ``MaximumRecordAgeInSeconds``, the failed records are discarded:
logged, and described to the ``DestinationConfig.OnFailure`` SQS queue or SNS topic as Lambda
does (``requestContext``, ``responseContext``, ``DDBStreamBatchInfo``), when there is one.
Records that do not match ``FilterCriteria`` (:mod:`cloudchat_local._stream_filters`) are
dropped before batching. The checkpoint (last sequence number done) is kept per source in a
JSON file, so a restarted stack resumes where it stopped instead of replaying the stream.

Not emulated: ``TumblingWindowInSeconds`` (no window state), the function's timeout (a
handler is never cut off), S3 on-failure destinations.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import os
import queue
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cloudchat_local._environments import (
    Environment,
    InProcessEnvironment,
    ProcessEnvironment,
)
from cloudchat_local._stream_filters import FilterPattern
from cloudchat_local.errors import InvocationFailed, TemplateError, UnresolvedReference
from cloudchat_local.template import Template

__all__ = [
    "CheckpointStore",
    "FilterPattern",
    "StreamEventSource",
    "StreamPoller",
    "lambda_record",
    "stream_event_sources",
]

log = logging.getLogger("cloudchat_local.streams")

REPORT_BATCH_ITEM_FAILURES: Final = "ReportBatchItemFailures"
_UNSUPPORTED_WARN: Final = ("TumblingWindowInSeconds",)

Handler = Callable[[dict[str, Any], Any], Any]


# =========================================================================== template


@dataclass(frozen=True)
class StreamEventSource:
    """A function subscribed to a DynamoDB stream (an event source mapping)."""

    function_logical_id: str
    event_id: str
    function_name: str
    module: str
    handler_attr: str
    stream_arn: str
    starting_position: str = "LATEST"
    batch_size: int = 100
    maximum_batching_window_s: float = 0.0
    maximum_retry_attempts: int = -1
    maximum_record_age_s: int = -1
    bisect_on_error: bool = False
    report_batch_item_failures: bool = False
    filters: tuple[FilterPattern, ...] = ()
    timeout_s: float = 3.0
    memory_limit_in_mb: int = 128
    #: ``DestinationConfig.OnFailure.Destination``: an SQS queue or SNS topic ARN.
    on_failure_destination: str | None = None
    #: ``ParallelizationFactor``: batches of one shard processed at the same time (1..10).
    parallelization_factor: int = 1

    @property
    def key(self) -> str:
        """Identifies the mapping (its checkpoint key)."""
        return f"{self.function_logical_id}/{self.event_id}"

    def accepts(self, record: Mapping[str, Any]) -> bool:
        return not self.filters or any(f.matches(record) for f in self.filters)


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def stream_event_sources(template: Template, resolve: Mapping[str, str]) -> list[StreamEventSource]:
    """Every enabled ``Type: DynamoDB`` event of the template's functions, resolved.

    ``resolve`` is what provisioning resolved (``Table.StreamArn``, function names ...).
    """
    sources: list[StreamEventSource] = []
    for function in template.functions():
        events = function.properties.get("Events") or {}
        if not isinstance(events, Mapping):
            continue
        for event_id, event in events.items():
            if not isinstance(event, Mapping) or event.get("Type") != "DynamoDB":
                continue
            where = f"{function.logical_id}.Events.{event_id}"
            raw = dict(event.get("Properties") or {})
            destination = _on_failure_destination(template, raw.pop("DestinationConfig", None),
                                                  resolve, where)
            props = template.evaluate(raw, resolve, where=where) or {}
            if "Enabled" in props and not _truthy(props["Enabled"]):
                continue
            stream = props.get("Stream")
            if not isinstance(stream, str) or "/stream/" not in stream:
                raise TemplateError(f"{where}: Stream must resolve to a table stream ARN, got {stream!r}")
            position = str(props.get("StartingPosition", "LATEST")).upper()
            if position not in ("LATEST", "TRIM_HORIZON"):
                raise TemplateError(f"{where}: StartingPosition {position} is not supported for DynamoDB")
            for name in _UNSUPPORTED_WARN:
                if name in props:
                    log.warning("%s: %s is not emulated by the local stack", where, name)
            filters = tuple(
                FilterPattern(f.get("Pattern"), where)
                for f in ((props.get("FilterCriteria") or {}).get("Filters") or [])
            )
            batch_size = int(props.get("BatchSize", 100))
            if not 1 <= batch_size <= 10_000:
                raise TemplateError(f"{where}: BatchSize must be 1..10000")
            factor = int(props.get("ParallelizationFactor", 1))
            if not 1 <= factor <= 10:
                raise TemplateError(f"{where}: ParallelizationFactor must be 1..10")
            sources.append(
                StreamEventSource(
                    function_logical_id=function.logical_id,
                    event_id=str(event_id),
                    function_name=str(resolve.get(function.logical_id, function.logical_id)),
                    module=function.module,
                    handler_attr=function.handler_attr,
                    stream_arn=stream,
                    starting_position=position,
                    batch_size=batch_size,
                    maximum_batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                    maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                    maximum_record_age_s=int(props.get("MaximumRecordAgeInSeconds", -1)),
                    bisect_on_error=_truthy(props.get("BisectBatchOnFunctionError", False)),
                    report_batch_item_failures=REPORT_BATCH_ITEM_FAILURES
                    in (props.get("FunctionResponseTypes") or []),
                    filters=filters,
                    timeout_s=float(function.properties.get("Timeout", 3)),
                    memory_limit_in_mb=int(function.properties.get("MemorySize", 128)),
                    on_failure_destination=destination,
                    parallelization_factor=factor,
                )
            )
    return sources


def _on_failure_destination(
    template: Template, config: Any, resolve: Mapping[str, str], where: str
) -> str | None:
    on_failure = (config or {}).get("OnFailure") if isinstance(config, Mapping) else None
    if not isinstance(on_failure, Mapping) or "Destination" not in on_failure:
        return None
    try:
        destination = template.evaluate(on_failure["Destination"], resolve, where=where)
    except UnresolvedReference as exc:
        log.warning("%s: the on-failure destination is not available locally (%s)", where, exc)
        return None
    if not isinstance(destination, str) or not destination.startswith(("arn:aws:sqs:", "arn:aws:sns:")):
        log.warning("%s: on-failure destination %r is not emulated (SQS and SNS are)", where, destination)
        return None
    return destination


# =========================================================================== records


def _wire(value: Any) -> Any:
    """boto3's parsed record back to the JSON Lambda sends (bytes as base64, times as epoch)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    if isinstance(value, Mapping):
        return {str(k): _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_wire(v) for v in value]
    return value


def lambda_record(raw: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record (as boto3 returns it) in the shape Lambda gives the function."""
    record = _wire(raw)
    record["awsRegion"] = region
    record["eventSourceARN"] = stream_arn
    return dict(record)


def _seq(record: Mapping[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


# =========================================================================== checkpoints


class CheckpointStore:
    """The last sequence number each mapping has finished, per stream and shard (JSON file)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {}
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self._data = dict(loaded.get("checkpoints") or {})
            except ValueError:
                log.warning("ignoring unreadable stream checkpoints in %s", path)

    def get(self, key: str, stream_arn: str, shard_id: str) -> str | None:
        with self._lock:
            entry = self._data.get(key) or {}
            if entry.get("streamArn") != stream_arn:
                return None
            value = (entry.get("shards") or {}).get(shard_id)
            return str(value) if value is not None else None

    def put(self, key: str, stream_arn: str, shard_id: str, sequence_number: str) -> None:
        with self._lock:
            entry = self._data.get(key)
            if not entry or entry.get("streamArn") != stream_arn:
                entry = {"streamArn": stream_arn, "shards": {}}
                self._data[key] = entry
            entry["shards"][shard_id] = sequence_number
            self._flush()

    def _flush(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": 1, "checkpoints": self._data}, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)


# =========================================================================== poller


@dataclass
class _Lane:
    """One of a shard's ``ParallelizationFactor`` lanes: the records of the items hashed to it,
    in stream order, and at most one batch of them in flight."""

    index: int
    pending: list[dict[str, Any]] = field(default_factory=list)
    first_pending_at: float | None = None
    attempts: int = 0
    limit: int | None = None  # bisected batch size
    retry_at: float = 0.0
    in_flight: bool = False


@dataclass
class _Shard:
    shard_id: str
    lanes: list[_Lane]
    iterator: str | None = None
    #: Read from the stream, not yet due (``latency_s``): (due at, epoch seconds; record).
    transit: deque[tuple[float, dict[str, Any]]] = field(default_factory=deque)
    fetched_upto: str | None = None  # last sequence number read from the stream
    done_upto: str | None = None  # last sequence number checkpointed
    closed: bool = False

    def outstanding(self) -> list[int]:
        """The lowest unfinished sequence number of the transit queue and of each lane."""
        firsts = [_seq(self.transit[0][1])] if self.transit else []
        return firsts + [_seq(lane.pending[0]) for lane in self.lanes if lane.pending]


@dataclass(frozen=True)
class _Outcome:
    """None: the whole batch is done; n: records [0, n) are done, retry from n."""

    retry_from: int | None
    function_error: bool = False


def _lane_of(record: Mapping[str, Any], lanes: int) -> int:
    """The lane of a record's item. Lambda keeps order per item (partition and sort key) when
    it runs a shard's batches concurrently, and promises nothing wider: lanes by item."""
    if lanes == 1:
        return 0
    keys = json.dumps(record["dynamodb"].get("Keys") or {}, sort_keys=True)
    return zlib.crc32(keys.encode("utf-8")) % lanes


class StreamPoller:
    """Polls one stream for one mapping on a background thread and invokes ``handler``.

    ``latency_s`` delays each record until its ``ApproximateCreationDateTime`` plus that
    many seconds, as Lambda's delivery lags the table. ``isolate``: with a
    ``ParallelizationFactor`` above 1, each lane's batches run in a process of their own
    (:class:`~cloudchat_local._environments.ProcessEnvironment`, loading the source's
    handler), as Lambda runs concurrent batches in separate execution environments;
    otherwise ``handler`` is called in this process (from one thread per lane: it must be
    thread-safe when batches run concurrently)."""

    def __init__(
        self,
        source: StreamEventSource,
        handler: Handler,
        *,
        client: Any,
        checkpoints: CheckpointStore | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        poll_interval_s: float = 0.2,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
        context_factory: Callable[[StreamEventSource], Any] | None = None,
        clients: Callable[[str], Any] | None = None,
        latency_s: float = 0.0,
        isolate: bool = False,
    ) -> None:
        if latency_s < 0:
            raise ValueError("latency_s must be >= 0")
        self.source = source
        self.handler = handler
        self.client = client
        self.checkpoints = checkpoints or CheckpointStore(None)
        self.region = region
        self.account_id = account_id
        self.poll_interval_s = poll_interval_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.context_factory = context_factory or self._default_context
        self.clients = clients
        self.latency_s = latency_s
        self.isolate = isolate and source.parallelization_factor > 1
        self.invocations = 0
        self.discarded = 0
        self._page = min(1000, max(100, source.batch_size))  # GetRecords Limit
        self._shards: dict[str, _Shard] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()  # a batch finished, or stop
        self._finished: queue.SimpleQueue[tuple[_Shard, _Lane, list[dict[str, Any]], _Outcome]] = \
            queue.SimpleQueue()
        self._workers: set[threading.Thread] = set()  # batches in flight
        self._workers_lock = threading.Lock()
        self._environments: dict[tuple[str, int], Environment] = {}
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> StreamPoller:
        """Opens the shard iterators (so LATEST means "from now"), then polls in a thread."""
        self._discover()
        self._thread = threading.Thread(
            target=self._run, name=f"stream-{self.source.function_logical_id}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stops polling; batches in flight finish (a handler is never cut off)."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._workers_lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        if (self._thread is not None and self._thread.is_alive()) or any(
                w.is_alive() for w in workers):
            log.warning("%s: the stream handler is still running", self.source.key)
            return
        with contextlib.suppress(Exception):
            self._collect()  # checkpoints the batches that finished since the last round
        for environment in self._environments.values():
            with contextlib.suppress(Exception):
                environment.close()

    # -- loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if not self._shards:
                    self._discover()
                busy = self._collect()
                for shard in list(self._shards.values()):
                    busy = self._step(shard) or busy
                failures = 0
            except Exception as exc:
                if self._stop.is_set():
                    break
                failures += 1
                log.warning("%s: polling %s failed: %s", self.source.key, self.source.stream_arn, exc)
                self._stop.wait(min(self.retry_max_s, self.poll_interval_s * 2**min(failures, 6)))
                continue
            if not busy:
                self._wake.wait(self._idle_wait())

    def _idle_wait(self) -> float:
        now, wall = time.monotonic(), time.time()
        wait = self.poll_interval_s
        window = self.source.maximum_batching_window_s
        for shard in self._shards.values():
            if shard.transit:
                wait = min(wait, shard.transit[0][0] - wall)  # the next record is due
            for lane in shard.lanes:
                if not lane.pending or lane.in_flight:
                    continue
                if lane.retry_at > now:
                    wait = min(wait, lane.retry_at - now)
                if window > 0 and lane.first_pending_at is not None:
                    wait = min(wait, lane.first_pending_at + window - now)  # the batch is due
        return max(0.0, wait)

    def _discover(self) -> None:
        description = self.client.describe_stream(StreamArn=self.source.stream_arn)["StreamDescription"]
        for raw in description.get("Shards") or []:
            shard_id = str(raw["ShardId"])
            if shard_id not in self._shards:
                lanes = [_Lane(i) for i in range(self.source.parallelization_factor)]
                shard = _Shard(shard_id, lanes)
                shard.done_upto = self.checkpoints.get(self.source.key, self.source.stream_arn, shard_id)
                shard.iterator = self._open(shard, shard.done_upto)
                self._shards[shard_id] = shard
                if self.isolate:
                    for lane in lanes:
                        self._environment(shard, lane)

    def _open(self, shard: _Shard, after: str | None) -> str:
        kwargs: dict[str, Any] = {"StreamArn": self.source.stream_arn, "ShardId": shard.shard_id}
        if after is not None:
            try:
                return str(self.client.get_shard_iterator(
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after, **kwargs
                )["ShardIterator"])
            except Exception as exc:
                log.warning("%s: cannot resume after %s (%s): reading from the oldest record",
                            self.source.key, after, exc)
                return str(self.client.get_shard_iterator(
                    ShardIteratorType="TRIM_HORIZON", **kwargs)["ShardIterator"])
        return str(self.client.get_shard_iterator(
            ShardIteratorType=self.source.starting_position, **kwargs)["ShardIterator"])

    def _step(self, shard: _Shard) -> bool:
        """One round for a shard; True when it should be polled again at once: a batch was
        started, or a full page came back (more records are waiting). A batch still filling
        within its batching window waits for the next poll, as Lambda's poller does (about
        four GetRecords per second and shard), instead of reading the stream in a loop.
        Reading ahead stops at ``BatchSize`` records per lane."""
        source = self.source
        fetched = 0
        buffered = len(shard.transit) + sum(len(lane.pending) for lane in shard.lanes)
        if buffered < source.batch_size * len(shard.lanes) and shard.iterator and not shard.closed:
            fetched = self._fetch(shard)
        more = fetched >= self._page
        self._deliver(shard)
        if not shard.outstanding():
            if shard.fetched_upto is not None and shard.fetched_upto != shard.done_upto:
                self._checkpoint(shard, shard.fetched_upto)
            return more
        started = False
        for lane in shard.lanes:
            if not lane.in_flight:
                started = self._dispatch(shard, lane) or started
        return more or started

    def _deliver(self, shard: _Shard) -> None:
        """Records whose delivery latency has passed go to their lanes, in stream order."""
        now = time.time()
        while shard.transit and shard.transit[0][0] <= now:
            _, record = shard.transit.popleft()
            lane = shard.lanes[_lane_of(record, len(shard.lanes))]
            if not lane.pending:
                lane.first_pending_at = time.monotonic()
            lane.pending.append(record)

    def _dispatch(self, shard: _Shard, lane: _Lane) -> bool:
        """Starts the lane's next batch if it is due; True if it did (or dropped records)."""
        source = self.source
        if not lane.pending:
            return False
        now = time.monotonic()
        if (
            source.maximum_batching_window_s > 0
            and len(lane.pending) < source.batch_size
            and lane.first_pending_at is not None
            and now - lane.first_pending_at < source.maximum_batching_window_s
        ):
            return False
        if now < lane.retry_at:
            return False
        if self._drop_expired(shard, lane) and not lane.pending:
            return True
        size = min(source.batch_size, lane.limit or source.batch_size)
        batch = lane.pending[:size]
        lane.in_flight = True
        self.invocations += 1
        environment = self._environment(shard, lane)

        def work() -> None:
            try:
                outcome = self._invoke(batch, environment)
            except BaseException:  # never lose the lane: a crash of ours is a function error
                log.exception("%s: invoking a batch failed", source.key)
                outcome = _Outcome(0, function_error=True)
            self._finished.put((shard, lane, batch, outcome))
            self._wake.set()
            with self._workers_lock:
                self._workers.discard(threading.current_thread())

        worker = threading.Thread(target=work, daemon=True,
                                  name=f"stream-{source.function_logical_id}-{lane.index}")
        with self._workers_lock:
            self._workers.add(worker)
        worker.start()
        return True

    def _environment(self, shard: _Shard, lane: _Lane) -> Environment:
        key = (shard.shard_id, lane.index)
        if key not in self._environments:
            self._environments[key] = (
                ProcessEnvironment(self.source.module, self.source.handler_attr) if self.isolate
                else InProcessEnvironment(self.handler))
        return self._environments[key]

    def _collect(self) -> bool:
        """Applies the outcome of every batch that finished; True if there was one."""
        collected = False
        while True:
            try:
                shard, lane, batch, outcome = self._finished.get_nowait()
            except queue.Empty:
                return collected
            collected = True
            lane.in_flight = False
            self._settle(shard, lane, batch, outcome)

    def _settle(self, shard: _Shard, lane: _Lane, batch: list[dict[str, Any]], outcome: _Outcome) -> None:
        source = self.source
        if outcome.retry_from is None:
            self._advance(shard, lane, len(batch))
            return
        if outcome.retry_from > 0:
            self._advance(shard, lane, outcome.retry_from)
            lane.limit = None
            self._schedule_retry(lane)
            return
        # Nothing in the batch succeeded.
        if outcome.function_error and source.bisect_on_error and len(batch) > 1:
            lane.limit = max(1, len(batch) // 2)  # halving does not count as a retry
            return
        lane.attempts += 1
        if 0 <= source.maximum_retry_attempts < lane.attempts:
            log.error(
                "%s: discarding %d record(s) (sequence numbers %s..%s) after %d retries",
                source.key, len(batch), batch[0]["dynamodb"]["SequenceNumber"],
                batch[-1]["dynamodb"]["SequenceNumber"], source.maximum_retry_attempts,
            )
            self._on_failure(shard, batch, "RetryAttemptsExhausted", lane.attempts,
                             "Unhandled" if outcome.function_error else None)
            self.discarded += len(batch)
            self._advance(shard, lane, len(batch))
            return
        self._schedule_retry(lane, attempts=lane.attempts)

    def _fetch(self, shard: _Shard) -> int:
        source = self.source
        try:
            response = self.client.get_records(ShardIterator=shard.iterator, Limit=self._page)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("ExpiredIteratorException", "TrimmedDataAccessException", "InternalFailure",
                        "ResourceNotFoundException") or "500" in str(exc):
                # Everything read so far is kept (in transit or in a lane): go on after it.
                log.info("%s: reopening shard %s (%s)", source.key, shard.shard_id, code or exc)
                shard.iterator = self._open(shard, shard.fetched_upto or shard.done_upto)
                return 0
            raise
        shard.iterator = response.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True
        records = response.get("Records") or []
        for raw in records:
            record = lambda_record(raw, source.stream_arn, self.region)
            shard.fetched_upto = record["dynamodb"]["SequenceNumber"]
            if source.accepts(record):
                created = (raw.get("dynamodb") or {}).get("ApproximateCreationDateTime")
                at = created.timestamp() if isinstance(created, dt.datetime) else time.time()
                shard.transit.append((at + self.latency_s, record))
        return len(records)

    def _drop_expired(self, shard: _Shard, lane: _Lane) -> bool:
        max_age = self.source.maximum_record_age_s
        if max_age < 0:
            return False
        cutoff = time.time() - max_age
        expired = 0
        for record in lane.pending:
            created = record["dynamodb"].get("ApproximateCreationDateTime")
            if isinstance(created, int | float) and created < cutoff:
                expired += 1
            else:
                break
        if expired:
            log.warning("%s: discarding %d record(s) older than %d s", self.source.key, expired, max_age)
            self._on_failure(shard, lane.pending[:expired], "RecordAgeExceeded", lane.attempts, None)
            self.discarded += expired
            self._advance(shard, lane, expired)
        return expired > 0

    def _advance(self, shard: _Shard, lane: _Lane, count: int) -> None:
        del lane.pending[:count]
        lane.attempts = 0
        lane.retry_at = 0.0
        lane.limit = None
        if not lane.pending:
            lane.first_pending_at = None
        # The shard's checkpoint stops before the lowest record not done in any lane.
        outstanding = shard.outstanding()
        upto = str(min(outstanding) - 1) if outstanding else shard.fetched_upto
        if upto is not None and (shard.done_upto is None or int(upto) > int(shard.done_upto)):
            self._checkpoint(shard, upto)

    def _checkpoint(self, shard: _Shard, sequence_number: str) -> None:
        shard.done_upto = sequence_number
        self.checkpoints.put(self.source.key, self.source.stream_arn, shard.shard_id, sequence_number)

    def _schedule_retry(self, lane: _Lane, attempts: int = 1) -> None:
        delay = min(self.retry_max_s, self.retry_initial_s * 2 ** max(0, attempts - 1))
        lane.retry_at = time.monotonic() + delay

    def _invoke(self, batch: list[dict[str, Any]], environment: Environment) -> _Outcome:
        source = self.source
        event = {"Records": json.loads(json.dumps(batch))}
        context = self.context_factory(source)
        try:
            response = environment.invoke(event, context)
            response = json.loads(json.dumps(response)) if response is not None else None
        except Exception as exc:
            isolated = isinstance(exc, InvocationFailed)  # its environment logged the traceback
            log.error("%s: %s failed on %d record(s) (sequence numbers %s..%s); retrying%s",
                      source.key, source.function_name, len(batch),
                      batch[0]["dynamodb"]["SequenceNumber"], batch[-1]["dynamodb"]["SequenceNumber"],
                      f" ({exc})" if isolated else "", exc_info=not isolated)
            return _Outcome(0, function_error=True)
        if not source.report_batch_item_failures or not isinstance(response, Mapping):
            return _Outcome(None)
        failures = response.get("batchItemFailures")
        if not failures:
            return _Outcome(None)
        positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(batch)}
        lowest: int | None = None
        for failure in failures if isinstance(failures, list) else [None]:
            identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
            if not identifier or str(identifier) not in positions:
                log.warning("%s: batchItemFailures has an invalid itemIdentifier %r: the whole "
                            "batch failed", source.key, identifier)
                return _Outcome(0)
            index = positions[str(identifier)]
            lowest = index if lowest is None else min(lowest, index)
        assert lowest is not None
        log.warning("%s: %s reported %d failed record(s) of %d; retrying from sequence number %s",
                    source.key, source.function_name, len(failures), len(batch),
                    batch[lowest]["dynamodb"]["SequenceNumber"])
        return _Outcome(lowest)

    def _on_failure(
        self, shard: _Shard, batch: list[dict[str, Any]], condition: str, attempts: int,
        function_error: str | None,
    ) -> None:
        """What Lambda sends to an on-failure destination for a discarded stream batch."""
        destination = self.source.on_failure_destination
        if destination is None or self.clients is None or not batch:
            return

        def iso(record: Mapping[str, Any]) -> str:
            created = record["dynamodb"].get("ApproximateCreationDateTime") or time.time()
            return dt.datetime.fromtimestamp(float(created), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response["functionError"] = function_error
        document = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{self.region}:{self.account_id}:function:"
                               f"{self.source.function_name}",
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": iso(batch[0]),
                "approximateArrivalOfLastRecord": iso(batch[-1]),
                "batchSize": len(batch),
                "streamArn": self.source.stream_arn,
            },
        }
        body = json.dumps(document)
        try:
            if destination.startswith("arn:aws:sqs:"):
                _, _, _, _, account, name = destination.split(":", 5)
                sqs = self.clients("sqs")
                url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
                sqs.send_message(QueueUrl=url, MessageBody=body)
            else:
                self.clients("sns").publish(TopicArn=destination, Message=body)
        except Exception as exc:
            log.error("%s: could not send the failed batch to %s: %s", self.source.key, destination, exc)

    def _default_context(self, source: StreamEventSource) -> Any:
        from cloudchat_local.emulator import LambdaContext

        return LambdaContext(
            function_name=source.function_name,
            memory_limit_in_mb=source.memory_limit_in_mb,
            timeout_s=source.timeout_s,
            region=self.region,
            account_id=self.account_id,
        )


def stop_all(pollers: Sequence[StreamPoller], timeout: float = 15.0) -> None:
    for poller in pollers:
        poller._stop.set()
    deadline = time.monotonic() + timeout
    for poller in pollers:
        with contextlib.suppress(Exception):
            poller.stop(max(0.1, deadline - time.monotonic()))
