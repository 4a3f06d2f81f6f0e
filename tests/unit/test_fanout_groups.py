"""cloudchat.fanout_groups: a stream batch handled partition by partition, several at once
(bounded), each partition's records in stream order, the lowest failure reported."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from cloudchat import fanout_groups
from cloudchat.fanout_groups import handle_by_partition, partitions
from cloudchat.store import stream_partition


def record(pk: str, n: int) -> dict[str, Any]:
    return {"eventName": "INSERT", "dynamodb": {
        "Keys": {"PK": {"S": pk}, "SK": {"S": f"MSG#{n:012d}"}}, "SequenceNumber": str(n)}}


class Recorder:
    """Fake Fanouts: record what each handled, in which thread, and how many ran at once."""

    def __init__(self, delay: float = 0.0, fail_at: dict[str, int] | None = None) -> None:
        self.delay = delay
        self.fail_at = fail_at or {}
        self.calls: list[list[str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def make(self) -> Handler:
        return Handler(self)


class Handler:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.last_error: Exception | None = None

    def handle_batch(self, records: Sequence[Mapping[str, Any]]) -> int | None:
        r = self.recorder
        with r.lock:
            r.in_flight += 1
            r.max_in_flight = max(r.max_in_flight, r.in_flight)
            r.calls.append([x["dynamodb"]["SequenceNumber"] for x in records])
        try:
            time.sleep(r.delay)
            pk = records[0]["dynamodb"]["Keys"]["PK"]["S"]
            if pk in r.fail_at:
                self.last_error = RuntimeError(f"{pk} failed")
                return r.fail_at[pk]
            return None
        finally:
            with r.lock:
                r.in_flight -= 1


def test_the_partition_of_a_record_is_its_items_partition_key() -> None:
    assert stream_partition({"PK": {"S": "CONV#a"}, "SK": {"S": "MSG#1"}}) == "CONV#a"
    assert stream_partition(None) == stream_partition({}) == ""


def test_records_are_grouped_by_partition_in_stream_order() -> None:
    records = [record("a", 1), record("b", 2), record("a", 3), record("c", 4), record("b", 5)]
    assert partitions(records) == [[0, 2], [1, 4], [3]]


def test_each_partition_is_handled_whole_and_in_order() -> None:
    rec = Recorder()
    records = [record(pk, n) for n, pk in enumerate("abacbca", start=1)]
    assert handle_by_partition(records, rec.make, workers=4) == (None, None)
    assert sorted(rec.calls) == [["1", "3", "7"], ["2", "5"], ["4", "6"]]


def test_partitions_run_concurrently_up_to_the_bound() -> None:
    rec = Recorder(delay=0.2)
    records = [record(f"p{i}", i) for i in range(6)]
    started = time.perf_counter()
    assert handle_by_partition(records, rec.make, workers=3) == (None, None)
    took = time.perf_counter() - started
    assert rec.max_in_flight == 3  # never more than the bound, and the bound is used
    assert len(rec.calls) == 6
    assert took < 6 * 0.2 * 0.75  # two rounds of three, not six one after another


def test_one_worker_is_one_call_on_the_whole_batch() -> None:
    rec = Recorder()
    records = [record("a", 1), record("b", 2), record("a", 3)]
    assert handle_by_partition(records, rec.make, workers=1) == (None, None)
    assert rec.calls == [["1", "2", "3"]]


def test_the_lowest_failed_index_of_any_partition_is_reported() -> None:
    # partition a = indices [0, 2, 4], b = [1, 3, 5]; a fails at its 2nd (index 2), b at its
    # 3rd (index 5): Lambda must re-deliver from index 2
    rec = Recorder(fail_at={"a": 1, "b": 2})
    records = [record(pk, n) for n, pk in enumerate("ababab")]
    failed, error = handle_by_partition(records, rec.make, workers=2)
    assert failed == 2
    assert str(error) == "a failed"
    rec_b = Recorder(fail_at={"b": 0})
    failed, error = handle_by_partition(records, rec_b.make, workers=2)
    assert (failed, str(error)) == (1, "b failed")


def test_the_pool_is_reused_across_batches() -> None:
    first = fanout_groups._executor(3)
    assert fanout_groups._executor(3) is first
    other = fanout_groups._executor(2)
    assert other is not first


def test_for_each_calls_every_item_at_most_calls_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout_groups, "_calls", None)
    monkeypatch.setattr(fanout_groups, "CALLS", 3)
    lock = threading.Lock()
    state = {"now": 0, "max": 0}
    done: list[int] = []

    def call(item: int) -> None:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
            done.append(item)

    fanout_groups.for_each(call, range(9))
    assert sorted(done) == list(range(9))
    assert state["max"] == 3


def test_for_each_raises_the_first_failure_after_every_call_finished(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout_groups, "_calls", None)
    done: list[int] = []

    def call(item: int) -> None:
        if item == 2:
            raise ValueError("two")
        time.sleep(0.05)
        done.append(item)

    with pytest.raises(ValueError, match="two"):
        fanout_groups.for_each(call, range(5))
    assert sorted(done) == [0, 1, 3, 4]  # the others were not abandoned half-way
    with pytest.raises(ValueError, match="two"):
        fanout_groups.for_each(call, [2])  # (one item: in this thread)


def _race_for_clients(threads: int = 12) -> tuple[list[Any], list[Any], list[BaseException]]:
    """``threads`` threads asking at the same moment for the DynamoDB client and the
    credentials, on a freshly reset ``cloudchat.aws``."""
    from cloudchat import aws

    aws.reset()
    barrier = threading.Barrier(threads)
    made: list[Any] = []
    creds: list[Any] = []
    errors: list[BaseException] = []

    def make() -> None:
        barrier.wait()
        try:
            made.append(aws.dynamodb())
            creds.append(aws.credentials())
        except BaseException as exc:  # (KeyError: 'credential_provider' without the lock)
            errors.append(exc)

    running = [threading.Thread(target=make) for _ in range(threads)]
    for t in running:
        t.start()
    for t in running:
        t.join(30)
    return made, creds, errors


def test_clients_made_from_many_threads_at_once_are_one_client(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3's default session is not thread-safe (boto/boto3#1592): the partitions' workers
    may all ask for the DynamoDB client first at once; it is made once, under a lock."""
    from cloudchat import aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for _ in range(3):
        made, creds, errors = _race_for_clients()
        assert errors == []
        assert len(made) == len(creds) == 12
        assert len({id(m) for m in made}) == 1 and len({id(c) for c in creds}) == 1
    aws.reset()


def test_both_runs_two_calls_at_once_and_returns_both_results() -> None:
    started = time.perf_counter()

    def slow(value: int) -> int:
        time.sleep(0.2)
        return value

    assert fanout_groups.both(lambda: slow(1), lambda: slow(2)) == (1, 2)
    assert time.perf_counter() - started < 0.35  # at the same time, not one after the other


def test_both_raises_either_failure_after_both_finished() -> None:
    finished: list[str] = []

    def fail() -> int:
        raise ValueError("first")

    def slow() -> int:
        time.sleep(0.1)
        finished.append("second")
        return 2

    with pytest.raises(ValueError, match="first"):
        fanout_groups.both(fail, slow)
    assert finished == ["second"]

    def fail_second() -> int:
        raise KeyError("second")

    with pytest.raises(KeyError):
        fanout_groups.both(lambda: 1, fail_second)
