"""A throwaway DynamoDB stream handler for the stream poller tests (in no template).

Each record's ``NewImage.mode`` says what to do with it; "once" modes count deliveries per
sequence number, so a retried record succeeds the second time:

* ``ok`` (or no mode): succeed
* ``raise-once`` / ``always-raise``: raise (a function error: the whole batch fails)
* ``fail-once`` / ``always-fail``: report it in ``batchItemFailures``
* ``chatty``: succeed after writing 1 MB of log lines to stdout (as a handler's logger does)

Run by the local stack's stream consumers' process (another process than the test's), it
also appends each invocation as a JSON line to the file ``FAKE_STREAM_LOG`` names, if set:
:func:`logged` reads them back.
"""

from __future__ import annotations

import json
import os
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
    log = os.environ.get("FAKE_STREAM_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"keys": keys(records), "function_name": context.function_name,
                                "eventSourceARN": records[0]["eventSourceARN"],
                                "pid": os.getpid()}) + "\n")
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
        if mode == "chatty":
            for _ in range(1024):
                print("x" * 1023, flush=True)
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


def logged(path: str) -> list[dict[str, Any]]:
    """The invocations another process logged to ``path`` (see ``FAKE_STREAM_LOG``)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
