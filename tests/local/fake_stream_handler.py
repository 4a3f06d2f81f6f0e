"""A throwaway DynamoDB stream handler for the stream poller tests (in no template).

Each record's ``NewImage.mode`` says what to do with it; "once" modes count deliveries per
sequence number, so a retried record succeeds the second time:

* ``ok`` (or no mode): succeed
* ``raise-once`` / ``always-raise``: raise (a function error: the whole batch fails)
* ``fail-once`` / ``always-fail``: report it in ``batchItemFailures``
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

_cond = threading.Condition()
CALLS: list[list[dict[str, Any]]] = []
CONTEXTS: list[Any] = []
_deliveries: Counter[str] = Counter()


def reset() -> None:
    with _cond:
        CALLS.clear()
        CONTEXTS.clear()
        _deliveries.clear()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event["Records"]
    with _cond:
        CALLS.append(records)
        CONTEXTS.append(context)
        _cond.notify_all()
    failures = []
    for record in records:
        seq = record["dynamodb"]["SequenceNumber"]
        mode = ((record["dynamodb"].get("NewImage") or {}).get("mode") or {}).get("S", "ok")
        with _cond:
            _deliveries[seq] += 1
            first = _deliveries[seq] == 1
        if mode == "always-raise" or (mode == "raise-once" and first):
            raise RuntimeError(f"handler failed on {seq}")
        if mode == "always-fail" or (mode == "fail-once" and first):
            failures.append({"itemIdentifier": seq})
    return {"batchItemFailures": failures}


def keys(batch: list[dict[str, Any]]) -> list[str]:
    return [r["dynamodb"]["Keys"]["PK"]["S"] for r in batch]


def batches() -> list[list[str]]:
    with _cond:
        return [keys(b) for b in CALLS]


def delivered() -> list[str]:
    return [k for b in batches() for k in b]


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Waits until ``predicate()`` holds after some invocation (or already holds)."""
    with _cond:
        return _cond.wait_for(predicate, timeout)
