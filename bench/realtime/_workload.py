"""The workload every mode runs: N subscribers (one WebSocket each), warm-up until every
subscription is live, M sequential mutations (each awaited before the next), a drain, the
argument-filter probe; and the CPU seconds each process used meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gql import Client, GraphQLRequest
from gql.transport.appsync_auth import AppSyncAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from graphql import parse

from bench.harness import BODY_PAD, cpu_seconds, descendants_of, http_client, ms, percentile, run_async


@dataclass
class Target:
    """What one mode's client side needs: endpoints, auth per user, operations."""

    graphql_url: str
    realtime_url: str
    sender_auth: list[AppSyncAuthentication]
    subscriber_auth: list[AppSyncAuthentication]
    mutation: str
    mutation_variables: Callable[[int, str, str], dict[str, Any]]  # (index, key, body)
    subscription: str
    subscription_variables: dict[str, Any]
    decoy_variables: dict[str, Any]  # subscription arguments that must match nothing
    key_of: Callable[[dict[str, Any]], str]  # subscription data -> message key
    order_of: Callable[[dict[str, Any]], int]  # subscription data -> position (seq)
    check_response: Callable[[dict[str, Any]], int]  # mutation data -> seq (raises if wrong)
    cpu_pids: dict[str, int] = field(default_factory=dict)
    #: A process whose descendants not in ``cpu_pids`` are counted too (the local stack).
    cpu_tree_root: int | None = None
    on_measure_start: Callable[[], None] | None = None
    on_measure_end: Callable[[], None] | None = None


class Subscribers:
    """N gql AppSyncWebsocketsTransport subscribers recording what they receive."""

    def __init__(self, target: Target, count: int) -> None:
        self.target = target
        self.count = count
        self.seen: list[dict[str, float]] = [{} for _ in range(count)]
        self.orders: list[list[tuple[str, int]]] = [[] for _ in range(count)]
        self.errors: list[str] = []
        self.duplicates = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.progress = asyncio.Event()

    def start(self, variables: dict[str, Any] | None = None) -> None:
        for index in range(self.count):
            self.tasks.append(asyncio.create_task(self._run(index, variables)))

    async def _run(self, index: int, variables: dict[str, Any] | None) -> None:
        target = self.target
        transport = AppSyncWebsocketsTransport(
            url=target.realtime_url, auth=target.subscriber_auth[index % len(target.subscriber_auth)],
            connect_timeout=15, close_timeout=2,
        )
        seen = self.seen[index]
        orders = self.orders[index]
        request = GraphQLRequest(parse(target.subscription),
                                 variable_values=variables or target.subscription_variables)
        try:
            async with Client(transport=transport, fetch_schema_from_transport=False) as session:
                async for data in session.subscribe(request):
                    now = time.perf_counter()
                    key = target.key_of(data)
                    if key in seen:
                        self.duplicates += 1
                    else:
                        seen[key] = now
                    orders.append((key, target.order_of(data)))
                    self.progress.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors.append(f"subscriber {index}: {type(exc).__name__}: {exc}")
            self.progress.set()

    def received(self, keys: set[str]) -> int:
        """Deliveries of these message keys, over every subscriber (duplicates once)."""
        return sum(1 for s in self.seen for k in s if k in keys)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 15)


async def _run_workload(target: Target, *, subscribers: int, messages: int,
                       deadline: float) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    senders = [http_client(target.graphql_url, auth, timeout=30) for auth in target.sender_auth]
    sessions = []
    subs = Subscribers(target, subscribers)
    result: dict[str, Any] = {}
    try:
        for client in senders:
            sessions.append(await client.connect_async(reconnecting=False))

        mutation = parse(target.mutation)  # once: the client's cost is not what is measured

        async def send(index: int, key: str) -> tuple[float, float, dict[str, Any]]:
            body = f"{key} {BODY_PAD}"
            request = GraphQLRequest(mutation,
                                     variable_values=target.mutation_variables(index, key, body))
            started = time.perf_counter()
            data = await sessions[index % len(sessions)].execute(request)
            return started, time.perf_counter(), data

        # 1. subscribe, then send warm-up messages until every subscriber has seen one (a
        #    subscription is live only once its start_ack is back; gql does not expose it).
        subs.start()
        warm_keys: list[str] = []
        warm_started = time.perf_counter()
        while True:
            if subs.errors:
                raise RuntimeError("subscription failed: " + "; ".join(subs.errors[:3]))
            if time.monotonic() > deadline - 5:
                raise TimeoutError("subscribers did not come up in time")
            key = f"warm-{run_id}-{len(warm_keys):03d}"
            warm_keys.append(key)
            await send(0, key)
            await asyncio.sleep(0.2)
            if all(any(k in s for k in warm_keys) for s in subs.seen):
                break
        subscribe_s = time.perf_counter() - warm_started
        for s in subs.seen:
            s.clear()
        for o in subs.orders:
            o.clear()

        # 2. the measured phase: sequential sends, each awaited before the next.
        sent_at: dict[str, float] = {}
        mutation_latency: list[float] = []
        failures: list[str] = []
        seqs: list[int] = []
        if target.on_measure_start is not None:
            target.on_measure_start()
        first = time.perf_counter()
        for i in range(messages):
            if time.monotonic() > deadline:
                failures.append(f"time limit reached after {i} sends")
                break
            key = f"m-{run_id}-{i:05d}"
            try:
                started, done, data = await send(i, key)
                sent_at[key] = started
                mutation_latency.append(done - started)
                seqs.append(target.check_response(data))
            except Exception as exc:
                failures.append(f"send {i}: {type(exc).__name__}: {exc}"[:300])
        last = time.perf_counter()
        elapsed = last - first
        if target.on_measure_end is not None:
            target.on_measure_end()

        # 3. drain: wait until everything arrived, or nothing arrives for 5 s.
        expected = len(sent_at) * subscribers
        keys = set(sent_at)
        quiet_since = time.monotonic()
        delivered = subs.received(keys)
        hard_stop = deadline + 10
        while delivered < expected and time.monotonic() - quiet_since < 5 and time.monotonic() < hard_stop:
            subs.progress.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(subs.progress.wait(), 0.5)
            now_delivered = subs.received(keys)
            if now_delivered != delivered:
                delivered = now_delivered
                quiet_since = time.monotonic()
        drained = time.perf_counter()

        latencies = [t - sent_at[k] for s in subs.seen for k, t in s.items() if k in sent_at]
        out_of_order = sum(
            sum(1 for a, b in itertools.pairwise([o for k, o in order if k in keys]) if b <= a)
            for order in subs.orders
        )
        per_sub = [sum(1 for k in s if k in keys) for s in subs.seen]
        result = {
            "subscribers": subscribers,
            "messages_sent": len(sent_at),
            "send_failures": len(failures),
            "send_failure_samples": failures[:3],
            "elapsed_s": round(elapsed, 3),
            "mutations_per_s": round(len(sent_at) / elapsed, 1) if elapsed > 0 else None,
            "mutation_latency_ms": {
                "p50": ms(percentile(mutation_latency, 50)),
                "p99": ms(percentile(mutation_latency, 99)),
                "mean": ms(statistics.fmean(mutation_latency)) if mutation_latency else None,
            },
            "delivery_latency_ms": {
                "p50": ms(percentile(latencies, 50)),
                "p90": ms(percentile(latencies, 90)),
                "p99": ms(percentile(latencies, 99)),
                "max": ms(max(latencies) if latencies else None),
            },
            "delivered": delivered,
            "expected": expected,
            "delivered_over_expected": f"{delivered}/{expected}",
            "lost": expected - delivered,
            "per_subscriber_min_delivered": min(per_sub) if per_sub else 0,
            "duplicate_deliveries": subs.duplicates,
            "out_of_order_deliveries": out_of_order,
            "seq_gaps": _gaps(seqs),
            "drain_after_last_send_s": round(drained - last, 3),
            "subscribe_warmup_s": round(subscribe_s, 3),
            "subscriber_errors": subs.errors[:3],
        }
        await subs.stop()

        # 4. quirk probe: a subscriber whose argument matches none of the messages.
        if time.monotonic() < deadline:
            result["argument_filter_probe"] = await _decoy_probe(target, run_id, send)
        return result
    finally:
        await subs.stop()
        for client in senders:
            with contextlib.suppress(Exception):
                await client.close_async()


async def _decoy_probe(target: Target, run_id: str,
                       send: Callable[[int, str], Any]) -> dict[str, Any]:
    """One subscriber on another channel/conversation, one on the real one; 5 sends."""
    decoy = Subscribers(target, 1)
    real = Subscribers(target, 1)
    decoy.start(target.decoy_variables)
    real.start()
    try:
        probe_keys: list[str] = []
        for attempt in range(50):  # until the real subscriber is live
            key = f"probe-warm-{run_id}-{attempt}"
            await send(0, key)
            await asyncio.sleep(0.2)
            if real.seen[0] or real.errors or decoy.errors:
                break
        await asyncio.sleep(0.3)  # the decoy started at the same time as the real one
        for s in (decoy.seen[0], real.seen[0]):
            s.clear()
        for i in range(5):
            key = f"probe-{run_id}-{i}"
            probe_keys.append(key)
            await send(i, key)
        await asyncio.sleep(1.0)
        keys = set(probe_keys)
        return {
            "sent": len(probe_keys),
            "matching_subscriber_received": real.received(keys),
            "non_matching_subscriber_received": decoy.received(keys),
            "errors": (decoy.errors + real.errors)[:2],
        }
    finally:
        await decoy.stop()
        await real.stop()


def _gaps(seqs: list[int]) -> int | None:
    """Missing seqs between the first and last response (None when nothing was sent)."""
    if not seqs:
        return None
    return (max(seqs) - min(seqs) + 1) - len(set(seqs))


def measure(target: Target, *, subscribers: int, messages: int, limit_s: float) -> dict[str, Any]:
    """Runs the workload (its measured phase bounded by ``limit_s``) and adds the CPU seconds
    of every process in ``target.cpu_pids`` (and below ``target.cpu_tree_root``)."""
    cpu_before = {name: cpu_seconds(pid) for name, pid in target.cpu_pids.items()}
    named = set(target.cpu_pids.values())
    below_before = ({pid: cpu_seconds(pid) for pid in descendants_of(target.cpu_tree_root)
                     if pid not in named} if target.cpu_tree_root else {})
    wall = time.perf_counter()
    deadline = time.monotonic() + limit_s
    result = run_async(_run_workload(target, subscribers=subscribers, messages=messages,
                                      deadline=deadline), limit_s + 60)
    wall = time.perf_counter() - wall
    cpu = {name: round(cpu_seconds(pid) - cpu_before[name], 2) for name, pid in target.cpu_pids.items()}
    if target.cpu_tree_root:
        # Processes the stack started during the run (Lambda-like function workers growing
        # with concurrency, their cold starts included) and grandchildren (stream lanes).
        below = {pid: cpu_seconds(pid) for pid in descendants_of(target.cpu_tree_root)
                 if pid not in named}
        cpu["other_stack_processes"] = round(
            sum(now - below_before.get(pid, 0.0) for pid, now in below.items()), 2)
    result["cpu_seconds_during_run"] = {**cpu, "wall": round(wall, 2)}
    if target.cpu_tree_root:
        result["other_stack_processes_at_end"] = len(below)
    return result

