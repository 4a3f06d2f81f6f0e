"""The soak's phases in order against a running local stack, with its memory and CPU sampled
meanwhile, and the report's body."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.harness import cpu_seconds, descendants_of, ms, percentile, process_role, rss_mb

from ._checks import check
from ._inbox import inbox_catch_up, watch_inboxes
from ._run import Params, Soak, say


def stack_pids(root: int) -> list[int]:
    """The local stack's process and its descendants (moto, the stream consumers ...)."""
    return [root, *descendants_of(root)]


def process_label(pid: int, root: int) -> str:
    if pid == root:
        return "local_stack"
    return "moto" if process_role(pid) == "moto" else f"child_{pid}"


def memory_snapshot(root: int) -> dict[str, Any]:
    """Resident memory of the local stack's processes, by label, and their total."""
    per = {}
    for pid in stack_pids(root):
        rss = rss_mb(pid)
        if rss is not None:
            per[process_label(pid, root)] = rss
    return {"processes_mb": per, "total_mb": round(sum(per.values()), 1)}


async def drive(params: Params, outputs: dict[str, Any], pid: int) -> dict[str, Any]:
    """Setup, subscriptions, the send phase with its storms, reading back, the checks: the
    report's body (the local stack's process is ``pid``)."""
    soak = Soak(params, outputs)
    t0 = time.perf_counter()
    say(f"setup: {params.users} users, {params.conversations} conversations ...")
    await asyncio.to_thread(soak.setup)
    setup_s = time.perf_counter() - t0
    memory_after_setup = memory_snapshot(pid)
    await soak.open_sessions()
    try:
        say(f"subscribing: {sum(len(c.members) for c in soak.conversations)} WebSockets ...")
        subscribe_s = await soak.subscribe_all()
        await watch_inboxes(soak)
        if not all(s.ready.is_set() for s in soak.subscribers):
            raise RuntimeError("subscriptions did not come up: "
                               + "; ".join(e for s in soak.subscribers for e in s.errors[:1])[:1000])
        # the initial catch-up is not a reconnect: count only what follows
        cpu_before = {p: cpu_seconds(p) for p in stack_pids(pid)}
        say(f"sending: {params.senders} senders, up to {params.max_messages} messages or "
            f"{params.duration:.0f} s, {params.storms} storms ...")
        peak = {"total_mb": 0.0}
        timeline: list[dict[str, Any]] = []
        sampled_from = time.perf_counter()

        def cpu_since_start() -> dict[str, float]:
            return {process_label(p, pid): round(cpu_seconds(p) - before, 1)
                    for p, before in cpu_before.items()}

        async def sample() -> None:
            while True:
                snap = memory_snapshot(pid)
                if snap["total_mb"] > peak["total_mb"]:
                    peak.update(total_mb=snap["total_mb"])
                if not timeline or time.perf_counter() - sampled_from >= timeline[-1]["t_s"] + 10:
                    timeline.append({"t_s": round(time.perf_counter() - sampled_from),
                                     "messages": len(soak.attempted), "rss_mb": snap["processes_mb"],
                                     "cpu_s": cpu_since_start()})
                await asyncio.sleep(2)

        sampler = asyncio.create_task(sample())
        try:
            started, finished = await soak.send_phase()
            cpu = cpu_since_start()
            say(f"sent {len(soak.attempted)} in {finished - started:.1f} s; reading histories ...")
            history = await soak.histories()
            histories_s = time.perf_counter() - finished
            drain_s = await soak.drain(history)
            await soak.wait_ready(15)
            say("waiting for the stream consumer's onUserEvent fan-out ...")
            to_epoch = time.time() - time.perf_counter()
            inbox = await inbox_catch_up(soak, history, started + to_epoch, finished + to_epoch)
        finally:
            sampler.cancel()
        memory_end = memory_snapshot(pid)
        checked = check(soak, history)
    finally:
        await asyncio.gather(*(sub.stop() for sub in soak.subscribers),
                             *(w.stop() for w in soak.watchers))
        await soak.close_sessions()
    elapsed = finished - started
    acked = checked["messages"]["acknowledged"]
    return {
        "setup": {
            "users": len(soak.users),
            "conversations": len(soak.conversations),
            "direct": sum(1 for c in soak.conversations if c.kind == "DIRECT"),
            "groups": sum(1 for c in soak.conversations if c.kind == "GROUP"),
            "members_per_conversation_max": max(len(c.members) for c in soak.conversations),
            "subscriptions": len(soak.subscribers),
            "setup_s": round(setup_s, 2),
            "subscribe_all_s": round(subscribe_s, 2),
        },
        "results": {
            "messages": acked,
            "duration_s": round(elapsed, 2),
            "throughput_msg_per_s": round(acked / elapsed, 1) if elapsed > 0 else None,
            "send_latency_ms": {q: ms(percentile(soak.send_latency, n)) for q, n in
                                (("p50", 50), ("p95", 95), ("p99", 99))},
            "delivery_latency_ms": {
                **{q: ms(percentile(soak.live_latency, n))
                   for q, n in (("p50", 50), ("p95", 95), ("p99", 99))},
                "max": ms(max(soak.live_latency) if soak.live_latency else None),
                "samples": len(soak.live_latency),
            },
            "reconnects": sum(s.reconnects for s in soak.subscribers),
            "storms": soak.storms,
            "send_errors": dict(soak.send_errors),
            "send_error_samples": soak.error_samples,
            "rate_limited": soak.rate_limited,
            "drain_s": round(drain_s, 2),
            "inbox_fan_out": inbox,
            "history_read_s": round(histories_s, 2),
            **{k: v for k, v in checked.items() if k != "invariants"},
        },
        "memory_mb": {
            "after_setup": memory_after_setup,
            "end": memory_end,
            "peak_total_during_send": peak["total_mb"],
        },
        "cpu_seconds_during_send": cpu,
        "timeline_every_10s": timeline,
        "invariants": checked["invariants"],
    }

