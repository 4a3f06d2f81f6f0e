"""The client side: gql over HTTP (one keep-alive session per user) and over AppSync real-time
WebSockets (the client library's transport), and running the asynchronous part of a benchmark
with a time bound."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from gql import Client
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncAuthentication, AppSyncJWTAuthentication

from cloudchat_client import _transport

T = TypeVar("T")


def host(url: str) -> str:
    """``host:port`` of an endpoint URL (what AppSync authentication signs)."""
    return url.split("://", 1)[1].split("/", 1)[0]


def jwt_auth(graphql_url: str, token: str) -> AppSyncJWTAuthentication:
    return AppSyncJWTAuthentication(host=host(graphql_url), jwt=token)


def http_client(graphql_url: str, auth: AppSyncAuthentication, *, timeout: int) -> Client:
    """A gql client over HTTP (``connect_async(reconnecting=False)`` opens its keep-alive
    session); the schema is not fetched."""
    return Client(transport=AIOHTTPTransport(url=graphql_url, auth=auth, timeout=timeout),
                  fetch_schema_from_transport=False)


class AckingTransport(_transport.AckingTransport):
    """The client library's real-time transport (it queues each ``start_ack``, which gql drops), plus an
    abrupt disconnect."""

    def abort(self) -> bool:
        """Drops the connection abruptly: the TCP socket is closed with no ``stop`` and no
        WebSocket close frame, as when a phone loses its network. False when not connected."""
        websocket = self.adapter.websocket
        if websocket is None:
            return False
        websocket.transport.abort()
        return True


def run_async(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """Runs ``coro`` to completion on a fresh event loop (uvloop when installed), bounded
    by ``timeout`` seconds (``TimeoutError`` beyond)."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    try:
        import uvloop
    except ImportError:
        return asyncio.run(bounded())
    return uvloop.run(bounded())
