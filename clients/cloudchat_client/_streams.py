"""Live streams as async iterators.

:class:`Following` wraps the :class:`~cloudchat_client._follow.Follower` (reconnect with backoff,
gap-free catch-up by seq): every message once, in seq order. :class:`Subscription` is any
other subscription (``onUserEvent``, ``onTyping``, ...) with the same reconnect; those have no
seq to catch up by, so an event published while it is disconnected is missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

from cloudchat_client._follow import Backoff, Follower, Status, cancel
from cloudchat_client._sequence import Delivery
from cloudchat_client._transport import Api, Event, EventError, RealtimeConnection, is_connection_lost
from cloudchat_client.errors import ApiError, AuthError, api_error_for
from cloudchat_client.types import Message

__all__ = ["Following", "Subscription"]

T = TypeVar("T")
_END = object()


class _Stream(Generic[T]):
    """An async iterator fed by a background task; ``async with`` stops the task on exit."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run_and_report())

    async def _run_and_report(self) -> None:
        try:
            await self._run()
            self._queue.put_nowait(_END)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the reader gets it from __anext__
            self._queue.put_nowait(exc)

    async def _run(self) -> None:
        raise NotImplementedError

    def __aiter__(self) -> _Stream[T]:
        return self

    async def __anext__(self) -> T:
        self._start()
        item = await self._queue.get()
        if item is _END:
            raise StopAsyncIteration
        if isinstance(item, Exception):
            raise item
        return cast(T, item)

    async def __aenter__(self) -> _Stream[T]:
        self._start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._task is not None:
            await cancel(self._task)


class Following(_Stream[Delivery]):
    """One conversation's messages as :class:`Delivery` items (``kind`` ``new`` or ``update``),
    each seq once, in order, across reconnects. ``drop()`` cuts the WebSocket (tests)."""

    def __init__(self, api: Api, conversation_id: str, *, after_seq: int | None,
                 backoff: Backoff | None = None, max_attempts: int | None = None,
                 updates: bool = True, on_status: Callable[[Status], None] | None = None) -> None:
        super().__init__()
        self.api = api
        self.conversation_id = conversation_id
        self.after_seq = after_seq
        self.updates = updates
        self.follower = Follower(api, conversation_id, after_seq=after_seq or 0, on_delivery=self._deliver,
                                 on_status=on_status, backoff=backoff, max_attempts=max_attempts)

    def _deliver(self, delivery: Delivery) -> None:
        if self.updates or delivery.kind == "new":
            self._queue.put_nowait(delivery)

    async def _run(self) -> None:
        if self.after_seq is None:  # from now on
            data = await self.api.execute("conversation", {"id": self.conversation_id})
            conversation = data.get("conversation")
            if not conversation:
                raise api_error_for("NotFound", f"no conversation {self.conversation_id}")
            self.follower.sequencer.last_seq = int(conversation["lastSeq"])
        await self.follower.run()

    @property
    def last_seq(self) -> int:
        return self.follower.last_seq

    @property
    def connected(self) -> asyncio.Event:
        return self.follower.connected

    def drop(self) -> None:
        self.follower.drop()


class Messages(_Stream[Message]):
    """:class:`Following`, new messages only (``Message`` dicts)."""

    def __init__(self, following: Following) -> None:
        super().__init__()
        self.following = following

    async def _run(self) -> None:
        async with self.following:
            async for delivery in self.following:
                if delivery.kind == "new":
                    self._queue.put_nowait(delivery.message)

    def drop(self) -> None:
        self.following.drop()

    @property
    def connected(self) -> asyncio.Event:
        return self.following.connected


class Subscription(_Stream[T]):
    """Any subscription's events (the field's value), reconnecting after network failures."""

    def __init__(self, api: Api, operation: str, variables: Mapping[str, Any], *,
                 backoff: Backoff | None = None, max_attempts: int | None = None) -> None:
        super().__init__()
        self.api = api
        self.operation = operation
        self.variables = dict(variables)
        self.backoff = backoff or Backoff()
        self.max_attempts = max_attempts
        self.connected = asyncio.Event()
        self.failures = 0
        self.connections = 0
        self._connection: RealtimeConnection | None = None

    async def _run(self) -> None:
        self.failures = 0  # consecutive: a session that got connected resets it
        while True:
            try:
                await self._session()
            except (ApiError, AuthError):
                raise
            except Exception as exc:
                if not is_connection_lost(exc):
                    raise
                self.connected.clear()
                self._connection = None
                self.failures += 1
                if self.max_attempts is not None and self.failures > self.max_attempts:
                    raise
                await asyncio.sleep(self.backoff.next_delay())

    async def _session(self) -> None:
        events: asyncio.Queue[Event] = asyncio.Queue()
        async with self.api.realtime() as connection:
            self._connection = connection
            await connection.subscribe(self.operation, self.variables, events.put_nowait)
            self.backoff.reset()
            self.failures = 0
            self.connections += 1
            self.connected.set()
            while True:
                item = await events.get()
                if isinstance(item, Exception):
                    raise item
                if isinstance(item, EventError):
                    continue  # an event the server could not render: nothing to deliver
                value = next(iter(item.values()), None)
                if value is not None:
                    self._queue.put_nowait(value)

    def drop(self) -> None:
        if self._connection is not None:
            self._connection.drop()


