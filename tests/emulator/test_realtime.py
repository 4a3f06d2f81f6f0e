"""AppSync's real-time protocol: real gql AppSyncWebsocketsTransport and raw websockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from gql.transport.exceptions import TransportQueryError, TransportServerError
from websockets.asyncio.client import ClientConnection, connect

from cloudchat_local.emulator import RunningEmulator

from .conftest import Cognito, Recorder
from .helpers import gql_execute, header_blob, host_of, iam_auth, jwt_auth, run

TIMEOUT = 5.0
POST = (
    "mutation($r: ID!, $t: String, $n: String) "
    "{ postItem(roomId: $r, text: $t, note: $n) { id roomId text } }"
)


async def _wait_subscribed(emulator: RunningEmulator, field: str, arguments: dict[str, Any]) -> None:
    ok = await asyncio.to_thread(
        emulator.wait_for_subscriptions, 1, field=field, arguments=arguments, timeout=TIMEOUT
    )
    assert ok, f"{field}({arguments}) never became active"


async def _post(emulator: RunningEmulator, token: str, room: str, text: str, note: str | None = None) -> Any:
    return await gql_execute(emulator, jwt_auth(emulator, token), POST, {"r": room, "t": text, "n": note})


def _transport(emulator: RunningEmulator, auth: Any) -> AppSyncWebsocketsTransport:
    return AppSyncWebsocketsTransport(url=emulator.realtime_url, auth=auth, keep_alive_timeout=10)


class RawClient:
    """A hand-driven AppSync real-time client."""

    def __init__(self, ws: ClientConnection, auth: dict[str, str]) -> None:
        self.ws = ws
        self.auth = auth

    async def send(self, frame: Any) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def frame(self, *, skip_ka: bool = True) -> dict[str, Any]:
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
            if not (skip_ka and frame.get("type") == "ka"):
                return frame

    async def init(self) -> dict[str, Any]:
        await self.send({"type": "connection_init"})
        return await self.frame()

    async def start(
        self,
        sub_id: str,
        query: str,
        variables: dict[str, Any] | None = None,
        auth: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps({"query": query, "variables": variables or {}})
        await self.send(
            {
                "id": sub_id,
                "type": "start",
                "payload": {"data": data, "extensions": {"authorization": auth or self.auth}},
            }
        )


@asynccontextmanager
async def raw_client(
    emulator: RunningEmulator, token: str | None, *, via: str = "query"
) -> AsyncIterator[RawClient]:
    auth = {"host": host_of(emulator)}
    if token is not None:
        auth["Authorization"] = token
    url = emulator.realtime_url
    subprotocols = ["graphql-ws"]
    if via == "query":
        url += f"?header={header_blob(auth)}&payload=e30="
    else:
        subprotocols.append("header-" + header_blob(auth, urlsafe=True))
    async with connect(url, subprotocols=subprotocols, open_timeout=TIMEOUT) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "graphql-ws"
        yield RawClient(ws, auth)


def test_gql_subscription_receives_matching_mutation(emulator: RunningEmulator, cognito: Cognito) -> None:
    token = cognito.tokens["alice"]["access"]

    async def scenario() -> dict[str, Any]:
        client = Client(transport=_transport(emulator, jwt_auth(emulator, token)))
        async with client as session:
            subscription = session.subscribe(
                GraphQLRequest(
                    "subscription($r: ID) { onItem(roomId: $r) { id roomId text } }",
                    variable_values={"r": "room-1"},
                )
            )
            first = asyncio.create_task(anext(subscription))
            await _wait_subscribed(emulator, "onItem", {"roomId": "room-1"})
            posted = await _post(emulator, token, "room-1", "hello")
            received = await asyncio.wait_for(first, TIMEOUT)
            assert received == {"onItem": posted["postItem"]}
            await subscription.aclose()
            return received

    received = run(scenario())
    assert received["onItem"]["text"] == "hello"


def test_non_matching_argument_is_not_delivered(emulator: RunningEmulator, cognito: Cognito) -> None:
    token = cognito.tokens["alice"]["access"]
    query = "subscription($r: ID, $t: String) { onItem(roomId: $r, text: $t) { roomId text } }"

    async def scenario() -> list[dict[str, Any]]:
        async with raw_client(emulator, token) as client:
            assert (await client.init())["type"] == "connection_ack"
            await client.start("r1", query, {"r": "room-1"})
            await client.start("r2", query, {"r": "room-2"})
            await client.start("r1-other-text", query, {"r": "room-1", "t": "other"})
            acks = {(await client.frame())["id"] for _ in range(3)}
            assert acks == {"r1", "r2", "r1-other-text"}
            await _post(emulator, token, "room-1", "one")
            await _post(emulator, token, "room-2", "two")
            frames = [await client.frame(), await client.frame()]
            return frames

    frames = run(scenario())
    assert frames == [
        {"type": "data", "id": "r1", "payload": {"data": {"onItem": {"roomId": "room-1", "text": "one"}}}},
        {"type": "data", "id": "r2", "payload": {"data": {"onItem": {"roomId": "room-2", "text": "two"}}}},
    ]


def test_selection_set_rule(emulator: RunningEmulator, cognito: Cognito) -> None:
    token = cognito.tokens["alice"]["access"]

    async def scenario() -> list[dict[str, Any]]:
        async with raw_client(emulator, token) as client:
            await client.init()
            await client.start("loose", 'subscription { onItem(roomId: "room-s") { id text note } }')
            await client.start("strict", 'subscription { onItem(roomId: "room-s") { id createdAt } }')
            assert {(await client.frame())["type"] for _ in range(2)} == {"start_ack"}
            # The handler returns note and createdAt, but the mutation does not select them.
            await _post(emulator, token, "room-s", "sel", note="hidden")
            frames = {}
            for _ in range(2):
                frame = await client.frame()
                frames[frame["id"]] = frame["payload"]
            # A mutation that does not select roomId cannot match a roomId filter.
            await gql_execute(
                emulator, jwt_auth(emulator, token), 'mutation { postItem(roomId: "room-s") { id } }'
            )
            await _post(emulator, token, "room-s", "marker")
            marker = await client.frame()
            return [frames["loose"], frames["strict"], marker]

    loose, strict, marker = run(scenario())
    assert loose == {"data": {"onItem": {"id": loose["data"]["onItem"]["id"], "text": "sel", "note": None}}}
    assert strict == {
        "data": {"onItem": None},
        "errors": [
            {
                "message": (
                    "Cannot return null for non-nullable type: 'AWSDateTime' within parent "
                    "'Item' (/onItem/createdAt)"
                ),
                "path": ["onItem", "createdAt"],
            }
        ],
    }
    assert marker["payload"]["data"]["onItem"]["text"] == "marker"


def test_subscription_resolver_rejects(
    emulator: RunningEmulator, cognito: Cognito, recorder: Recorder
) -> None:
    async def scenario() -> None:
        bob = Client(transport=_transport(emulator, jwt_auth(emulator, cognito.tokens["bob"]["access"])))
        async with bob as session:
            with pytest.raises(TransportQueryError) as info:
                async for _ in session.subscribe(
                    GraphQLRequest('subscription { onGuardedItem(roomId: "room-g") { id } }')
                ):
                    pass
            assert info.value.errors == [
                {"errors": [{"errorType": "Forbidden", "message": "not a member of room-g"}]}
            ]
        assert emulator.engine.broker.count("onGuardedItem") == 0

        alice_token = cognito.tokens["alice"]["access"]
        async with raw_client(emulator, alice_token) as client:
            await client.init()
            await client.start("g", 'subscription { onGuardedItem(roomId: "room-g") { id roomId } }')
            assert await client.frame() == {"type": "start_ack", "id": "g"}
            await _post(emulator, alice_token, "room-g", "guarded")
            frame = await client.frame()
            assert frame["id"] == "g"
            assert frame["payload"]["data"]["onGuardedItem"]["roomId"] == "room-g"

    run(scenario())
    bob_event, alice_event = recorder.events("onGuardedItem")
    assert bob_event["identity"]["username"] == "bob"
    assert bob_event["arguments"] == {"roomId": "room-g"}
    assert bob_event["info"]["parentTypeName"] == "Subscription"
    assert bob_event["info"]["selectionSetList"] == ["id"]
    assert alice_event["identity"]["username"] == "alice"


def test_stop_completes(emulator: RunningEmulator, cognito: Cognito) -> None:
    token = cognito.tokens["alice"]["access"]

    async def scenario() -> None:
        async with raw_client(emulator, token) as client:
            await client.init()
            await client.start("s", 'subscription { onItem(roomId: "room-stop") { id } }')
            assert await client.frame() == {"type": "start_ack", "id": "s"}
            await client.send({"type": "stop", "id": "s"})
            assert await client.frame() == {"type": "complete", "id": "s"}
            assert emulator.engine.broker.count("onItem") == 0
            # The id may be reused after stop.
            await client.start("s", 'subscription { onItem(roomId: "room-stop") { id } }')
            assert await client.frame() == {"type": "start_ack", "id": "s"}

    run(scenario())


def test_malformed_frames_do_not_kill_the_connection(emulator: RunningEmulator, cognito: Cognito) -> None:
    token = cognito.tokens["alice"]["access"]

    async def scenario() -> None:
        async with raw_client(emulator, token) as client:
            await client.init()
            await client.start("live", 'subscription { onItem(roomId: "room-m") { text } }')
            assert await client.frame() == {"type": "start_ack", "id": "live"}

            await client.send("this is not json")
            frame = await client.frame()
            assert frame["type"] == "error" and "id" not in frame
            await client.send({"type": "bogus", "id": "b"})
            assert await client.frame() == {
                "type": "error",
                "id": "b",
                "payload": {
                    "errors": [
                        {
                            "errorType": "UnsupportedOperation",
                            "message": "bogus not supported through the realtime channel",
                        }
                    ]
                },
            }
            await client.send({"type": "start", "id": "bad", "payload": {"data": "{not json"}})
            frame = await client.frame()
            assert frame["type"] == "error" and frame["id"] == "bad"
            await client.start("live", 'subscription { onItem(roomId: "room-m") { text } }')
            frame = await client.frame()
            assert (
                frame["id"] == "live"
                and frame["payload"]["errors"][0]["errorType"] == "DuplicatedOperationError"
            )
            await client.start("q", '{ echo(text: "x") { id } }')
            frame = await client.frame()
            assert frame["payload"]["errors"][0] == {
                "errorType": "UnsupportedOperation",
                "message": "query not supported through the realtime channel",
            }
            await client.start("v", "subscription { onItem { nope } }")
            frame = await client.frame()
            assert frame["payload"]["errors"][0]["message"].startswith(
                "Validation error of type FieldUndefined"
            )

            # ... and the first subscription still works.
            await _post(emulator, token, "room-m", "still alive")
            assert await client.frame() == {
                "type": "data",
                "id": "live",
                "payload": {"data": {"onItem": {"text": "still alive"}}},
            }

    run(scenario())


def test_amplify_style_subprotocol_auth_and_keepalive(emulator: RunningEmulator, cognito: Cognito) -> None:
    token = cognito.tokens["alice"]["id"]

    async def scenario() -> None:
        async with raw_client(emulator, token, via="subprotocol") as client:
            await client.send({"type": "connection_init"})
            assert await client.frame(skip_ka=False) == {
                "type": "connection_ack",
                "payload": {"connectionTimeoutMs": 300000},
            }
            assert await client.frame(skip_ka=False) == {"type": "ka"}
            assert await client.frame(skip_ka=False) == {"type": "ka"}
            await client.start("a", 'subscription { onItem(roomId: "room-a") { id } }')
            assert await client.frame() == {"type": "start_ack", "id": "a"}

    run(scenario())


def test_per_start_authorization(emulator: RunningEmulator, cognito: Cognito) -> None:
    async def scenario() -> None:
        async with raw_client(emulator, cognito.tokens["alice"]["access"]) as client:
            await client.init()
            bad = {"host": host_of(emulator), "Authorization": cognito.foreign_token}
            await client.start("x", 'subscription { onItem(roomId: "r") { id } }', auth=bad)
            assert await client.frame() == {
                "type": "error",
                "id": "x",
                "payload": {
                    "errors": [
                        {
                            "errorType": "UnauthorizedException",
                            "message": "Valid authorization header not provided.",
                        }
                    ]
                },
            }
            # Field authorization applies too: an IAM-signed start may not use onItem.
            signed = iam_auth(emulator).get_headers(
                json.dumps({"query": 'subscription { onItem(roomId: "r") { id } }', "variables": {}})
            )
            await client.start("iam", 'subscription { onItem(roomId: "r") { id } }', auth=signed)
            assert await client.frame() == {
                "type": "error",
                "id": "iam",
                "payload": {
                    "errors": [
                        {
                            "errorType": "Unauthorized",
                            "message": "Not Authorized to access onItem on type Subscription",
                        }
                    ]
                },
            }

    run(scenario())


@pytest.mark.parametrize("token", ["expired", "tampered", "foreign", None])
def test_handshake_rejections(emulator: RunningEmulator, cognito: Cognito, token: str | None) -> None:
    tokens = {
        "expired": cognito.mint(cognito.claims(iat=1_000, auth_time=1_000, exp=2_000)),
        "tampered": cognito.tokens["alice"]["access"][:-4] + "AAAA",
        "foreign": cognito.foreign_token,
        None: None,
    }

    async def scenario() -> None:
        async with raw_client(emulator, tokens[token]) as client:
            await client.send({"type": "connection_init"})
            assert await client.frame() == {
                "type": "connection_error",
                "payload": {
                    "errors": [
                        {
                            "errorType": "UnauthorizedException",
                            "message": "You are not authorized to make this call.",
                            "errorCode": 401,
                        }
                    ]
                },
            }
            await asyncio.wait_for(client.ws.wait_closed(), TIMEOUT)

    run(scenario())


def test_gql_transport_sees_the_rejection(emulator: RunningEmulator, cognito: Cognito) -> None:
    async def scenario() -> None:
        transport = _transport(emulator, jwt_auth(emulator, cognito.foreign_token))
        with pytest.raises(TransportServerError, match="UnauthorizedException"):
            async with Client(transport=transport):
                pass

    run(scenario())


def test_iam_subscription_and_none_publish(emulator: RunningEmulator, cognito: Cognito) -> None:
    async def scenario() -> dict[str, Any]:
        client = Client(transport=_transport(emulator, iam_auth(emulator)))
        async with client as session:
            subscription = session.subscribe(
                GraphQLRequest('subscription { onEvent(userId: "u-7") { userId kind body } }')
            )
            first = asyncio.create_task(anext(subscription))
            await _wait_subscribed(emulator, "onEvent", {"userId": "u-7"})
            await gql_execute(
                emulator,
                iam_auth(emulator),
                "mutation($i: PublishEventInput!) { publishEvent(input: $i) { userId kind body } }",
                {"i": {"userId": "u-8", "kind": "other-user", "body": "{}"}},
            )
            await gql_execute(
                emulator,
                iam_auth(emulator),
                "mutation($i: PublishEventInput!) { publishEvent(input: $i) { userId kind body } }",
                {"i": {"userId": "u-7", "kind": "inbox", "body": '{"unread":2}'}},
            )
            received = await asyncio.wait_for(first, TIMEOUT)
            await subscription.aclose()
            return received

    assert run(scenario()) == {"onEvent": {"userId": "u-7", "kind": "inbox", "body": '{"unread":2}'}}
