"""Load and soak run: many users, conversations, concurrent senders and subscribers, and
reconnect storms against the real local stack, bounded in time and count, loopback only.

    .venv/bin/python bench/soak.py [--users 50] [--conversations 20] [--duration 120]
                                   [--max-messages 3000] [--storms 3] [--output FILE]

Prints one JSON document on stdout (progress goes to stderr) and exits non-zero when an
invariant fails. What it does:

1. starts ``python -m cloudchat_local.dev`` as a subprocess on free 127.0.0.1 ports with a
   temporary state dir (``realtime.full_stack``: fresh, no demo seed, no TLS);
2. creates ``--users`` Cognito users in moto (``create_demo_users``), signs each in with
   ``USER_PASSWORD_AUTH``, creates ``--conversations`` conversations (about a quarter DIRECT,
   the rest GROUPs of several members; every user is in at least one);
3. opens one gql ``AppSyncWebsocketsTransport`` per (member, conversation) with an
   ``onMessage`` subscription, waits for every ``start_ack``, then catches up;
4. runs ``--senders`` concurrent senders (gql ``AIOHTTPTransport``, one keep-alive session per
   user) until ``--duration`` seconds or ``--max-messages`` messages, each with a unique
   ``clientMessageId``; some sends are retried with the same ``clientMessageId``: again after
   the answer, twice at once, and after the client gave up waiting (a lost response);
5. during the send phase runs ``--storms`` reconnect storms: ``--storm-fraction`` of the
   WebSockets are aborted at once (TCP closed, no ``stop``, no close frame); each reconnects,
   waits for ``start_ack``, then catches up with ``messagesSince(afterSeq: w)`` where ``w``
   is the highest seq below which it has seen everything, paging until a short page;
6. waits for deliveries to settle, reads every conversation's history from seq 0 and checks
   the invariants (``invariants`` in the JSON; any false one makes the exit code 1);
7. meanwhile ``--inbox-watchers`` users also subscribe to ``onUserEvent``, whose MESSAGE
   events the DynamoDB stream consumer publishes (off the hot path): after the sends it waits
   up to ``--inbox-wait`` seconds for them and reports the fan-out's delay and backlog
   (information, not an invariant).

Memory is the RSS (``/proc/<pid>/status`` VmRSS) of the local stack's process and its
children (moto) at start, after setup, at the end and every 10 s (``timeline_every_10s``,
with their CPU seconds since the sends started).

Subscriptions are at most once (DESIGN.md): a subscriber gets nothing between a drop and the
next ``start_ack``; it is the catch-up that makes delivery complete. Membership does not change
during the run, so "sent while a member" is every message of the conversation.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncJWTAuthentication
from gql.transport.exceptions import TransportQueryError
from graphql import DocumentNode, parse
from realtime import (  # bench/realtime.py (this script's folder is on sys.path)
    BODY_PAD,
    MESSAGE_FIELDS,
    ON_MESSAGE,
    SEND_MESSAGE,
    _children_of,
    _cpu_seconds,
    _graphql_sync,
    _host,
    _loadavg,
    _ms,
    _pct,
    _run_async,
    full_stack,
    machine_info,
)

from cloudchat_cli import client as cli_client

MESSAGES_SINCE = (
    "query Since($c: ID!, $after: Int!, $limit: Int) { messagesSince(conversationId: $c, "
    "afterSeq: $after, limit: $limit) { items { ...MessageFields } nextToken } }" + MESSAGE_FIELDS
)
CREATE_CONVERSATION = (
    "mutation C($input: CreateConversationInput!) { createConversation(input: $input) { id kind } }"
)
PAGE = 100  # messagesSince's largest limit
#: Client-side pacing under the stack's default 120 sendMessage a minute per user (retries
#: included), so the run measures the system rather than the rate limiter.
SENDS_PER_USER_MINUTE = 100
SUBSCRIBE_TIMEOUT = 60.0


def say(text: str) -> None:
    print(f"[soak] {text}", file=sys.stderr, flush=True)


@dataclass
class Params:
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


# --------------------------------------------------------------------------- memory


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def stack_pids(root: int) -> list[int]:
    """The local stack's process and its descendants (moto)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(_children_of(pid))
    return out


def process_label(pid: int, root: int) -> str:
    if pid == root:
        return "local_stack"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        argv = []
    return "moto" if any(b"moto" in a for a in argv) else f"child_{pid}"


def memory_snapshot(root: int) -> dict[str, Any]:
    per = {}
    for pid in stack_pids(root):
        rss = _rss_mb(pid)
        if rss is not None:
            per[process_label(pid, root)] = rss
    return {"processes_mb": per, "total_mb": round(sum(per.values()), 1)}


# --------------------------------------------------------------------------- clients


class AckingTransport(cli_client.AckingTransport):
    """The CLI's transport (it queues each ``start_ack``, which gql drops), plus an abrupt
    disconnect for the storms."""

    def abort(self) -> bool:
        """Drops the connection abruptly: the TCP socket is closed with no ``stop`` and no
        WebSocket close frame, as when a phone loses its network."""
        websocket = self.adapter.websocket
        if websocket is None:
            return False
        websocket.transport.abort()
        return True


@dataclass
class User:
    name: str
    sub: str
    token: str
    session: AsyncClientSession | None = None
    client: Client | None = None
    sent_minute: tuple[int, int] = (0, 0)  # (minute, attempts in it)

    def may_send(self) -> bool:
        minute = int(time.time()) // 60
        return self.sent_minute[0] != minute or self.sent_minute[1] < SENDS_PER_USER_MINUTE

    def count_send(self) -> None:
        minute = int(time.time()) // 60
        count = self.sent_minute[1] + 1 if self.sent_minute[0] == minute else 1
        self.sent_minute = (minute, count)


@dataclass
class Conversation:
    id: str
    kind: str
    members: list[User]


def _error_type(exc: BaseException) -> str:
    if isinstance(exc, TransportQueryError) and exc.errors:
        return str(exc.errors[0].get("errorType") or "GraphQLError")
    return type(exc).__name__


async def messages_since(user: User, conversation_id: str, after: int,
                         since: DocumentNode) -> list[dict[str, Any]]:
    """Every message after ``after``, oldest first, paging until a short page."""
    assert user.session is not None
    items: list[dict[str, Any]] = []
    while True:
        data = await user.session.execute(GraphQLRequest(
            since, variable_values={"c": conversation_id, "after": after, "limit": PAGE}))
        page = data["messagesSince"]["items"]
        items.extend(page)
        if len(page) < PAGE:
            return items
        after = int(page[-1]["seq"])


class Subscriber:
    """One member's ``onMessage`` on one conversation over its own WebSocket; reconnects
    (start_ack, then catch-up) whenever the connection drops, until stopped."""

    def __init__(self, run: Soak, user: User, conversation: Conversation) -> None:
        self.run = run
        self.user = user
        self.conversation = conversation
        self.ids: dict[int, str] = {}  # seq -> message id (first seen)
        self.live_first: dict[int, float] = {}  # seq -> when it arrived live (if live first)
        self.watermark = 0  # every seq <= watermark has been seen
        self.live_count = 0
        self.caught_up = 0  # messages first seen through a catch-up
        self.caught_up_after_reconnect = 0
        self.dup_live_live = 0
        self.dup_live_catchup = 0
        self.dup_live_live_unretried = 0  # delivered live twice but sent only once
        self.conflicting = 0  # the same seq with two different ids
        self.connections = 0
        self.reconnects = 0
        self.storm_drops = 0
        self.unexpected_drops = 0
        self.errors: list[str] = []
        self.ready = asyncio.Event()  # subscribed and caught up
        self.transport: AckingTransport | None = None
        self.live_seqs: set[int] = set()
        self.task: asyncio.Task[None] | None = None
        self._dropping = False
        self._stopping = False

    # -- bookkeeping -------------------------------------------------------------------

    def _note(self, message: dict[str, Any], *, live: bool, now: float) -> None:
        seq = int(message["seq"])
        mid = str(message["id"])
        if message.get("conversationId") != self.conversation.id:
            self.conflicting += 1
            self.errors.append(f"message of {message.get('conversationId')} on {self.conversation.id}")
            return
        known = self.ids.get(seq)
        if live:
            self.live_count += 1
            if seq in self.live_seqs:
                self.dup_live_live += 1
                ack = self.run.attempted.get(str(message.get("clientMessageId")))
                if ack is None or ack.mode == "once":
                    self.dup_live_live_unretried += 1
            elif known is not None:
                self.dup_live_catchup += 1
            self.live_seqs.add(seq)
        elif known is not None:
            self.dup_live_catchup += 1
        if known is None:
            self.ids[seq] = mid
            if live:
                self.live_first[seq] = now
                cmid = message.get("clientMessageId")
                if cmid is not None:
                    self.run.note_live(str(cmid), now)
            else:
                self.caught_up += 1
                if self.connections > 1:
                    self.caught_up_after_reconnect += 1
            while self.watermark + 1 in self.ids:
                self.watermark += 1
        elif known != mid:
            self.conflicting += 1
            self.errors.append(f"seq {seq}: ids {known} and {mid}")

    # -- connection loop ---------------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.create_task(self._loop())

    def drop(self) -> bool:
        if self.transport is None or not self.ready.is_set():
            return False
        self._dropping = True
        self.ready.clear()
        if self.transport.abort():
            self.storm_drops += 1
            return True
        self._dropping = False
        return False

    async def stop(self) -> None:
        self._stopping = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    async def _loop(self) -> None:
        run = self.run
        request = GraphQLRequest(run.on_message, variable_values={"conversationId": self.conversation.id})
        host = _host(run.graphql_url)
        while not self._stopping:
            self.connections += 1
            if self.connections > 1:
                self.reconnects += 1
            transport = AckingTransport(url=run.realtime_url,
                                        auth=AppSyncJWTAuthentication(host=host, jwt=self.user.token),
                                        connect_timeout=20, close_timeout=2, ack_timeout=20)
            self.transport = transport
            try:
                async with Client(transport=transport, fetch_schema_from_transport=False) as session:
                    consumer = asyncio.create_task(self._consume(session, request))
                    ack = asyncio.create_task(transport.acks.get())
                    try:
                        done, _ = await asyncio.wait({consumer, ack}, timeout=SUBSCRIBE_TIMEOUT,
                                                     return_when=asyncio.FIRST_COMPLETED)
                        if ack not in done:
                            if consumer in done:
                                consumer.result()  # raises the subscription's error
                            raise TimeoutError("no start_ack")
                        await self._catch_up()
                        self._dropping = False
                        self.ready.set()
                        await consumer
                    finally:
                        for task in (consumer, ack):
                            task.cancel()
                        await asyncio.gather(consumer, ack, return_exceptions=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.ready.clear()
                if not self._dropping and not self._stopping:
                    self.unexpected_drops += 1
                    self.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    await asyncio.sleep(0.5)
                self._dropping = False
            else:
                if not self._stopping:  # the subscription completed by itself
                    self.unexpected_drops += 1
                    self.errors.append("the subscription ended")
                    await asyncio.sleep(0.5)

    async def _consume(self, session: AsyncClientSession, request: GraphQLRequest) -> None:
        async for data in session.subscribe(request):
            self._note(data["onMessage"], live=True, now=time.perf_counter())

    async def _catch_up(self) -> None:
        items = await messages_since(self.user, self.conversation.id, self.watermark, self.run.since)
        now = time.perf_counter()
        for message in items:
            self._note(message, live=False, now=now)


ON_USER_EVENT = (
    "subscription OnUserEvent($userId: ID!) { onUserEvent(userId: $userId) "
    "{ userId type conversationId seq senderId preview unreadCount at } }"
)


class InboxWatcher:
    """One user's ``onUserEvent`` channel: MESSAGE events come from the DynamoDB stream
    consumer (off the hot path), so their delay is the fan-out's lag behind the sends. The
    consumer gives one event for a run of a conversation's messages (of the latest), so a
    message counts as in the inbox once an event of its conversation with that seq or a
    later one arrived (:meth:`covered_at`)."""

    def __init__(self, run: Soak, user: User) -> None:
        self.run = run
        self.user = user
        self.seen: dict[tuple[str, int], float] = {}  # (conversation, seq) -> first receipt
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
                                    auth=AppSyncJWTAuthentication(host=_host(run.graphql_url),
                                                                  jwt=self.user.token))
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
                            self.seen[key] = time.perf_counter()
                finally:
                    ack.cancel()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}"[:300])


# --------------------------------------------------------------------------- the run


@dataclass
class Ack:
    conversation: Conversation
    sender: User
    started: float
    responses: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "once"


class Soak:
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
        from cloudchat_local.provision import DEMO_PASSWORD, create_demo_users

        out = self.outputs
        p = self.p
        credentials = (str(out["IamAccessKeyId"]), str(out["IamSecretAccessKey"]))
        created = create_demo_users(
            str(out["AwsEndpointUrl"]), str(out["UserPoolId"]), region=str(out["Region"]),
            credentials=credentials, users={f"soak{i:03d}": () for i in range(p.users)},
            password=DEMO_PASSWORD, domain="soak.example.com",
        )
        idp = boto3.session.Session(
            aws_access_key_id=credentials[0], aws_secret_access_key=credentials[1],
            region_name=str(out["Region"]),
        ).client("cognito-idp", endpoint_url=str(out["AwsEndpointUrl"]))
        for demo in created:
            auth = idp.initiate_auth(
                ClientId=str(out["UserPoolClientId"]), AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": demo.username, "PASSWORD": demo.password},
            )["AuthenticationResult"]
            self.users.append(User(demo.name, demo.sub, str(auth["IdToken"])))
        for user in self.users:
            _graphql_sync(self.graphql_url, user.token, "query { me { id } }")  # the profile
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
            variables: dict[str, Any] = {"memberIds": [u.sub for u in others]}
            if index >= directs:
                variables["title"] = f"soak group {index}"
            data = _graphql_sync(self.graphql_url, owner.token, CREATE_CONVERSATION, {"input": variables})
            created = data["createConversation"]
            convs.append(Conversation(str(created["id"]), str(created["kind"]), members))
        return convs

    # -- async phases ------------------------------------------------------------------

    async def open_sessions(self) -> None:
        for user in self.users:
            client = Client(transport=AIOHTTPTransport(
                url=self.graphql_url, auth=AppSyncJWTAuthentication(host=_host(self.graphql_url),
                                                                    jwt=user.token), timeout=60),
                fetch_schema_from_transport=False)
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
        await self._wait_ready(SUBSCRIBE_TIMEOUT)
        return time.perf_counter() - started

    async def _wait_ready(self, timeout: float) -> bool:
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
        recovered = await self._wait_ready(SUBSCRIBE_TIMEOUT)
        self.storms.append({
            "dropped": dropped,
            "after_sends": len(self.attempted),
            "all_reconnected_and_caught_up": recovered,
            "recovery_s": round(time.perf_counter() - at, 3) if recovered else None,
        })

    # -- checks ------------------------------------------------------------------------

    async def watch_inboxes(self) -> None:
        self.watchers = [InboxWatcher(self, u) for u in self.users[: self.p.inbox_watchers]]
        for watcher in self.watchers:
            watcher.start()
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
        while not all(w.ready.is_set() or w.errors for w in self.watchers):
            if time.monotonic() > deadline:
                raise RuntimeError("onUserEvent subscriptions did not come up")
            await asyncio.sleep(0.05)

    def _inbox_expected(self, history: dict[str, list[dict[str, Any]]]
                        ) -> list[tuple[InboxWatcher, tuple[str, int]]]:
        return [(w, (c.id, int(m["seq"]))) for w in self.watchers for c in self.conversations
                if w.user in c.members for m in history[c.id]]

    async def inbox_catch_up(self, history: dict[str, list[dict[str, Any]]], since: float) -> dict[str, Any]:
        """Waits (bounded) until the watched users got a MESSAGE event for every message of
        their conversations, and reports how far the stream consumer's fan-out lags behind
        the sends. Information, not an invariant (onUserEvent is at most once, like every
        subscription, and the fan-out is asynchronous by design)."""
        expected = self._inbox_expected(history)
        keys = {key for _, key in expected}
        total = sum(len(items) for items in history.values())
        last_seq = {cid: max((int(m["seq"]) for m in items), default=0)
                    for cid, items in history.items()}

        def fanned_out(at: float | None = None) -> int:  # watched messages anyone got (by ``at``)
            covered = [w.covered_at() for w in self.watchers]
            return sum(1 for k in keys if any(
                (t := c(k)) is not None and (at is None or t <= at) for c in covered))

        def caught_up() -> bool:  # every watcher's inbox shows its conversations' last seq
            return all(max((q for c, q in w.seen if c == cid), default=0) >= last_seq[cid]
                       for w in self.watchers for cid in {k[0] for v, k in expected if v is w})

        at_last_send = fanned_out(since)
        wait_from = time.perf_counter()
        at_wait_start = fanned_out()
        deadline = time.monotonic() + self.p.inbox_wait
        while not caught_up() and time.monotonic() < deadline:
            if all(w.errors for w in self.watchers):
                break
            await asyncio.sleep(0.25)
        waited = time.perf_counter() - wait_from
        after_wait = fanned_out()
        covered = {id(w): w.covered_at() for w in self.watchers}
        received = [(w, key, t) for w, key in expected
                    if (t := covered[id(w)](key)) is not None]
        started = {(a.conversation.id, int(a.responses[0]["seq"])): a.started
                   for a in self.attempted.values() if a.responses}
        delays = [t - started[key] for _, key, t in received if key in started]
        last = max((t for _, _, t in received), default=None)
        complete = len(received) == len(expected)
        # The consumer works through the stream in order, all conversations alike: the rate
        # at which the watched conversations' messages came out, scaled to all messages.
        rate = (after_wait - at_wait_start) / waited * total / len(keys) if keys and waited > 0 else None
        backlog = (len(keys) - at_last_send) * total / len(keys) if keys else None
        return {
            "watchers": len(self.watchers),
            "watched_messages": len(keys),
            "events_expected": len(expected),
            "events_received": len(received),
            "events_missing_after_wait": len(expected) - len(received),
            "events": sum(len(w.seen) for w in self.watchers),
            "duplicates": sum(w.duplicates for w in self.watchers),
            "fanned_out_by_last_send": at_last_send,
            "fanned_out_after_wait": after_wait,
            "waited_s": round(waited, 1),
            "delay_ms": {"p50": _ms(_pct(delays, 50)), "p95": _ms(_pct(delays, 95)),
                         "max": _ms(max(delays) if delays else None)},
            "all_received_s_after_last_send": round(last - since, 1) if complete and last else None,
            "estimated_fan_out_msg_per_s": round(rate, 1) if rate is not None and complete is False
            else None,
            "estimated_backlog_messages_at_last_send": round(backlog) if backlog is not None else None,
            "errors": [e for w in self.watchers for e in w.errors][:3],
        }

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

    def check(self, history: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        by_cmid: dict[str, list[dict[str, Any]]] = {}
        gap_free = True
        conv_of = {c.id: c for c in self.conversations}
        bodies_ok = True
        for cid, items in history.items():
            seqs = [int(m["seq"]) for m in items]
            if seqs != list(range(1, len(seqs) + 1)):
                gap_free = False
            for m in items:
                by_cmid.setdefault(str(m.get("clientMessageId")), []).append(m)
                sent_body = f"{m.get('clientMessageId')} {BODY_PAD}"
                if m.get("conversationId") != cid or m.get("body") != sent_body:
                    bodies_ok = False
        acked = {c: a for c, a in self.attempted.items() if a.responses}
        stored_once = stored_twice = not_stored = ack_mismatch = wrong_sender = 0
        for cmid, ack in acked.items():
            found = by_cmid.get(cmid, [])
            if not found:
                not_stored += 1
                continue
            if len(found) > 1:
                stored_twice += 1
                continue
            stored_once += 1
            m = found[0]
            first = ack.responses[0]
            if (m["id"], m["seq"], m["conversationId"]) != (first["id"], first["seq"], ack.conversation.id):
                ack_mismatch += 1
            if m["senderId"] != ack.sender.sub:
                wrong_sender += 1
        phantom = sum(len(v) for k, v in by_cmid.items() if k not in self.attempted)
        stored_unacked = sum(1 for k in by_cmid if k in self.attempted and k not in acked)
        retries = Counter(a.mode for a in self.attempted.values() if a.mode != "once")
        retry_inconsistent = 0
        retry_answers = 0
        for ack in acked.values():
            if len(ack.responses) > 1:
                retry_answers += len(ack.responses) - 1
                if len({(r["id"], r["seq"]) for r in ack.responses}) != 1:
                    retry_inconsistent += 1
        # deliveries
        expected = missed = 0
        missed_samples: list[str] = []
        for sub in self.subscribers:
            items = history[sub.conversation.id]
            expected += len(items)
            for m in items:
                got = sub.ids.get(int(m["seq"]))
                if got is None:
                    missed += 1
                    if len(missed_samples) < 5:
                        missed_samples.append(f"{sub.user.name} on {conv_of[sub.conversation.id].kind} "
                                              f"{sub.conversation.id}: seq {m['seq']}")
                elif got != m["id"]:
                    sub.conflicting += 1
        live = sum(len(s.live_first) for s in self.subscribers)
        caught = sum(s.caught_up for s in self.subscribers)
        duplicates_live_live = sum(s.dup_live_live for s in self.subscribers)
        duplicates_overlap = sum(s.dup_live_catchup for s in self.subscribers)
        conflicting = sum(s.conflicting for s in self.subscribers)
        sub_errors = [e for s in self.subscribers for e in s.errors]
        unexpected = sum(s.unexpected_drops for s in self.subscribers)
        invariants = {
            "every_send_acknowledged": not self.unacknowledged and len(acked) == len(self.attempted),
            "acknowledged_stored_exactly_once": stored_once == len(acked) and not stored_twice
            and not not_stored,
            "stored_matches_acknowledgement": ack_mismatch == 0 and wrong_sender == 0,
            "no_unattempted_messages": phantom == 0,
            "seq_gap_free_per_conversation": gap_free,
            "bodies_decrypt_to_what_was_sent": bodies_ok,
            "retries_return_the_same_message": retry_inconsistent == 0,
            "no_missed_deliveries": missed == 0,
            "no_conflicting_deliveries": conflicting == 0,
            "no_unexpected_disconnects": unexpected == 0,
            "storms_recovered": all(s["all_reconnected_and_caught_up"] for s in self.storms),
        }
        return {
            "invariants": invariants,
            "messages": {
                "attempted": len(self.attempted),
                "acknowledged": len(acked),
                "stored": sum(len(v) for v in history.values()),
                "stored_exactly_once": stored_once,
                "stored_more_than_once": stored_twice,
                "acknowledged_not_stored": not_stored,
                "stored_not_acknowledged": stored_unacked,
                "per_conversation_max_seq": max((len(v) for v in history.values()), default=0),
                "per_conversation_min_seq": min((len(v) for v in history.values()), default=0),
            },
            "retries": {
                **{k: retries.get(k, 0) for k in
                   ("retry_after_answer", "concurrent_duplicate", "retry_after_lost_answer")},
                "retry_answers_checked": retry_answers,
                "inconsistent": retry_inconsistent,
            },
            "deliveries": {
                "expected": expected,
                "live_first": live,
                "caught_up": caught,
                "caught_up_after_reconnect": sum(s.caught_up_after_reconnect for s in self.subscribers),
                "missed": missed,
                "missed_samples": missed_samples,
                "duplicates_before_dedupe": duplicates_live_live + duplicates_overlap,
                "duplicates_live_twice": duplicates_live_live,
                "duplicates_live_twice_of_messages_sent_once": sum(
                    s.dup_live_live_unretried for s in self.subscribers),
                "duplicates_live_and_catch_up": duplicates_overlap,
                "conflicting_same_seq": conflicting,
            },
            "subscriber_errors": sub_errors[:5],
        }


async def _soak(params: Params, outputs: dict[str, Any], pid: int) -> dict[str, Any]:
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
        await soak.watch_inboxes()
        if not all(s.ready.is_set() for s in soak.subscribers):
            raise RuntimeError("subscriptions did not come up: "
                               + "; ".join(e for s in soak.subscribers for e in s.errors[:1])[:1000])
        # the initial catch-up is not a reconnect: count only what follows
        cpu_before = {p: _cpu_seconds(p) for p in stack_pids(pid)}
        say(f"sending: {params.senders} senders, up to {params.max_messages} messages or "
            f"{params.duration:.0f} s, {params.storms} storms ...")
        peak = {"total_mb": 0.0}
        timeline: list[dict[str, Any]] = []
        sampled_from = time.perf_counter()

        def cpu_since_start() -> dict[str, float]:
            return {process_label(p, pid): round(_cpu_seconds(p) - before, 1)
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
            await soak._wait_ready(15)
            say("waiting for the stream consumer's onUserEvent fan-out ...")
            inbox = await soak.inbox_catch_up(history, finished)
        finally:
            sampler.cancel()
        memory_end = memory_snapshot(pid)
        checked = soak.check(history)
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
            "send_latency_ms": {q: _ms(_pct(soak.send_latency, n)) for q, n in
                                (("p50", 50), ("p95", 95), ("p99", 99))},
            "delivery_latency_ms": {
                **{q: _ms(_pct(soak.live_latency, n)) for q, n in (("p50", 50), ("p95", 95), ("p99", 99))},
                "max": _ms(max(soak.live_latency) if soak.live_latency else None),
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


def run(params: Params) -> dict[str, Any]:
    """Starts a local stack, runs the soak against it and returns the report (``ok``: every
    invariant held)."""
    report: dict[str, Any] = {
        "benchmark": "load and soak",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "parameters": asdict(params),
    }
    with tempfile.TemporaryDirectory(prefix="cloudchat-soak-") as tmp:
        started = time.perf_counter()
        with full_stack(Path(tmp), profile=False, template=None) as (child, outputs):
            up_s = time.perf_counter() - started
            pid = child.process.pid
            say(f"local stack up in {up_s:.1f} s ({outputs['GraphQLApiUrl']})")
            memory_start = memory_snapshot(pid)
            try:
                body = _run_async(_soak(params, outputs, pid), params.time_limit)
            except BaseException:
                say("local stack log tail:\n" + child.log_tail(30))
                raise
            body["memory_mb"] = {"start": memory_start, **body["memory_mb"]}
            state_file = Path(str(outputs["StateDir"])) / "moto-state.pickle"
            with contextlib.suppress(OSError):  # moto saves every 5 s after a change
                body["memory_mb"]["moto_state_file_mb"] = round(state_file.stat().st_size / 2**20, 1)
            body["setup"]["stack_startup_s"] = round(up_s, 2)
            stop_at = time.perf_counter()
        body["stack_stop_s"] = round(time.perf_counter() - stop_at, 2)
    report.update(body)
    report["machine"]["load_average_at_end"] = _loadavg()
    report["ok"] = all(report["invariants"].values())
    report["failed_invariants"] = [k for k, v in report["invariants"].items() if not v]
    return report


def _parser() -> argparse.ArgumentParser:
    d = Params()
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--users", type=int, default=d.users)
    parser.add_argument("--conversations", type=int, default=d.conversations)
    parser.add_argument("--duration", type=float, default=d.duration,
                        help=f"seconds of sending at most (default {d.duration:.0f})")
    parser.add_argument("--max-messages", type=int, default=d.max_messages,
                        help=f"messages at most (default {d.max_messages})")
    parser.add_argument("--storms", type=int, default=d.storms, help="reconnect storms during the send phase")
    parser.add_argument("--storm-fraction", type=float, default=d.storm_fraction,
                        help="share of the WebSockets each storm drops")
    parser.add_argument("--senders", type=int, default=d.senders, help="concurrent senders")
    parser.add_argument("--retry-fraction", type=float, default=d.retry_fraction,
                        help="share of sends that are retried (three kinds, equal shares)")
    parser.add_argument("--max-group", type=int, default=d.max_group, help="members of the largest group")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--inbox-watchers", type=int, default=d.inbox_watchers,
                        help="users who also subscribe to onUserEvent (stream consumer fan-out)")
    parser.add_argument("--inbox-wait", type=float, default=d.inbox_wait,
                        help="seconds to wait for that fan-out after the sends, at most")
    parser.add_argument("--time-limit", type=float, default=d.time_limit,
                        help="the whole run, in seconds, after the stack is up")
    parser.add_argument("--output", type=Path, help="also write the JSON document here")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not (2 <= args.users <= 500 and 1 <= args.conversations <= 200):
        parser.error("--users must be 2..500 and --conversations 1..200")
    if not (1 <= args.max_messages <= 100_000 and 0 < args.duration <= 3600):
        parser.error("--max-messages must be 1..100000 and --duration 0..3600")
    if not (0 <= args.storms <= 100 and 0 < args.storm_fraction <= 1 and 1 <= args.senders <= 64):
        parser.error("--storms 0..100, --storm-fraction (0, 1], --senders 1..64")
    if not (0 <= args.retry_fraction <= 1 and args.max_group >= 3):
        parser.error("--retry-fraction 0..1 and --max-group >= 3")
    params = Params(users=args.users, conversations=args.conversations, duration=args.duration,
                    max_messages=args.max_messages, storms=args.storms,
                    storm_fraction=args.storm_fraction, senders=args.senders,
                    retry_fraction=args.retry_fraction, max_group=args.max_group, seed=args.seed,
                    inbox_watchers=args.inbox_watchers, inbox_wait=args.inbox_wait,
                    time_limit=args.time_limit)
    os.environ.pop("AWS_PROFILE", None)
    report = run(params)
    document = json.dumps(report, indent=2)
    print(document)
    if args.output:
        args.output.write_text(document + "\n")
    if not report["ok"]:
        say("FAILED invariants: " + ", ".join(report["failed_invariants"]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
