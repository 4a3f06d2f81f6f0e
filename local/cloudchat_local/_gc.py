"""Garbage-collector settings for the local stack's two long-running processes.

CPython's cyclic collector, with its default thresholds (a young collection every 700
allocations), promotes the objects of requests still in flight to the oldest generation and
then runs *full* collections over everything the process holds: the local stack's botocore
models, GraphQL schema and resolvers; moto's every item and stream record. Under the real-time
benchmark that was ~45 full collections of 40-130 ms in 20 s in the local stack and ~20 of
40-150 ms in moto, each one stalling every request in the process.

:func:`settle` (once, after startup) collects, then *freezes* what survived (moved out of
the collector's reach; still freed by reference counting as usual) and raises the young
threshold so that short-lived request objects die before they are promoted. Every
``FREEZE_INTERVAL_S`` it collects and freezes again, so what the process keeps from then on
(moto's items and stream records, modules imported on first use) is not scanned by every
full collection either; garbage cycles are collected first, so nothing that is already
garbage gets frozen (a cycle that becomes garbage once frozen is not reclaimed: rare here,
moto's items and records hold no cycles).
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Final

#: Allocations (net) between young collections; CPython's default is 700.
YOUNG_THRESHOLD: Final = 20_000
#: Seconds between two collect-and-freeze rounds.
FREEZE_INTERVAL_S: Final = 10.0


def settle(freeze_every: float | None = FREEZE_INTERVAL_S) -> None:
    """Collect, freeze the survivors, and raise the young generation's threshold; then,
    unless ``freeze_every`` is None, collect and freeze again that often (a daemon thread)."""
    freeze_survivors()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    if freeze_every is not None:
        def run() -> None:
            while True:
                time.sleep(freeze_every)
                freeze_survivors()

        threading.Thread(target=run, name="gc-freeze", daemon=True).start()


def freeze_survivors() -> None:
    """A full collection, then the survivors are left out of future collections."""
    gc.collect()
    gc.freeze()
