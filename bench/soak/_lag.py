"""The fan-out's figures, computed after the run from what was recorded: each message's commit
time (its ``createdAt``, stamped by the resolver in the write) and when each watcher's inbox
first covered it (an ``onUserEvent`` MESSAGE event of its conversation with that seq or a later
one). All times are epoch seconds (the stack and the run share the machine's clock).

* lag: inbox event receipt minus commit, per expected (watcher, message);
* backlog every ``every`` seconds: messages committed by then minus messages whose every
  expected inbox event had arrived by then, and the age of the oldest such message (the
  client-side view of Lambda's ``IteratorAge``);
* the backlog's trend during the sends (least-squares slope, messages per second): about 0
  when the fan-out keeps pace, the sending rate minus the fan-out rate when it does not."""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from bench.harness import ms, percentile

Key = tuple[str, int]  # (conversation id, seq)


def _slope(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / var


def fan_out_figures(commits: Mapping[Key, float],
                    receipts: Iterable[tuple[Hashable, Key, float | None]],
                    *, started: float, last_send: float, ended: float,
                    every: float = 5.0) -> dict[str, Any]:
    """``receipts``: one (watcher, message, first coverage or None) per expected inbox event;
    ``started``/``last_send``/``ended``: the send phase's start, its end, the wait's end."""
    expected = received = 0
    lags: list[float] = []
    done_at: dict[Key, float | None] = {}
    for _watcher, key, at in receipts:
        expected += 1
        if key not in commits:
            raise ValueError(f"no commit time for {key}")
        if at is None:
            done_at[key] = None
            continue
        received += 1
        lags.append(at - commits[key])
        if key not in done_at:
            done_at[key] = at
        elif (before := done_at[key]) is not None:
            done_at[key] = max(before, at)
    committed_times = sorted(commits[k] for k in done_at)
    done_times = sorted(t for t in done_at.values() if t is not None)
    pending_order = sorted(done_at, key=lambda k: commits[k])
    timeline: list[dict[str, Any]] = []
    tick = started
    while True:
        committed = bisect.bisect_right(committed_times, tick)
        done = bisect.bisect_right(done_times, tick)
        oldest = next((commits[k] for k in pending_order
                       if commits[k] <= tick and not ((d := done_at[k]) is not None and d <= tick)),
                      None)
        timeline.append({"t_s": round(tick - started, 1), "committed": committed,
                         "fanned_out": done, "backlog": committed - done,
                         "oldest_pending_s": round(tick - oldest, 2) if oldest is not None else 0.0})
        if tick >= ended:  # (the last row is at the wait's end: every commit counted)
            break
        tick = min(ended, tick + every)
    during = [(row["t_s"], float(row["backlog"])) for row in timeline
              if row["t_s"] <= last_send - started + 1e-9]
    at_last = next((r for r in reversed(timeline) if r["t_s"] <= last_send - started + 1e-9), None)
    slope = _slope(during)
    return {
        "events_expected": expected,
        "events_received": received,
        "events_missing": expected - received,
        "lag_ms": {"p50": ms(percentile(lags, 50)), "p95": ms(percentile(lags, 95)),
                   "p99": ms(percentile(lags, 99)), "max": ms(max(lags) if lags else None),
                   "samples": len(lags)},
        "backlog_max": max((r["backlog"] for r in timeline), default=0),
        "backlog_at_last_send": at_last["backlog"] if at_last else None,
        "backlog_slope_msg_per_s_during_sends": round(slope, 2) if slope is not None else None,
        "oldest_pending_max_s": max((r["oldest_pending_s"] for r in timeline), default=0.0),
        "backlog_every_s": every,
        "backlog_timeline": timeline,
    }
