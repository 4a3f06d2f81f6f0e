"""The transports: gql over HTTP (``AIOHTTPTransport``) and AppSync's real-time WebSocket
(``AppSyncWebsocketsTransport``), both authorized with the session's Cognito ID token
(``AppSyncJWTAuthentication``). Transport failures become :mod:`cloudchat_client.errors`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncJWTAuthentication
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from gql.transport.exceptions import (
    TransportConnectionFailed,
    TransportProtocolError,
    TransportQueryError,
    TransportServerError,
)
from graphql import ExecutionResult

from cloudchat_client._config import Endpoint
from cloudchat_client._documents import MESSAGE_FIELDS, document
from cloudchat_client.errors import (
    ApiError,
    AuthError,
    CloudChatError,
    NetworkError,
    StackUnreachable,
    TokenRefused,
    api_error_for,
)

__all__ = ["MESSAGE_FIELDS", "AckingTransport", "Api", "Event", "EventError", "RealtimeConnection",
           "api_error", "is_connection_lost", "is_network_error"]

HTTP_TIMEOUT = 30
#: AppSync's errorType (HTTP 401) for a request whose token it does not accept.
TOKEN_REFUSED = "UnauthorizedException"  # noqa: S105 - an error type, not a secret
#: AppSync sends "ka" about every minute and tells clients to give up after connectionTimeoutMs
#: (300 000) without one: a connection silent for longer is dead even if no FIN arrived.
KEEP_ALIVE_TIMEOUT = 330.0


def is_network_error(exc: BaseException) -> bool:
    """A failure of the connection, not an answer from the API: worth a retry."""
    return isinstance(exc, (aiohttp.ClientError, OSError, TimeoutError, TransportConnectionFailed,
                            NetworkError))


def is_connection_lost(exc: BaseException) -> bool:
    """A subscription's connection failed or broke (network, or the WebSocket protocol):
    worth a reconnect."""
    from gql.transport.exceptions import TransportError

    return is_network_error(exc) or isinstance(exc, TransportError)


def api_error(exc: TransportQueryError) -> ApiError:
    errors = exc.errors or []
    first = errors[0] if errors and isinstance(errors[0], Mapping) else {}
    nested = first.get("errors")  # a refused subscription start: gql passes AppSync's whole payload
    if not first.get("errorType") and isinstance(nested, list) and nested and isinstance(nested[0], Mapping):
        first = nested[0]
    info = first.get("errorInfo")
    return api_error_for(str(first.get("errorType") or "Error"), str(first.get("message") or exc),
                         info if isinstance(info, Mapping) else None)


class Api:
    """An open HTTP session to the API. ``token`` returns the current ID token (it may refresh).
    With ``refresh`` (returns a new token), a request whose token the API refused (HTTP 401
    ``UnauthorizedException``: expired, revoked) is retried once with a refreshed one."""

    def __init__(self, endpoint: Endpoint, token: Callable[[], str],
                 refresh: Callable[[], str] | None = None) -> None:
        self.endpoint = endpoint
        self._token = token
        self._refresh = refresh
        # the token is read (and refreshed when due) before each request
        self._auth = AppSyncJWTAuthentication(host=endpoint.host, jwt="")
        self._client = Client(
            transport=AIOHTTPTransport(url=endpoint.graphql_url, auth=self._auth, timeout=HTTP_TIMEOUT),
            fetch_schema_from_transport=False,
            execute_timeout=HTTP_TIMEOUT,
        )
        self._session: Any = None

    async def __aenter__(self) -> Api:
        self._session = await self._client.connect_async()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._client.close_async()
        self._session = None

    def current_token(self) -> str:
        """The session's token, refreshed if near expiry; also used for the next requests."""
        self._auth.jwt = self._token()
        return self._auth.jwt

    async def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Runs ``query`` (an operation's name in operations.graphql, or GraphQL text)."""
        assert self._session is not None, "use `async with Api(...)`"
        self.current_token()
        request = GraphQLRequest(document(query), variable_values=dict(variables or {}))
        try:
            return await self._execute(request)
        except TokenRefused as refused:
            if self._refresh is None:
                raise refused.error from None
            self._auth.jwt = self._refresh()
        try:
            return await self._execute(request)
        except TokenRefused as refused:
            raise refused.error from None

    async def _execute(self, request: GraphQLRequest) -> dict[str, Any]:
        try:
            result = await self._session.execute(request)
        except TransportQueryError as exc:
            error = api_error(exc)
            if error.error_type == TOKEN_REFUSED:
                raise TokenRefused(error) from None
            raise error from None
        except TransportServerError as exc:
            if exc.code in (401, 403):
                refused = AuthError(f"the API refused the token ({exc.code}); run `cloudchat login`")
                if exc.code == 401:
                    raise TokenRefused(refused) from None
                raise refused from None
            raise ApiError("ServerError", str(exc)) from None
        except TransportProtocolError as exc:
            raise CloudChatError(f"{self.endpoint.graphql_url} did not answer like a GraphQL API: {exc}") \
                from None
        except (aiohttp.ClientConnectorError, ConnectionRefusedError) as exc:
            raise StackUnreachable(self.endpoint.graphql_url) from exc
        except (TransportConnectionFailed, aiohttp.ClientError, OSError, TimeoutError) as exc:
            if isinstance(exc.__cause__, (aiohttp.ClientConnectorError, ConnectionRefusedError)):
                raise StackUnreachable(self.endpoint.graphql_url) from exc
            detail = str(exc) or type(exc).__name__
            raise NetworkError(f"the connection to {self.endpoint.graphql_url} failed: {detail}") from exc
        return dict(result)

    def realtime(self) -> RealtimeConnection:
        return RealtimeConnection(self.endpoint, self.current_token())


@dataclass(frozen=True)
class EventError:
    """A subscription event the server answered with errors instead of (all of) the data."""

    errors: list[Any]
    data: dict[str, Any]

    def describe(self) -> str:
        first = self.errors[0] if self.errors else {}
        return str(first.get("message") if isinstance(first, Mapping) else first)


Event = Mapping[str, Any] | EventError | Exception


class AckingTransport(AppSyncWebsocketsTransport):
    """Reports each ``start_ack`` (gql drops them): a subscription is live only after it, so a
    client subscribes, waits for the ack, and only then catches up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acks: asyncio.Queue[str] = asyncio.Queue()

    def _parse_answer(self, answer: str) -> Any:
        parsed = super()._parse_answer(answer)
        if parsed[0] == "start_ack":
            self.acks.put_nowait(str(json.loads(answer).get("id")))
        return parsed


class RealtimeConnection:
    """One WebSocket to ``/graphql/realtime``. ``subscribe`` starts a subscription whose
    results go to a queue and returns once the server acknowledged it."""

    def __init__(self, endpoint: Endpoint, token: str, *, ack_timeout: float = 15.0) -> None:
        self.endpoint = endpoint
        self.ack_timeout = ack_timeout
        auth = AppSyncJWTAuthentication(host=endpoint.host, jwt=token)
        self.transport = AckingTransport(url=endpoint.realtime_url, auth=auth, connect_timeout=10,
                                          close_timeout=2, keep_alive_timeout=KEEP_ALIVE_TIMEOUT)
        self._client = Client(transport=self.transport, fetch_schema_from_transport=False)
        self._session: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> RealtimeConnection:
        try:
            self._session = await self._client.connect_async()
        except TransportQueryError as exc:
            raise api_error(exc) from None
        except TransportServerError as exc:
            if exc.code == 401 or "Unauthorized" in str(exc):
                raise AuthError(f"the real-time endpoint refused the token: {exc}") from None
            raise NetworkError(f"the real-time endpoint failed: {exc}") from None
        except (TimeoutError, OSError, aiohttp.ClientError, TransportConnectionFailed) as exc:
            raise StackUnreachable(self.endpoint.realtime_url) from exc
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await self._client.close_async()

    async def subscribe(self, query: str, variables: Mapping[str, Any],
                        sink: Callable[[Event], None]) -> None:
        """Starts the subscription; each result (its data), each event the server could only
        answer with errors (:class:`EventError`), and the exception that ended the subscription
        go to ``sink``. Returns after ``start_ack``; a rejected start raises its ApiError."""
        assert self._session is not None, "use `async with api.realtime()`"
        # The transport's generator, not the session's: the session's raises on (and ends at)
        # the first event with errors, such as a null in a non-null field because the
        # publishing mutation did not select it; the subscription itself is still live.
        results: AsyncIterator[ExecutionResult] = self.transport.subscribe(
            GraphQLRequest(document(query), variable_values=dict(variables)))
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        first.add_done_callback(lambda f: None if f.cancelled() else f.exception())

        async def pump() -> None:
            try:
                async for result in results:
                    if not first.done():
                        first.set_result(None)
                    if result.errors:
                        sink(EventError(list(result.errors), dict(result.data or {})))
                    else:
                        sink(dict(result.data or {}))
                raise TransportConnectionFailed("the subscription ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # handed to the consumer, which decides
                mapped: Exception = api_error(exc) if isinstance(exc, TransportQueryError) else exc
                if not first.done():
                    first.set_exception(mapped)
                sink(mapped)

        self._tasks.append(asyncio.create_task(pump()))
        ack: asyncio.Future[Any] = asyncio.ensure_future(self.transport.acks.get())
        done, _ = await asyncio.wait({ack, first}, timeout=self.ack_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ack in done:
            return
        ack.cancel()
        if first in done and first.exception() is not None:
            raise first.exception()  # type: ignore[misc]
        if first in done:
            return  # data before the ack: it is live
        raise TransportConnectionFailed(f"no start_ack within {self.ack_timeout} s")

    def drop(self) -> None:
        """Cuts the connection as a network failure would (no close handshake)."""
        websocket = self.transport.adapter.websocket
        if websocket is not None:
            websocket.transport.abort()

