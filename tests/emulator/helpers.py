"""Client-side helpers: real gql clients and raw aiohttp/websockets calls."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
from botocore.credentials import Credentials
from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncIAMAuthentication, AppSyncJWTAuthentication

from cloudchat_local.emulator import RunningEmulator

from .conftest import IAM_KEY, IAM_SECRET, REGION


def host_of(running: RunningEmulator) -> str:
    return f"127.0.0.1:{running.http_port}"


def jwt_auth(running: RunningEmulator, token: str) -> AppSyncJWTAuthentication:
    return AppSyncJWTAuthentication(host=host_of(running), jwt=token)


def iam_auth(
    running: RunningEmulator, secret: str = IAM_SECRET, key: str = IAM_KEY
) -> AppSyncIAMAuthentication:
    return AppSyncIAMAuthentication(
        host=host_of(running), region_name=REGION, credentials=Credentials(key, secret)
    )


async def gql_execute(
    running: RunningEmulator,
    auth: Any,
    query: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Runs one operation with gql over HTTP; returns the data (raises on GraphQL errors)."""
    transport = AIOHTTPTransport(url=running.graphql_url, auth=auth)
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        return await session.execute(GraphQLRequest(query, variable_values=variables))


def run(coro: Any, timeout: float = 20.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def post_raw(
    running: RunningEmulator,
    body: Any,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST /graphql with aiohttp; returns (status, JSON body, headers)."""
    data = raw if raw is not None else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            running.graphql_url,
            data=data,
            headers={"content-type": "application/json", **(headers or {})},
        ) as resp,
    ):
        headers = {k.lower(): v for k, v in resp.headers.items()}
        return resp.status, await resp.json(content_type=None), headers


def header_blob(auth: dict[str, str], *, urlsafe: bool = False) -> str:
    raw = json.dumps(auth, separators=(",", ":")).encode()
    if urlsafe:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return base64.b64encode(raw).decode()
