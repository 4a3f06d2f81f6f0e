"""The soak run's state and its phases: setup (users, conversations), one HTTP session per user,
a subscriber per (member, conversation), concurrent senders with same-``clientMessageId``
retries, reconnect storms, and reading back every conversation's history."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from graphql import parse

from bench.harness import (
    BODY_PAD,
    MESSAGES_SINCE,
    ON_MESSAGE,
    SEND_MESSAGE,
    create_conversation,
    create_users,
    http_client,
    jwt_auth,
)
from bench.harness import say as _say

from ._clients import SUBSCRIBE_TIMEOUT, Ack, Conversation, Subscriber, User, messages_since
from ._inbox import InboxWatcher


def say(text: str) -> None:
    _say(text, "soak")


@dataclass
class Params:
    """The run's options (``--help``)."""

    users: int = 50
    conversations: int = 20
    duration: float = 120.0
    max_messages: int = 3000
    storms: int = 3
    storm_fraction: float = 0.5
    senders: int = 8
    retry_fraction: float = 0.06
    max_group: int = 8
    seed: int = 7
    inbox_watchers: int = 5  # users who also watch onUserEvent (the stream consumer's fan-out)
    inbox_wait: float = 60.0  # how long to wait for the fan-out to catch up after the sends
    time_limit: float = 900.0  # the whole run, setup and checks included


def _error_type(exc: BaseException) -> str:
    if isinstance(exc, TransportQueryError) and exc.errors:
        return str(exc.errors[0].get("errorType") or "GraphQLError")
    return type(exc).__name__


class Soak:
    """One run: what was sent, what each subscriber saw, the storms."""

    def __init__(self, params: Params, outputs: dict[str, Any]) -> None:
        self.p = params
        self.outputs = outputs
        self.rng = random.Random(params.seed)
        self.graphql_url = str(outputs["GraphQLApiUrl"])
        self.realtime_url = str(outputs["GraphQLRealtimeUrl"])
        self.run_id = uuid.uuid4().hex[:8]
        self.send_doc = parse(SEND_MESSAGE)
        self.on_message = parse(ON_MESSAGE)
        self.since = parse(MESSAGES_SINCE)
        self.users: list[User] = []
        self.conversations: list[Conversation] = []
        self.subscribers: list[Subscriber] = []
        self.attempted: dict[str, Ack] = {}  # clientMessageId -> what happened
        self.live_latency: list[float] = []
        self.send_latency: list[float] = []
        self.send_errors: Counter[str] = Counter()
        self.error_samples: list[str] = []
        self.rate_limited = 0
        self.unacknowledged: list[str] = []
        self.storms: list[dict[str, Any]] = []
        self.watchers: list[InboxWatcher] = []

    # -- setup (synchronous: Cognito and the first requests) --------------------------

    def setup(self) -> None:
        names = [f"soak{i:03d}" for i in range(self.p.users)]
        accounts = create_users(self.outputs, names, "soak.example.com")
        self.users = [User(a.name, a.sub, a.token) for a in accounts]
        self.conversations = self._create_conversations()

    def _create_conversations(self) -> list[Conversation]:
        p, rng, users = self.p, self.rng, self.users
        directs = max(1, p.conversations // 4) if p.conversations >= 2 else 0
        plans: list[list[User]] = []
        pairs: set[frozenset[str]] = set()
        while len(plans) < directs:
            a, b = rng.sample(users, 2)
            if frozenset((a.sub, b.sub)) not in pairs:  # a DIRECT pair is one conversation
                pairs.add(frozenset((a.sub, b.sub)))
                plans.append([a, b])
        for _ in range(p.conversations - directs):
            size = rng.randint(3, max(3, min(p.max_group, len(users))))
            plans.append(rng.sample(users, size))
        # Everyone in at least one conversation: the lonely join a group.
        groups = plans[directs:] or plans
        for user in users:
            if not any(user in plan for plan in plans):
                rng.choice(groups).append(user)
        convs = []
        for index, members in enumerate(plans):
            owner, others = members[0], members[1:]
            title = f"soak group {index}" if index >= directs else None
            created = create_conversation(self.graphql_url, owner.token, [u.sub for u in others], title)
            convs.append(Conversation(str(created["id"]), str(created["kind"]), members))
        return convs

    # -- async phases ------------------------------------------------------------------

    async def open_sessions(self) -> None:
        for user in self.users:
            client = http_client(self.graphql_url, jwt_auth(self.graphql_url, user.token), timeout=60)
            user.client = client
            user.session = await client.connect_async(reconnecting=False)

    async def close_sessions(self) -> None:
        for user in self.users:
            if user.client is not None:
                with contextlib.suppress(Exception):
                    await user.client.close_async()

    async def subscribe_all(self) -> float:
        started = time.perf_counter()
        for conv in self.conversations:
            for member in conv.members:
                self.subscribers.append(Subscriber(self, member, conv))
        for sub in self.subscribers:
            sub.start()
        await self.wait_ready(SUBSCRIBE_TIMEOUT)
        return time.perf_counter() - started

    async def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s.ready.is_set() for s in self.subscribers):
                return True
            await asyncio.sleep(0.05)
        return False

    def note_live(self, cmid: str, now: float) -> None:
        ack = self.attempted.get(cmid)
        if ack is not None:
            self.live_latency.append(now - ack.started)

    # -- senders -----------------------------------------------------------------------

    async def _send_once(self, ack: Ack, cmid: str, body: str, timeout: float | None = None) -> None:
        sender = ack.sender
        assert sender.session is not None
        sender.count_send()
        request = GraphQLRequest(self.send_doc, variable_values={"input": {
            "conversationId": ack.conversation.id, "body": body, "clientMessageId": cmid}})
        started = time.perf_counter()
        call = sender.session.execute(request)
        data = await (asyncio.wait_for(call, timeout) if timeout is not None else call)
        self.send_latency.append(time.perf_counter() - started)
        ack.responses.append(data["sendMessage"])

    async def _send_until_acked(self, ack: Ack, cmid: str, body: str) -> None:
        """Sends (again) until answered: a client's retry of the same clientMessageId."""
        for attempt in range(8):
            try:
                await self._send_once(ack, cmid, body)
                return
            except Exception as exc:
                kind = _error_type(exc)
                self.send_errors[kind] += 1
                if kind == "RateLimited":
                    self.rate_limited += 1
                if len(self.error_samples) < 5:
                    self.error_samples.append(f"{cmid} attempt {attempt}: {kind}: {exc}"[:300])
                await asyncio.sleep(min(5.0, 0.2 * 2 ** attempt))
        self.unacknowledged.append(cmid)

    async def _send(self, conv: Conversation, sender: User, number: int) -> None:
        cmid = f"soak-{self.run_id}-{number:06d}"
        body = f"{cmid} {BODY_PAD}"
        ack = Ack(conv, sender, time.perf_counter())
        self.attempted[cmid] = ack
        # Retries on a fixed schedule (three kinds in turn), so small runs have each kind.
        period = max(3, round(3 / self.p.retry_fraction)) if self.p.retry_fraction > 0 else 0
        slot = number % period if period else -1
        if slot == 0:  # a retry after the answer came back
            ack.mode = "retry_after_answer"
            await self._send_until_acked(ack, cmid, body)
            if ack.responses:
                await self._send_until_acked(ack, cmid, body)
        elif slot == 1:  # the same send twice at once
            ack.mode = "concurrent_duplicate"
            await asyncio.gather(self._send_until_acked(ack, cmid, body),
                                 self._send_until_acked(ack, cmid, body))
        elif slot == 2:  # the client stops waiting (a lost answer), then retries
            ack.mode = "retry_after_lost_answer"
            with contextlib.suppress(asyncio.TimeoutError):
                await self._send_once(ack, cmid, body, timeout=self.rng.uniform(0.005, 0.06))
            await self._send_until_acked(ack, cmid, body)
        else:
            await self._send_until_acked(ack, cmid, body)

    def _pick(self) -> tuple[Conversation, User] | None:
        for _ in range(20):
            conv = self.rng.choice(self.conversations)
            sender = self.rng.choice(conv.members)
            if sender.may_send():
                return conv, sender
        return None

    async def send_phase(self) -> tuple[float, float]:
        p = self.p
        counter = iter(range(p.max_messages))
        started = time.perf_counter()
        deadline = time.monotonic() + p.duration
        done_sending = asyncio.Event()

        async def worker() -> None:
            while time.monotonic() < deadline:
                picked = self._pick()
                if picked is None:
                    await asyncio.sleep(0.5)
                    continue
                number = next(counter, None)
                if number is None:
                    return
                await self._send(picked[0], picked[1], number)

        async def storms() -> None:
            for index in range(p.storms):
                share = (index + 1) / (p.storms + 1)
                while not done_sending.is_set():
                    elapsed = time.perf_counter() - started
                    if len(self.attempted) >= share * p.max_messages or elapsed >= share * p.duration:
                        break
                    await asyncio.sleep(0.05)
                await self._storm(index)  # one the sends outran still runs, after them

        storm_task = asyncio.create_task(storms())
        await asyncio.gather(*(worker() for _ in range(p.senders)))
        finished = time.perf_counter()
        done_sending.set()
        await storm_task
        return started, finished

    async def _storm(self, index: int) -> None:
        ready = [s for s in self.subscribers if s.ready.is_set()]
        victims = self.rng.sample(ready, max(1, round(len(ready) * self.p.storm_fraction))) if ready else []
        at = time.perf_counter()
        dropped = sum(1 for s in victims if s.drop())
        say(f"storm {index + 1}: dropped {dropped} of {len(self.subscribers)} WebSockets "
            f"after {len(self.attempted)} sends")
        recovered = await self.wait_ready(SUBSCRIBE_TIMEOUT)
        self.storms.append({
            "dropped": dropped,
            "after_sends": len(self.attempted),
            "all_reconnected_and_caught_up": recovered,
            "recovery_s": round(time.perf_counter() - at, 3) if recovered else None,
        })

    # -- reading back ------------------------------------------------------------------
    async def histories(self) -> dict[str, list[dict[str, Any]]]:
        out = {}
        for conv in self.conversations:
            out[conv.id] = await messages_since(conv.members[0], conv.id, 0, self.since)
        return out

    async def drain(self, history: dict[str, list[dict[str, Any]]], limit: float = 30.0) -> float:
        """Until every subscriber has seen its conversation's every seq, or nothing moved
        for 10 s (bounded by ``limit``). No extra catch-up: what is missing stays missing."""
        started = time.perf_counter()
        want = {cid: {int(m["seq"]) for m in items} for cid, items in history.items()}

        def missing() -> int:
            return sum(len(want[s.conversation.id] - s.ids.keys()) for s in self.subscribers)

        last, quiet = missing(), time.monotonic()
        while last and time.monotonic() - quiet < 10 and time.perf_counter() - started < limit:
            await asyncio.sleep(0.1)
            now = missing()
            if now != last:
                last, quiet = now, time.monotonic()
        return time.perf_counter() - started
