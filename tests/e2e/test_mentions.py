"""Mentions through the local stack with real gql clients (issue 14 part 6): bob has muted
the conversation, alice mentions him, and his onUserEvent channel gets the MENTION event (the
template's stream consumer, run by the local stack's poller); unreadMentionCount follows
markRead; a mention of a non-member is refused with nothing sent."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError

from cloudchat_client import document

from .conftest import TIMEOUT, DevStack, eventually, run

pytestmark = pytest.mark.e2e

SEND = document("SendMessage")
CONVERSATION = document("Conversation")


def cmid() -> str:
    return uuid.uuid4().hex[:16]


@pytest.fixture(scope="module")
def tokens(stack: DevStack) -> dict[str, str]:
    return {name: stack.token(name) for name in ("alice", "bob", "carol")}


async def group(stack: DevStack, token: str, *members: str) -> str:
    data = await stack.execute(token, document("CreateConversation"), {"input": {
        "memberIds": [stack.user(m)["sub"] for m in members], "title": "mentions"}})
    return str(data["createConversation"]["id"])


async def send(stack: DevStack, token: str, cid: str, body: str, mentions: list[str]) -> dict[str, Any]:
    data = await stack.execute(token, SEND, {"input": {
        "conversationId": cid, "body": body, "clientMessageId": cmid(), "mentions": mentions}})
    return dict(data["sendMessage"])


async def mentions_of(stack: DevStack, token: str, cid: str) -> int:
    data = await stack.execute(token, CONVERSATION, {"id": cid})
    return int(data["conversation"]["unreadMentionCount"])


def test_a_muted_member_gets_the_mention_event_live(stack: DevStack, tokens: dict[str, str]) -> None:
    bob = stack.user("bob")["sub"]

    async def scenario() -> None:
        cid = await group(stack, tokens["alice"], "bob", "carol")
        await stack.execute(tokens["bob"], document("MuteConversation"),
                            {"conversationId": cid, "until": "2999-01-01T00:00:00Z"})
        client, transport = stack.ws_client(tokens["bob"])
        async with client as session:
            events = session.subscribe(GraphQLRequest(document("OnUserEvent"),
                                                      variable_values={"userId": bob}))
            first = asyncio.create_task(anext(events))
            await transport.started(first=first)
            sent = await send(stack, tokens["alice"], cid, "@bob can you look?", [bob])
            assert sent["mentions"] == [bob]

            async def mention() -> dict[str, Any]:
                nonlocal first
                while True:  # MESSAGE / ADDED events of this and earlier writes come too
                    event = (await first)["onUserEvent"]
                    if event["type"] == "MENTION" and event["conversationId"] == cid:
                        return dict(event)
                    first = asyncio.create_task(anext(events))

            event = await asyncio.wait_for(mention(), TIMEOUT * 3)
            assert (event["userId"], event["seq"], event["senderId"]) == (
                bob, sent["seq"], stack.user("alice")["sub"])
            assert event["unreadMentionCount"] == 1 and event["preview"] == "@bob can you look?"
            await events.aclose()
        assert await mentions_of(stack, tokens["bob"], cid) == 1
        assert await mentions_of(stack, tokens["alice"], cid) == 0
        await stack.execute(tokens["bob"], document("MarkRead"), {"conversationId": cid, "seq": sent["seq"]})
        assert await mentions_of(stack, tokens["bob"], cid) == 0

    run(scenario(), timeout=90)


def test_a_mention_of_a_non_member_is_refused_and_nothing_is_sent(
        stack: DevStack, tokens: dict[str, str]) -> None:
    carol = stack.user("carol")["sub"]

    async def scenario() -> None:
        cid = await group(stack, tokens["alice"], "bob")
        await send(stack, tokens["alice"], cid, "first", [])
        with pytest.raises(TransportQueryError) as info:
            await send(stack, tokens["alice"], cid, "@carol?", [carol])
        assert info.value.errors and info.value.errors[0]["errorType"] == "BadRequest"
        data = await stack.execute(tokens["alice"], CONVERSATION, {"id": cid})
        assert data["conversation"]["lastSeq"] == 1
        # bob's list: the GSI catches up, and shows no mention
        listed = await eventually(
            lambda: stack.execute(tokens["bob"], document("Conversations"), {"limit": 50}),
            lambda got: cid in [c["id"] for c in got["conversations"]["items"]])
        mine = next(c for c in listed["conversations"]["items"] if c["id"] == cid)
        assert mine["unreadMentionCount"] == 0

    run(scenario())
