"""The API of a running local stack, through real gql clients (one stack for the module)."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import uuid
from typing import Any

import aiohttp
import pytest
import websockets
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError, TransportServerError

from cloudchat_client import document

from .conftest import TIMEOUT, DevStack, run

pytestmark = pytest.mark.e2e

#: operations.graphql's documents (the web client's): every message selects ...MessageFields.
CREATE = document("CreateConversation")
SEND = document("SendMessage")
ON_MESSAGE = document("OnMessage")


def cmid() -> str:
    return uuid.uuid4().hex[:16]


async def create_group(stack: DevStack, token: str, *members: str, title: str = "e2e") -> str:
    subs = [stack.user(m)["sub"] for m in members]
    data = await stack.execute(token, CREATE, {"input": {"memberIds": subs, "title": title}})
    return str(data["createConversation"]["id"])


async def send(stack: DevStack, token: str, conversation_id: str, body: str,
               query: str = SEND) -> dict[str, Any]:
    data = await stack.execute(
        token, query, {"input": {"conversationId": conversation_id, "body": body, "clientMessageId": cmid()}}
    )
    return dict(data["sendMessage"])


@pytest.fixture(scope="module")
def tokens(stack: DevStack) -> dict[str, str]:
    return {name: stack.token(name) for name in ("alice", "bob", "carol", "mod")}


@pytest.fixture(scope="module")
def conversations(stack: DevStack, tokens: dict[str, str]) -> dict[str, str]:
    """alice+bob, and alice+bob+carol (so carol is a non-member of the first)."""

    async def make() -> dict[str, str]:
        return {
            "ab": await create_group(stack, tokens["alice"], "bob", title="alice and bob"),
            "abc": await create_group(stack, tokens["alice"], "bob", "carol", title="three"),
        }

    return dict(run(make()))


# --------------------------------------------------------------------------- live


def test_two_users_converse_live(stack: DevStack, tokens: dict[str, str], conversations: dict[str, str]) -> None:
    async def scenario() -> None:
        client, transport = stack.ws_client(tokens["bob"])
        async with client as session:
            subscription = session.subscribe(
                GraphQLRequest(ON_MESSAGE, variable_values={"conversationId": conversations["ab"]})
            )
            first = asyncio.create_task(anext(subscription))
            await transport.started(first=first)
            sent = await send(stack, tokens["alice"], conversations["ab"], "hello bob")
            received = await asyncio.wait_for(first, TIMEOUT)
            assert received == {"onMessage": sent}
            assert sent["body"] == "hello bob"
            assert sent["senderId"] == stack.user("alice")["sub"]
            # and back: alice hears bob
            alice_client, alice_transport = stack.ws_client(tokens["alice"])
            async with alice_client as alice_session:
                alice_sub = alice_session.subscribe(
                    GraphQLRequest(ON_MESSAGE, variable_values={"conversationId": conversations["ab"]})
                )
                heard = asyncio.create_task(anext(alice_sub))
                await alice_transport.started(first=heard)
                reply = await send(stack, tokens["bob"], conversations["ab"], "hi alice")
                assert await asyncio.wait_for(heard, TIMEOUT) == {"onMessage": reply}
                assert await asyncio.wait_for(anext(subscription), TIMEOUT) == {"onMessage": reply}
                assert reply["seq"] == sent["seq"] + 1
                await alice_sub.aclose()
            await subscription.aclose()

    run(scenario())


def test_a_non_members_subscription_is_rejected(
    stack: DevStack, tokens: dict[str, str], conversations: dict[str, str]
) -> None:
    async def scenario() -> Any:
        client, _ = stack.ws_client(tokens["carol"])
        async with client as session:
            with pytest.raises(TransportQueryError) as info:
                async for _ in session.subscribe(
                    GraphQLRequest(ON_MESSAGE, variable_values={"conversationId": conversations["ab"]})
                ):
                    pass
            return info.value.errors

    errors = run(scenario())
    assert errors, "rejected without an error"
    flat = json.dumps(errors)
    assert "Forbidden" in flat and "not a member" in flat


def test_a_message_in_another_conversation_is_not_delivered(
    stack: DevStack, tokens: dict[str, str], conversations: dict[str, str]
) -> None:
    async def scenario() -> None:
        client, transport = stack.ws_client(tokens["bob"])
        async with client as session:
            subscription = session.subscribe(
                GraphQLRequest(ON_MESSAGE, variable_values={"conversationId": conversations["ab"]})
            )
            first = asyncio.create_task(anext(subscription))
            await transport.started(first=first)
            # Bob is a member of "abc" too, but did not subscribe to it: sent first, it would
            # arrive first on this socket if it were (wrongly) delivered.
            await send(stack, tokens["alice"], conversations["abc"], "for the three of us")
            expected = await send(stack, tokens["alice"], conversations["ab"], "just for bob")
            received = await asyncio.wait_for(first, TIMEOUT)
            assert received == {"onMessage": expected}
            await subscription.aclose()

    run(scenario())


def test_fields_the_mutation_did_not_select_arrive_null(
    stack: DevStack, tokens: dict[str, str], conversations: dict[str, str]
) -> None:
    # Hand-made on purpose: a publisher selecting less than the subscriber, and a subscriber
    # whose extra fields (body, clientMessageId) are nullable, so the event arrives with nulls.
    narrow = ("mutation($input: SendMessageInput!) { sendMessage(input: $input) "
              "{ id conversationId seq senderId kind createdAt version } }")
    on_message = ("subscription($c: ID!) { onMessage(conversationId: $c) "
                  "{ id conversationId seq senderId kind body createdAt clientMessageId version } }")

    async def scenario() -> None:
        client, transport = stack.ws_client(tokens["bob"])
        async with client as session:
            subscription = session.subscribe(
                GraphQLRequest(on_message, variable_values={"c": conversations["ab"]})
            )
            first = asyncio.create_task(anext(subscription))
            await transport.started(first=first)
            sent = await send(stack, tokens["alice"], conversations["ab"], "secret body", query=narrow)
            received = (await asyncio.wait_for(first, TIMEOUT))["onMessage"]
            assert received["body"] is None
            assert received["clientMessageId"] is None
            assert {k: received[k] for k in sent} == sent
            await subscription.aclose()
        # The message itself is whole: members read the body.
        page = await stack.execute(tokens["bob"], "Messages", {"conversationId": conversations["ab"], "limit": 1})
        assert [{k: m[k] for k in ("id", "body")} for m in page["messages"]["items"]] == \
            [{"id": sent["id"], "body": "secret body"}]

    run(scenario())


def test_a_bad_token_is_rejected_on_the_websocket(stack: DevStack) -> None:
    async def scenario() -> None:
        client, _ = stack.ws_client("not-a-jwt")
        with pytest.raises(TransportServerError) as info:
            async with client:
                pass
        assert "401" in str(info.value) or "Unauthorized" in str(info.value)

    run(scenario())


def test_a_bad_token_is_rejected_on_the_websocket_raw(stack: DevStack) -> None:
    """The same refusal, frame by frame: connection_error with UnauthorizedException."""

    async def scenario() -> dict[str, Any]:
        blob = base64.b64encode(json.dumps({"host": stack.host, "Authorization": "bad"}).encode()).decode()
        url = f"{stack.outputs['GraphQLRealtimeUrl']}?header={blob}&payload=e30="
        async with websockets.connect(url, subprotocols=["graphql-ws"], open_timeout=TIMEOUT) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init"}))
            return dict(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))

    frame = run(scenario())
    assert frame["type"] == "connection_error"
    assert frame["payload"]["errors"][0]["errorType"] == "UnauthorizedException"


def test_the_stream_consumer_publishes_user_events(stack: DevStack, tokens: dict[str, str]) -> None:
    """Table stream -> the template's DynamoDB stream consumer (run by the local stack's
    poller, in-process) -> IAM-signed publishUserEvent -> bob's onUserEvent subscription."""
    bob = stack.user("bob")["sub"]
    query = document("OnUserEvent")

    async def scenario() -> None:
        client, transport = stack.ws_client(tokens["bob"])
        async with client as session:
            subscription = session.subscribe(GraphQLRequest(query, variable_values={"userId": bob}))
            first = asyncio.create_task(anext(subscription))
            await transport.started(first=first)
            created = await create_group(stack, tokens["alice"], "bob", title="stream")

            async def added() -> dict[str, Any]:
                nonlocal first
                while True:  # skip events of earlier tests' writes
                    event = (await first)["onUserEvent"]
                    if event["conversationId"] == created and event["type"] == "ADDED_TO_CONVERSATION":
                        return dict(event)
                    first = asyncio.create_task(anext(subscription))

            event = await asyncio.wait_for(added(), 45)
            assert event["userId"] == bob
            await subscription.aclose()

    run(scenario(), timeout=60)


def test_stream_consumers_come_from_the_template(stack: DevStack) -> None:
    from cloudchat_local.template import load_template

    expected = {
        f.logical_id
        for f in load_template().functions()
        for event in (f.properties.get("Events") or {}).values()
        if event.get("Type") == "DynamoDB"
    }
    assert {c["function"] for c in stack.outputs["StreamConsumers"]} == expected


# --------------------------------------------------------------------------- HTTP


async def post(url: str, body: Any, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=json.dumps(body), headers={"content-type": "application/json", **headers}) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize("token", ["", "garbage", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"])
def test_a_bad_token_gets_401_over_http(stack: DevStack, token: str) -> None:
    headers = {"authorization": token} if token else {}
    status, body = run(post(stack.url, {"query": "{ me { id } }"}, headers))
    assert status == 401
    assert body["errors"][0]["errorType"] == "UnauthorizedException"


def test_gql_raises_on_a_bad_token(stack: DevStack) -> None:
    with pytest.raises((TransportServerError, TransportQueryError)) as info:
        run(stack.execute("garbage", "{ me { id } }"))
    assert "401" in str(info.value) or "Unauthorized" in str(info.value)


def test_domain_errors_keep_their_error_type(
    stack: DevStack, tokens: dict[str, str], conversations: dict[str, str]
) -> None:
    async def error_of(token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        with pytest.raises(TransportQueryError) as info:
            await stack.execute(token, query, variables)
        assert info.value.errors
        return dict(info.value.errors[0])

    async def scenario() -> None:
        empty = await error_of(tokens["alice"], SEND, {"input": {
            "conversationId": conversations["ab"], "body": "", "clientMessageId": cmid()}})
        assert empty["errorType"] == "BadRequest"
        assert empty["path"] == ["sendMessage"]
        forbidden = await error_of(tokens["carol"], SEND, {"input": {
            "conversationId": conversations["ab"], "body": "let me in", "clientMessageId": cmid()}})
        assert forbidden["errorType"] == "Forbidden"
        read = await error_of(tokens["carol"], "Conversation", {"id": conversations["ab"]})
        assert read["errorType"] == "Forbidden"

    run(scenario())


def test_the_demo_conversation_is_there(stack: DevStack, tokens: dict[str, str]) -> None:
    data = run(stack.execute(tokens["mod"], "Conversations", {"limit": 50}))
    welcome = [c for c in data["conversations"]["items"] if c["title"] == "Welcome"]
    assert len(welcome) == 1
    assert welcome[0]["id"] == stack.outputs["DemoConversationId"]
    assert (welcome[0]["kind"], welcome[0]["memberCount"]) == ("GROUP", 4)
    messages = run(stack.execute(
        tokens["mod"],
        "MessagesSince", {"conversationId": welcome[0]["id"], "afterSeq": 0},
    ))["messagesSince"]["items"]
    assert [m["seq"] for m in messages] == [1, 2, 3]
    assert [m["senderId"] for m in messages] == [stack.user(n)["sub"] for n in ("alice", "bob", "carol")]


def test_https_and_wss_with_the_self_signed_certificate(
    stack: DevStack, tokens: dict[str, str], conversations: dict[str, str]
) -> None:
    context = ssl.create_default_context(cafile=stack.outputs["TlsCertificate"])

    async def scenario() -> None:
        async with stack.http_client(tokens["alice"], url=stack.outputs["GraphQLApiHttpsUrl"],
                                     ssl=context) as session:
            me = await session.execute(GraphQLRequest(document("Me")))
            assert me["me"]["id"] == stack.user("alice")["sub"]
        client, transport = stack.ws_client(tokens["bob"], url=stack.outputs["GraphQLRealtimeWssUrl"],
                                            ssl=context)
        async with client as session:
            subscription = session.subscribe(
                GraphQLRequest(ON_MESSAGE, variable_values={"conversationId": conversations["ab"]})
            )
            first = asyncio.create_task(anext(subscription))
            await transport.started(first=first)
            sent = await send(stack, tokens["alice"], conversations["ab"], "over tls")
            assert await asyncio.wait_for(first, TIMEOUT) == {"onMessage": sent}
            await subscription.aclose()

    run(scenario())


def test_outputs_describe_the_stack(stack: DevStack) -> None:
    outputs = stack.outputs
    for key in ("GraphQLApiUrl", "GraphQLRealtimeUrl", "UserPoolId", "UserPoolClientId", "Region",
                "CognitoEndpoint", "DemoUsers", "GraphQLApiHttpsUrl", "GraphQLRealtimeWssUrl",
                "TableName", "KmsKeyArn"):
        assert outputs.get(key), key
    assert outputs["GraphQLApiUrl"].startswith("http://127.0.0.1:")
    assert outputs["GraphQLRealtimeUrl"].startswith("ws://127.0.0.1:")
    assert outputs["CognitoEndpoint"].startswith("http://127.0.0.1:")
    assert {u["name"] for u in outputs["DemoUsers"]} == {"alice", "bob", "carol", "mod"}
    assert stack.user("mod")["groups"] == ["moderator"]
    assert all(u["sub"] and u["password"] and u["username"] for u in outputs["DemoUsers"])
