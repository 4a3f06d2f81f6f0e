"""Encrypted search end to end: the local stack as a subprocess and real gql clients (the
operations of operations.graphql). The index is written with each send, replaced by edits,
removed by deletes, and finished by the stream consumer (through the template's filters)
for messages with more words than a send transaction takes."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from .conftest import DevStack, eventually, run
from .test_features import error_type, gql, group, send, sub

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tokens(stack: DevStack) -> dict[str, str]:
    return {name: stack.token(name) for name in ("alice", "bob", "carol")}


async def search(stack: DevStack, token: str, query: str, cid: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    data = await gql(stack, token, "SearchMessages", query=query, conversationId=cid, **extra)
    return dict(data["searchMessages"])


def bodies(page: dict[str, Any]) -> list[str]:
    return [m["body"] for m in page["items"]]


def test_search_through_send_edit_and_delete(stack: DevStack, tokens: dict[str, str]) -> None:
    async def scenario() -> None:
        cid = await group(stack, tokens["alice"], "bob", title="search e2e")
        first = await send(stack, tokens["alice"], cid, "Rendez-vous au Café de Flore")
        await send(stack, tokens["bob"], cid, "café? je préfère le thé")
        await send(stack, tokens["bob"], cid, "東京で会いましょう")
        got = await search(stack, tokens["bob"], "CAFE", cid)
        assert bodies(got) == ["café? je préfère le thé", "Rendez-vous au Café de Flore"]
        hit = got["items"][1]
        assert [hit["body"][s["start"]:s["end"]] for s in hit["matches"]] == ["Café"]
        assert hit["id"] == first["id"] and hit["seq"] == first["seq"]
        assert bodies(await search(stack, tokens["alice"], "pref the", cid)) == [
            "café? je préfère le thé"]
        assert bodies(await search(stack, tokens["alice"], "東京", cid)) == ["東京で会いましょう"]
        # an edit replaces the index in its own transaction: no wait
        await gql(stack, tokens["alice"], "EditMessage", input={
            "conversationId": cid, "messageId": first["id"], "body": "Rendez-vous à la gare",
            "expectedVersion": 1})
        assert bodies(await search(stack, tokens["bob"], "flore", cid)) == []
        assert bodies(await search(stack, tokens["bob"], "gare", cid)) == ["Rendez-vous à la gare"]
        await gql(stack, tokens["alice"], "DeleteMessage", conversationId=cid,
                  messageId=first["id"])
        assert bodies(await search(stack, tokens["bob"], "rendez", cid)) == []
        # outsiders and bad input
        assert await error_type(stack, tokens["carol"], "SearchMessages", query="cafe",
                                conversationId=cid) == "Forbidden"
        assert await error_type(stack, tokens["bob"], "SearchMessages", query="🎉",
                                conversationId=cid) == "BadRequest"

    run(scenario())


def test_paging_and_search_across_conversations(stack: DevStack, tokens: dict[str, str]) -> None:
    async def scenario() -> None:
        a = await group(stack, tokens["alice"], "bob", title="search a")
        b = await group(stack, tokens["alice"], "carol", title="search b")
        for i in range(3):
            await send(stack, tokens["alice"], a, f"quarterly numbers {i}")
            await send(stack, tokens["carol"], b, f"quarterly plan {i}")
        page = await search(stack, tokens["alice"], "quarterly", a, limit=2)
        assert bodies(page) == ["quarterly numbers 2", "quarterly numbers 1"]
        rest = await search(stack, tokens["alice"], "quarterly", a, limit=2,
                            nextToken=page["nextToken"])
        assert bodies(rest) == ["quarterly numbers 0"] and rest["nextToken"] is None
        assert await error_type(stack, tokens["bob"], "SearchMessages", query="quarterly",
                                conversationId=a, limit=2,
                                nextToken=page["nextToken"]) == "BadRequest"
        # across conversations: the caller's (listed through an eventually consistent index)
        everywhere = await eventually(
            lambda: search(stack, tokens["alice"], "quarterly", limit=6),
            lambda got: len(got["items"]) == 6)
        assert bodies(everywhere) == [f"quarterly {w} {i}" for i in (2, 1, 0)
                                      for w in ("plan", "numbers")]
        carols = await eventually(lambda: search(stack, tokens["carol"], "quarterly"),
                                  lambda got: len(got["items"]) == 3)
        assert {m["conversationId"] for m in carols["items"]} == {b}
        assert sub(stack, "carol") in {m["senderId"] for m in carols["items"]}

    run(scenario())


def test_a_long_message_is_finished_by_the_stream_consumer(stack: DevStack,
                                                           tokens: dict[str, str]) -> None:
    async def scenario() -> None:
        cid = await group(stack, tokens["alice"], "bob", title="search long")
        # 40 words with distinct prefixes, then one whose terms come after 40 others: the
        # send transaction posts 40, the stream consumer the rest
        words = [f"{chr(97 + i // 26)}{chr(97 + i % 26)}qly" for i in range(40)] + ["zanzibar"]
        await send(stack, tokens["alice"], cid, " ".join(words))
        found = await eventually(lambda: search(stack, tokens["bob"], "zanzibar", cid),
                                 lambda got: len(got["items"]) == 1, timeout=60)
        assert found["items"][0]["matches"][0]["end"] == len(" ".join(words))
        assert bodies(await search(stack, tokens["bob"], "zanz", cid)) == [" ".join(words)]
        # edited down to two words: its transaction deletes 40 postings, the consumer the rest
        await gql(stack, tokens["alice"], "EditMessage", input={
            "conversationId": cid, "messageId": found["items"][0]["id"], "body": "short now",
            "expectedVersion": 1})
        assert bodies(await search(stack, tokens["bob"], "zanzibar", cid)) == []
        await eventually(lambda: postings(stack, cid), lambda n: n == 4, timeout=60)

    run(scenario())


async def postings(stack: DevStack, cid: str) -> int:
    """The conversation's search postings, read from the stack's moto (test inspection)."""
    ddb = boto3.client("dynamodb", endpoint_url=stack.outputs["AwsEndpointUrl"],
                       region_name=stack.outputs["Region"], aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    resp = ddb.query(TableName=stack.outputs["TableName"], Select="COUNT",
                     KeyConditionExpression="PK = :pk AND begins_with(SK, :sx)",
                     ExpressionAttributeValues={":pk": {"S": f"CONV#{cid}"}, ":sx": {"S": "SX#"}})
    return int(resp["Count"])


def test_the_client_library_searches_with_typed_errors(stack: DevStack) -> None:
    from cloudchat_client import BadRequest, CloudChat, Forbidden

    async def scenario() -> None:
        async with CloudChat.from_outputs(stack.outputs_path) as chat:
            await chat.sign_in("alice", stack.user("alice")["password"])
            cid = (await chat.create_conversation([sub(stack, "bob")], title="client search"))["id"]
            await chat.send_message(cid, "Ünïcode façade, typed hits")
            page = await chat.search_messages("FACADE", conversation_id=cid)
            hit = page["items"][0]
            assert [hit["body"][s["start"]:s["end"]] for s in hit["matches"]] == ["façade"]
            assert page["nextToken"] is None
            with pytest.raises(BadRequest):
                await chat.search_messages("…", conversation_id=cid)
        async with CloudChat.from_outputs(stack.outputs_path) as carol:
            await carol.sign_in("carol", stack.user("carol")["password"])
            with pytest.raises(Forbidden):
                await carol.search_messages("facade", conversation_id=cid)

    run(scenario())
