"""Aliases in publishing mutations, as publicly reported of AppSync: an aliased mutation root
field triggers no subscription (dillonkearns/elm-graphql#106, aws-amplify/amplify-js#3213);
a field aliased inside the mutation's selection reaches subscribers as null
(aws/aws-appsync-community#160). The mutation itself runs and answers under its aliases. A
subscriber's alias on the subscription field is ignored: data arrive under the field's name
(aws-amplify/amplify-js#3213, graphql/graphql-js#1846)."""

from __future__ import annotations

from typing import Any

from cloudchat_local.emulator import RunningEmulator

from .conftest import Cognito, Recorder
from .helpers import gql_execute, jwt_auth, run
from .test_realtime import _post, raw_client


def test_an_aliased_mutation_root_field_publishes_nothing(
    emulator: RunningEmulator, cognito: Cognito, recorder: Recorder
) -> None:
    token = cognito.tokens["alice"]["access"]

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with raw_client(emulator, token) as client:
            await client.init()
            await client.start("a", 'subscription { onItem(roomId: "room-alias") { id text } }')
            assert (await client.frame())["type"] == "start_ack"
            answered = await gql_execute(
                emulator, jwt_auth(emulator, token),
                'mutation { first: postItem(roomId: "room-alias", text: "aliased") { id roomId text }'
                ' second: postItem(roomId: "room-alias", text: "aliased too") { id roomId text } }',
            )
            await _post(emulator, token, "room-alias", "plain")
            return answered, await client.frame()

    answered, frame = run(scenario())
    assert answered["first"]["text"] == "aliased" and answered["second"]["text"] == "aliased too"
    assert [e["arguments"]["text"] for e in recorder.events("postItem")] == [
        "aliased", "aliased too", "plain"]
    # The first data frame is the unaliased mutation's: neither aliased one was published.
    assert frame["payload"]["data"]["onItem"]["text"] == "plain"


def test_the_same_field_unaliased_beside_an_aliased_one_publishes_once(
    emulator: RunningEmulator, cognito: Cognito
) -> None:
    token = cognito.tokens["alice"]["access"]

    async def scenario() -> list[str]:
        async with raw_client(emulator, token) as client:
            await client.init()
            await client.start("b", 'subscription { onItem(roomId: "room-mix") { text } }')
            assert (await client.frame())["type"] == "start_ack"
            await gql_execute(
                emulator, jwt_auth(emulator, token),
                'mutation { x: postItem(roomId: "room-mix", text: "x") { roomId text }'
                ' postItem(roomId: "room-mix", text: "y") { roomId text } }',
            )
            await _post(emulator, token, "room-mix", "marker")
            return [(await client.frame())["payload"]["data"]["onItem"]["text"] for _ in range(2)]

    assert run(scenario()) == ["y", "marker"]


def test_a_field_aliased_in_the_mutation_reaches_subscribers_as_null(
    emulator: RunningEmulator, cognito: Cognito
) -> None:
    token = cognito.tokens["alice"]["access"]

    async def scenario() -> dict[str, Any]:
        async with raw_client(emulator, token) as client:
            await client.init()
            await client.start("p", 'subscription { onItem(roomId: "room-nested") { id text } }')
            await client.start("q", 'subscription { onItem(roomId: "room-nested") { id words: text } }')
            assert {(await client.frame())["type"] for _ in range(2)} == {"start_ack"}
            answered = await gql_execute(
                emulator, jwt_auth(emulator, token),
                'mutation { postItem(roomId: "room-nested", text: "hi") { id roomId words: text } }',
            )
            assert answered["postItem"]["words"] == "hi"
            frames = {}
            for _ in range(2):
                frame = await client.frame()
                frames[frame["id"]] = frame["payload"]["data"]["onItem"]
            return frames

    frames = run(scenario())
    assert frames["p"]["text"] is None and frames["p"]["id"]
    assert frames["q"]["words"] is None


def test_a_subscription_alias_is_ignored(emulator: RunningEmulator, cognito: Cognito) -> None:
    token = cognito.tokens["alice"]["access"]

    async def scenario() -> dict[str, Any]:
        async with raw_client(emulator, token) as client:
            await client.init()
            await client.start("s", 'subscription { item: onItem(roomId: "room-salias") { id t: text } }')
            assert (await client.frame())["type"] == "start_ack"
            await _post(emulator, token, "room-salias", "hi")
            frame: dict[str, Any] = await client.frame()
            return frame

    frame = run(scenario())
    assert frame["payload"] == {"data": {"onItem": {"id": frame["payload"]["data"]["onItem"]["id"], "t": "hi"}}}
