"""The soak's users, conversations and their ``onMessage`` subscribers: each reconnects
(``start_ack``, then catch-up by ``messagesSince``) whenever its WebSocket drops, and keeps
count of what arrived live, what came by catch-up, duplicates and conflicts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from graphql import DocumentNode

from bench.harness import AckingTransport, jwt_auth

if TYPE_CHECKING:
    from ._run import Soak

PAGE = 100  # messagesSince's largest limit
#: Client-side pacing under the stack's default 120 sendMessage a minute per user (retries
#: included), so the run measures the system rather than the rate limiter.
SENDS_PER_USER_MINUTE = 100
SUBSCRIBE_TIMEOUT = 60.0


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


async def messages_since(user: User, conversation_id: str, after: int,
                         since: DocumentNode) -> list[dict[str, Any]]:
    """Every message after ``after``, oldest first, paging until a short page."""
    assert user.session is not None
    items: list[dict[str, Any]] = []
    while True:
        data = await user.session.execute(GraphQLRequest(
            since, variable_values={"conversationId": conversation_id, "afterSeq": after, "limit": PAGE}))
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
        self.caught_up = 0  # messages first seen through a catch-up
        self.caught_up_after_reconnect = 0
        self.dup_live_live = 0
        self.dup_live_catchup = 0
        self.dup_live_live_unretried = 0  # delivered live twice but sent only once
        self.conflicting = 0  # the same seq with two different ids
        self.connections = 0
        self.reconnects = 0
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
        while not self._stopping:
            self.connections += 1
            if self.connections > 1:
                self.reconnects += 1
            transport = AckingTransport(url=run.realtime_url, auth=jwt_auth(run.graphql_url, self.user.token),
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


@dataclass
class Ack:
    """One message the run sent (``clientMessageId``), its every answer, and how it was sent."""


    conversation: Conversation
    sender: User
    started: float
    responses: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "once"

