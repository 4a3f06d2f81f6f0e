"""The stream consumer's fan-out, watched: some users also subscribe to ``onUserEvent``, whose
MESSAGE events the DynamoDB stream consumer publishes off the hot path; after the sends the run
waits (bounded) for them and reports the fan-out's lag behind each commit and its backlog over
time (information, not an invariant)."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gql import Client, GraphQLRequest
from graphql import parse

from bench.harness import ON_USER_EVENT, AckingTransport, jwt_auth

from ._clients import SUBSCRIBE_TIMEOUT, User
from ._lag import fan_out_figures

if TYPE_CHECKING:
    from ._run import Soak


class InboxWatcher:
    """One user's ``onUserEvent`` channel: MESSAGE events come from the DynamoDB stream
    consumer (off the hot path), so their delay is the fan-out's lag behind the sends. The
    consumer gives one event for a run of a conversation's messages (of the latest), so a
    message counts as in the inbox once an event of its conversation with that seq or a
    later one arrived (:meth:`covered_at`)."""

    def __init__(self, run: Soak, user: User) -> None:
        self.run = run
        self.user = user
        self.seen: dict[tuple[str, int], float] = {}  # (conversation, seq) -> first receipt (epoch s)
        self.duplicates = 0
        self.errors: list[str] = []
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    def covered_at(self) -> Callable[[tuple[str, int]], float | None]:
        """When each (conversation, seq) was first covered by an event of that conversation
        with that seq or a later one (None: not yet). A snapshot of what was seen so far."""
        by_conv: dict[str, list[tuple[int, float]]] = {}
        for (cid, seq), t in self.seen.items():
            by_conv.setdefault(cid, []).append((seq, t))
        index: dict[str, tuple[list[int], list[float]]] = {}
        for cid, rows in by_conv.items():
            rows.sort()
            earliest = [0.0] * len(rows)  # the earliest receipt at or after each position
            best = float("inf")
            for i in range(len(rows) - 1, -1, -1):
                best = min(best, rows[i][1])
                earliest[i] = best
            index[cid] = ([q for q, _ in rows], earliest)

        def at(key: tuple[str, int]) -> float | None:
            found = index.get(key[0])
            if found is None:
                return None
            seqs, earliest = found
            i = bisect.bisect_left(seqs, key[1])
            return earliest[i] if i < len(seqs) else None

        return at

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    async def _run(self) -> None:
        run = self.run
        transport = AckingTransport(url=run.realtime_url, connect_timeout=20, close_timeout=2,
                                    auth=jwt_auth(run.graphql_url, self.user.token))
        request = GraphQLRequest(parse(ON_USER_EVENT), variable_values={"userId": self.user.sub})
        try:
            async with Client(transport=transport, fetch_schema_from_transport=False) as session:
                ack = asyncio.create_task(transport.acks.get())
                ack.add_done_callback(lambda _: self.ready.set())
                try:
                    async for data in session.subscribe(request):
                        event = data["onUserEvent"]
                        if event.get("type") != "MESSAGE" or event.get("seq") is None:
                            continue
                        key = (str(event["conversationId"]), int(event["seq"]))
                        if key in self.seen:
                            self.duplicates += 1
                        else:
                            self.seen[key] = time.time()
                finally:
                    ack.cancel()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}"[:300])


async def watch_inboxes(soak: Soak) -> None:
    """Starts the ``--inbox-watchers`` first users' ``onUserEvent`` subscriptions; returns once each is
    acknowledged (or failed)."""
    soak.watchers = [InboxWatcher(soak, u) for u in soak.users[: soak.p.inbox_watchers]]
    for watcher in soak.watchers:
        watcher.start()
    deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
    while not all(w.ready.is_set() or w.errors for w in soak.watchers):
        if time.monotonic() > deadline:
            raise RuntimeError("onUserEvent subscriptions did not come up")
        await asyncio.sleep(0.05)


def _expected(soak: Soak, history: dict[str, list[dict[str, Any]]]
              ) -> list[tuple[InboxWatcher, tuple[str, int]]]:
    return [(w, (c.id, int(m["seq"]))) for w in soak.watchers for c in soak.conversations
            if w.user in c.members for m in history[c.id]]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def inbox_catch_up(soak: Soak, history: dict[str, list[dict[str, Any]]],
                         started: float, since: float) -> dict[str, Any]:
    """Waits (bounded) until the watched users got a MESSAGE event for every message of
    their conversations, then reports the fan-out's lag behind each message's commit and
    its backlog over time (:func:`bench.soak._lag.fan_out_figures`). ``started`` and
    ``since``: when the sends started and ended (epoch seconds). Information, not an
    invariant (onUserEvent is at most once, like every subscription, and the fan-out is
    asynchronous by design)."""
    expected = _expected(soak, history)
    last_seq = {cid: max((int(m["seq"]) for m in items), default=0)
                for cid, items in history.items()}

    def caught_up() -> bool:  # every watcher's inbox shows its conversations' last seq
        return all(max((q for c, q in w.seen if c == cid), default=0) >= last_seq[cid]
                   for w in soak.watchers for cid in {k[0] for v, k in expected if v is w})

    wait_from = time.time()
    deadline = time.monotonic() + soak.p.inbox_wait
    while not caught_up() and time.monotonic() < deadline:
        if all(w.errors for w in soak.watchers):
            break
        await asyncio.sleep(0.25)
    ended = time.time()
    commits = {(cid, int(m["seq"])): _epoch(str(m["createdAt"]))
               for cid, items in history.items() for m in items}
    covered = {id(w): w.covered_at() for w in soak.watchers}
    receipts = [(id(w), key, covered[id(w)](key)) for w, key in expected]
    figures = fan_out_figures(commits, receipts, started=started, last_send=since, ended=ended)
    last = max((t for _, _, t in receipts if t is not None), default=None)
    complete = figures["events_missing"] == 0
    return {
        "watchers": len(soak.watchers),
        "watched_messages": len({key for _, key in expected}),
        "messages": len(commits),
        **figures,
        "events": sum(len(w.seen) for w in soak.watchers),
        "duplicates": sum(w.duplicates for w in soak.watchers),
        "waited_s": round(ended - wait_from, 1),
        "all_received_s_after_last_send": round(last - since, 1) if complete and last else None,
        "errors": [e for w in soak.watchers for e in w.errors][:3],
    }
