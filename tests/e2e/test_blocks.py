"""Blocking end to end (issue 14, part 5): the local stack as a subprocess, real gql clients
over HTTP and the AppSync WebSocket. Bob blocks alice: she cannot open a DIRECT conversation
with him or add him to a group, the directory hides him from her, her messages in a group they
share come flagged (for bob only), and her messages give bob no preview in his user events."""

from __future__ import annotations

from typing import Any

import pytest
from gql.transport.exceptions import TransportQueryError

from tests.e2e import test_features as features

from .conftest import DevStack, run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tokens(stack: DevStack) -> dict[str, str]:
    return {name: stack.token(name) for name in ("alice", "bob", "carol")}


def sub(stack: DevStack, name: str) -> str:
    return str(stack.user(name)["sub"])


async def gql(stack: DevStack, token: str, operation: str, /, **variables: Any) -> dict[str, Any]:
    return await stack.execute(token, operation, variables)


async def refused(stack: DevStack, token: str, operation: str, /, **variables: Any) -> dict[str, Any]:
    with pytest.raises(TransportQueryError) as exc:
        await gql(stack, token, operation, **variables)
    return dict((exc.value.errors or [{}])[0])


def test_a_block_binds_the_blocked_user_and_flags_their_messages(
        stack: DevStack, tokens: dict[str, str]) -> None:
    alice, bob, carol = tokens["alice"], tokens["bob"], tokens["carol"]

    async def scenario() -> None:
        shared = (await gql(stack, alice, "CreateConversation", input={
            "memberIds": [sub(stack, "bob"), sub(stack, "carol")], "title": "shared"}))["createConversation"]["id"]
        mine = (await gql(stack, alice, "CreateConversation", input={
            "memberIds": [sub(stack, "carol")], "title": "alice's"}))["createConversation"]["id"]
        done = (await gql(stack, bob, "BlockUser", userId=sub(stack, "alice")))["blockUser"]
        assert done["userId"] == sub(stack, "alice") and done["blockedAt"]
        listed = (await gql(stack, bob, "BlockedUsers"))["blockedUsers"]
        assert listed == [done]
        # what alice can no longer do
        error = await refused(stack, alice, "CreateConversation", input={"memberIds": [sub(stack, "bob")]})
        assert error["errorType"] == "Forbidden"
        error = await refused(stack, alice, "AddMembers", conversationId=mine, userIds=[sub(stack, "bob")])
        assert error["errorType"] == "Forbidden"
        assert (await refused(stack, bob, "BlockUser", userId=sub(stack, "bob")))["errorType"] == "BadRequest"
        found = await gql(stack, alice, "Users", query="Bob", limit=20)
        assert sub(stack, "bob") not in [u["id"] for u in found["users"]["items"]]
        carol_finds = await gql(stack, carol, "Users", query="Bob", limit=20)
        assert sub(stack, "bob") in [u["id"] for u in carol_finds["users"]["items"]]
        # her messages in the group they share: flagged for bob, not for carol
        sent = await features.send(stack, alice, shared, "hello from alice")
        assert sent["senderBlocked"] is False  # (the mutation's result, shared by subscribers)
        own = await features.send(stack, carol, shared, "hello from carol")
        page = (await gql(stack, bob, "Messages", conversationId=shared, limit=10))["messages"]["items"]
        flags = {m["id"]: m["senderBlocked"] for m in page}
        assert flags[sent["id"]] is True and flags[own["id"]] is False
        assert all(not m["senderBlocked"] for m in
                   (await gql(stack, carol, "Messages", conversationId=shared, limit=10))["messages"]["items"])
        since = (await gql(stack, bob, "MessagesSince", conversationId=shared, afterSeq=0))["messagesSince"]
        assert {m["id"]: m["senderBlocked"] for m in since["items"]}[sent["id"]] is True
        # unblocked: everything is as before
        assert (await gql(stack, bob, "UnblockUser", userId=sub(stack, "alice")))["unblockUser"] == {
            "userId": sub(stack, "alice"), "wasBlocked": True}
        assert (await gql(stack, bob, "UnblockUser", userId=sub(stack, "alice")))["unblockUser"][
            "wasBlocked"] is False
        direct = (await gql(stack, alice, "CreateConversation", input={
            "memberIds": [sub(stack, "bob")]}))["createConversation"]
        assert direct["kind"] == "DIRECT"
        page = (await gql(stack, bob, "Messages", conversationId=shared, limit=10))["messages"]["items"]
        assert not any(m["senderBlocked"] for m in page)

    run(scenario())


def test_a_blocked_sender_gives_no_preview_in_user_events(stack: DevStack, tokens: dict[str, str]) -> None:
    alice, bob = tokens["alice"], tokens["bob"]

    async def scenario() -> None:
        cid = (await gql(stack, alice, "CreateConversation", input={
            "memberIds": [sub(stack, "bob"), sub(stack, "carol")], "title": "events"}))["createConversation"]["id"]
        await gql(stack, bob, "BlockUser", userId=sub(stack, "alice"))
        try:
            async with features.Live(stack, bob, "OnUserEvent", userId=sub(stack, "bob")) as live:
                await features.send(stack, alice, cid, "a secret preview")
                while True:
                    event = await live.next()
                    if event["type"] == "MESSAGE" and event["conversationId"] == cid:
                        break
                assert event["senderId"] == sub(stack, "alice") and event["preview"] is None
                await features.send(stack, tokens["carol"], cid, "carol's preview")
                while True:
                    event = await live.next()
                    if (event["type"] == "MESSAGE" and event["conversationId"] == cid
                            and event["senderId"] == sub(stack, "carol")):
                        break
                assert event["preview"] == "carol's preview"
        finally:
            await gql(stack, bob, "UnblockUser", userId=sub(stack, "alice"))

    run(scenario())
