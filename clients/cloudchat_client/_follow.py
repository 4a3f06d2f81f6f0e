"""Following a conversation live, without losing or repeating a message.

The protocol (DESIGN.md, "Real time"): subscribe to ``onMessage`` first, wait for the
server's ``start_ack``, then catch up with ``messagesSince(afterSeq)`` while live events wait
in a buffer, then drain the buffer and keep reading. A :class:`~cloudchat_client._sequence.Sequencer`
drops what was already shown and holds anything beyond a gap until ``messagesSince`` fills it.
On a disconnect the follower reconnects with exponential backoff (refreshing the token) and
does the same again from the last seq it delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cloudchat_client._sequence import Delivery, Sequencer
from cloudchat_client._transport import Api, Event, EventError, RealtimeConnection, is_connection_lost
from cloudchat_client.errors import ApiError, AuthError, StackUnreachable

__all__ = ["Backoff", "Follower", "Status", "cancel"]

CATCH_UP_PAGE = 98  # one BatchGetItem on the server
GAP_RETRY_SECONDS = 0.5


@dataclass
class Backoff:
    """Exponential backoff with full jitter: ``initial * 2**n`` capped at ``maximum``."""

    initial: float = 0.5
    maximum: float = 30.0
    attempt: int = 0

    def next_delay(self) -> float:
        delay = min(self.maximum, self.initial * (2 ** self.attempt))
        self.attempt += 1
        return delay / 2 + random.uniform(0, delay / 2)

    def reset(self) -> None:
        self.attempt = 0


@dataclass(frozen=True)
class Status:
    """A connection event for the user: ``connected``, ``disconnected`` (with the reason and
    the delay before the next attempt)."""

    kind: str
    detail: str = ""
    attempt: int = 0


class Follower:
    """Delivers one conversation's messages to ``on_delivery``, in seq order, each once."""

    #: The subscription and the catch-up query: operations.graphql's, or any documents of
    #: ``onMessage(conversationId: $conversationId)`` and ``messagesSince(conversationId:
    #: $conversationId, afterSeq: $afterSeq, limit: $limit)`` (the CLI selects fewer fields).
    on_message = "onMessage"
    messages_since = "messagesSince"

    def __init__(self, api: Api, conversation_id: str, *, after_seq: int,
                 on_delivery: Callable[[Delivery], Awaitable[None] | None],
                 on_status: Callable[[Status], None] | None = None,
                 backoff: Backoff | None = None, max_attempts: int | None = None) -> None:
        self.api = api
        self.conversation_id = conversation_id
        self.sequencer = Sequencer(last_seq=after_seq)
        self.on_delivery = on_delivery
        self.on_status = on_status or (lambda status: None)
        self.backoff = backoff or Backoff()
        self.max_attempts = max_attempts
        self.connections = 0
        self.connected = asyncio.Event()
        #: cleared to hold reconnection (``doctor`` keeps sending while disconnected).
        self.may_reconnect = asyncio.Event()
        self.may_reconnect.set()
        self._connection: RealtimeConnection | None = None

    @property
    def last_seq(self) -> int:
        return self.sequencer.last_seq

    def drop(self) -> None:
        """Cuts the current WebSocket as a network failure would."""
        if self._connection is not None:
            self._connection.drop()

    async def run(self) -> None:
        """Follows until cancelled. API errors (Forbidden, NotFound, ...) and refused tokens end
        it; network failures make it reconnect (``max_attempts`` consecutive failures end it)."""
        failures = 0
        while True:
            await self.may_reconnect.wait()
            connections_before = self.connections
            try:
                await self._session()
            except (ApiError, AuthError):
                raise
            except Exception as exc:
                if not is_connection_lost(exc):
                    raise
                if self.connections == 0 and isinstance(exc, StackUnreachable):
                    raise  # never connected: the stack is down, not a network blip
                if self.connections > connections_before:
                    failures = 0  # it was connected: count failures from here
                failures += 1
                self.connected.clear()
                self._connection = None
                if self.max_attempts is not None and failures > self.max_attempts:
                    raise
                delay = self.backoff.next_delay()
                self.on_status(Status("disconnected", f"{_describe(exc)}; reconnecting in {delay:.1f} s",
                                      failures))
                await asyncio.sleep(delay)

    async def _session(self) -> None:
        buffer: asyncio.Queue[Event] = asyncio.Queue()
        async with self.api.realtime() as connection:
            self._connection = connection
            await connection.subscribe(self.on_message, {"conversationId": self.conversation_id},
                                      buffer.put_nowait)
            self.connections += 1
            await self._catch_up()  # live events wait in `buffer` meanwhile
            self.backoff.reset()
            self.connected.set()
            self.on_status(Status("connected", f"after seq {self.last_seq}", self.connections))
            while True:
                timeout = GAP_RETRY_SECONDS if self.sequencer.has_gap else None
                try:
                    item = await asyncio.wait_for(buffer.get(), timeout)
                except TimeoutError:
                    await self._catch_up()
                    continue
                if isinstance(item, Exception):
                    raise item
                if isinstance(item, EventError):
                    # An event was lost to an error (typically a publisher that did not select
                    # the full Message fragment): the table has the message, so catch up.
                    self.on_status(Status("event-error", item.describe(), self.connections))
                    await self._catch_up()
                    continue
                message = item.get("onMessage")
                if not message or message.get("conversationId") != self.conversation_id:
                    continue
                await self._emit(self.sequencer.offer_live(message))
                if self.sequencer.has_gap and buffer.empty():
                    await self._catch_up()

    async def _catch_up(self) -> None:
        while True:
            variables = {"conversationId": self.conversation_id, "afterSeq": self.last_seq,
                         "limit": CATCH_UP_PAGE}
            data = await self.api.execute(self.messages_since, variables)
            items = data["messagesSince"]["items"]
            await self._emit(self.sequencer.accept_catch_up(items))
            if len(items) < CATCH_UP_PAGE:
                return

    async def _emit(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            outcome = self.on_delivery(delivery)
            if outcome is not None:
                await outcome



def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


async def cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
