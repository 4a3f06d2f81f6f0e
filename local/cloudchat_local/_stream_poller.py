"""The poller of one event source mapping: shards, lanes, batches, retries and checkpoints,
as Lambda's DynamoDB Streams poller runs them (see :mod:`cloudchat_local._streams`)."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cloudchat_local._environments import Environment, InProcessEnvironment, ProcessEnvironment
from cloudchat_local._stream_batches import Outcome, invoke_batch, lambda_context, send_to_on_failure
from cloudchat_local._stream_records import CheckpointStore
from cloudchat_local._stream_shards import Lane, Shard, ShardReader, lane_of
from cloudchat_local._stream_sources import StreamEventSource

if TYPE_CHECKING:
    from types_boto3_dynamodbstreams import DynamoDBStreamsClient

    from cloudchat_local._provision_base import Clients

__all__ = ["StreamPoller", "stop_all"]

log = logging.getLogger("cloudchat_local.streams")

Handler = Callable[[dict[str, Any], Any], Any]


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
        client: DynamoDBStreamsClient,
        checkpoints: CheckpointStore | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        poll_interval_s: float = 0.2,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 5.0,
        context_factory: Callable[[StreamEventSource], Any] | None = None,
        clients: Clients | None = None,
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
        self.context_factory = context_factory or (
            lambda source: lambda_context(source, region, account_id))
        self.clients = clients
        self.latency_s = latency_s
        self.isolate = isolate and source.parallelization_factor > 1
        self.discarded = 0
        self._reader = ShardReader(source, client, region=region, latency_s=latency_s)
        self._shards: dict[str, Shard] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()  # a batch finished, or stop
        self._finished: queue.SimpleQueue[tuple[Shard, Lane, list[dict[str, Any]], Outcome]] = \
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
        for shard_id in self._reader.shard_ids():
            if shard_id not in self._shards:
                lanes = [Lane(i) for i in range(self.source.parallelization_factor)]
                shard = Shard(shard_id, lanes)
                shard.done_upto = self.checkpoints.get(self.source.key, self.source.stream_arn, shard_id)
                shard.iterator = self._reader.open(shard, shard.done_upto)
                self._shards[shard_id] = shard
                if self.isolate:
                    for lane in lanes:
                        self._environment(shard, lane)

    def _step(self, shard: Shard) -> bool:
        """One round for a shard; True when it should be polled again at once: a batch was
        started, or a full page came back (more records are waiting). A batch still filling
        within its batching window waits for the next poll, as Lambda's poller does (about
        four GetRecords per second and shard), instead of reading the stream in a loop.
        Reading ahead stops at ``BatchSize`` records per lane."""
        source = self.source
        fetched = 0
        buffered = len(shard.transit) + sum(len(lane.pending) for lane in shard.lanes)
        if buffered < source.batch_size * len(shard.lanes) and shard.iterator and not shard.closed:
            fetched = self._reader.fetch(shard)
        more = fetched >= self._reader.page
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

    def _deliver(self, shard: Shard) -> None:
        """Records whose delivery latency has passed go to their lanes, in stream order."""
        now = time.time()
        while shard.transit and shard.transit[0][0] <= now:
            _, record = shard.transit.popleft()
            lane = shard.lanes[lane_of(record, len(shard.lanes))]
            if not lane.pending:
                lane.first_pending_at = time.monotonic()
            lane.pending.append(record)

    def _dispatch(self, shard: Shard, lane: Lane) -> bool:
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
        environment = self._environment(shard, lane)

        def work() -> None:
            try:
                outcome = invoke_batch(self.source, batch, environment, self.context_factory(self.source))
            except BaseException:  # never lose the lane: a crash of ours is a function error
                log.exception("%s: invoking a batch failed", source.key)
                outcome = Outcome(0, function_error=True)
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

    def _environment(self, shard: Shard, lane: Lane) -> Environment:
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

    def _settle(self, shard: Shard, lane: Lane, batch: list[dict[str, Any]], outcome: Outcome) -> None:
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

    def _drop_expired(self, shard: Shard, lane: Lane) -> bool:
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

    def _advance(self, shard: Shard, lane: Lane, count: int) -> None:
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

    def _checkpoint(self, shard: Shard, sequence_number: str) -> None:
        shard.done_upto = sequence_number
        self.checkpoints.put(self.source.key, self.source.stream_arn, shard.shard_id, sequence_number)

    def _schedule_retry(self, lane: Lane, attempts: int = 1) -> None:
        delay = min(self.retry_max_s, self.retry_initial_s * 2 ** max(0, attempts - 1))
        lane.retry_at = time.monotonic() + delay

    def _on_failure(
        self, shard: Shard, batch: list[dict[str, Any]], condition: str, attempts: int,
        function_error: str | None,
    ) -> None:
        send_to_on_failure(self.source, self.clients, region=self.region, account_id=self.account_id,
                           shard_id=shard.shard_id, batch=batch, condition=condition,
                           attempts=attempts, function_error=function_error)


def stop_all(pollers: Sequence[StreamPoller], timeout: float = 15.0) -> None:
    for poller in pollers:
        poller._stop.set()
    deadline = time.monotonic() + timeout
    for poller in pollers:
        with contextlib.suppress(Exception):
            poller.stop(max(0.1, deadline - time.monotonic()))
