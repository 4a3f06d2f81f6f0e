"""One stream batch, fanned out by partition, several partitions at once (bounded).

A batch's records are grouped by their item's partition key (a conversation's messages,
members and title share ``CONV#<id>``; a user's presence is under the user), each group is
handed whole, in stream order, to a :class:`~cloudchat.fanout.Fanout` of its own, and up to
``workers`` groups run at the same time on a thread pool that lives as long as the process
(the Lambda execution environment). The work is waiting on DynamoDB, AppSync and SNS, so
threads overlap it: a batch takes about as long as its slowest conversation instead of the
sum of all of them.

What stays as it was:

* order: one partition's records are handled in order by one Fanout, which is stricter than
  what Lambda itself keeps across concurrent batches (per item); nothing in the fan-out
  relies on order across partitions (docs/operations.md, "The stream mapping");
* coalescing: a run of a conversation's messages still gives each member one MESSAGE event;
* at-least-once: the batch's result is the lowest index any group failed at (Lambda
  re-delivers from there). Groups that had already finished records after it redo them on
  the retry: their writes are conditional, notifications are claimed, and user events are
  at-least-once, so a failure can repeat some events of other conversations, never lose one.

Bounds: ``workers`` groups at a time per batch (and per process: the pool is shared); within
a group, its two reads at once (:func:`both`) and its members' independent requests (list
positions, notification claims and sends) at most ``CALLS`` at a time per process
(:func:`for_each`), on a second pool (the groups' workers wait on it; nothing running on it
waits on a pool, so neither can deadlock); its publish calls bounded by the
publisher (``cloudchat.publisher.CONCURRENCY`` requests in flight per process, on as many
kept-alive connections); and a batch holds at most the mapping's ``BatchSize`` records.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from cloudchat.store import stream_partition

WORKERS = 16  # partitions of one batch handled at once (FANOUT_WORKERS overrides it)
CALLS = 16  # per-member requests (list positions, notification claims) in flight per process

T = TypeVar("T")
U = TypeVar("U")


class BatchHandler(Protocol):
    last_error: Exception | None

    def handle_batch(self, records: Sequence[Mapping[str, Any]]) -> int | None: ...


_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fanout")
            _pool_size = workers
        return _pool


_calls: ThreadPoolExecutor | None = None


def for_each(call: Callable[[T], Any], items: Iterable[T]) -> None:
    """``call(item)`` for every item, up to ``CALLS`` at once across the process (a pool of
    its own: the partitions' workers wait on it, so it must not be theirs); returns when all
    are done and raises the first failure then. For independent per-member requests of one
    partition: conditional list-position writes, notification claims and their sends."""
    todo = list(items)
    if len(todo) <= 1:
        for item in todo:
            call(item)
        return
    pool = _calls_pool()
    futures = [pool.submit(call, item) for item in todo]
    errors = [e for e in (f.exception() for f in futures) if e is not None]
    if errors:
        raise errors[0]


def _calls_pool() -> ThreadPoolExecutor:
    global _calls
    with _pool_lock:
        if _calls is None:
            _calls = ThreadPoolExecutor(max_workers=CALLS, thread_name_prefix="fanout-call")
        return _calls


def both(first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
    """``first()`` in this thread while ``second()`` runs on the calls' pool: both results,
    or the first failure once both have finished. For two independent reads."""
    other = _calls_pool().submit(second)
    try:
        mine = first()
    except BaseException:
        other.exception()  # (let it finish: nothing runs on after a failure)
        raise
    return mine, other.result()


def partitions(records: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """The records' indices grouped by partition key, each group in stream order, the groups
    in the order of their first record."""
    groups: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        keys = (record.get("dynamodb") or {}).get("Keys")
        groups.setdefault(stream_partition(keys), []).append(index)
    return list(groups.values())


def handle_by_partition(records: Sequence[Mapping[str, Any]],
                        make: Callable[[], BatchHandler],
                        workers: int = WORKERS) -> tuple[int | None, Exception | None]:
    """Handles ``records`` partition by partition, up to ``workers`` partitions at once;
    returns (None, None) when every record was handled, else the lowest index not handled
    and why. With one partition, or ``workers`` 1, it is one ``handle_batch`` call on the
    whole batch in this thread."""
    groups = partitions(records)
    if workers <= 1 or len(groups) <= 1:
        handler = make()
        failed = handler.handle_batch(records)
        return (None, None) if failed is None else (failed, handler.last_error)

    def run(indices: list[int]) -> tuple[int | None, Exception | None]:
        handler = make()
        failed = handler.handle_batch([records[i] for i in indices])
        return (None, None) if failed is None else (indices[failed], handler.last_error)

    pool = _executor(workers)
    outcomes = [f.result() for f in [pool.submit(run, g) for g in groups]]
    failures = [(i, e) for i, e in outcomes if i is not None]
    return min(failures, key=lambda f: f[0]) if failures else (None, None)
