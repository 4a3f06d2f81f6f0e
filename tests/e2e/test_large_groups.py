"""A large conversation through the local stack (issue 15 part 2), with LargeGroupThreshold
2, so alice, bob and carol are a large group: carol, online
(heartbeat), gets the MESSAGE event live; bob, offline, gets none of it, yet his list puts
the conversation first by its own last activity with the unread count, and a mention still
reaches him live; his catch-up (messagesSince) has every message."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from gql import GraphQLRequest

from cloudchat_client import document

from .conftest import TIMEOUT, DevStack, run, running

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """The local stack with LargeGroupThreshold 2 (as sam deploy --parameter-overrides)."""
    yield from running(DevStack(tmp_path_factory.mktemp("large") / "state",
                                "--parameter", "LargeGroupThreshold=2"))


def cmid() -> str:
    return uuid.uuid4().hex[:16]


def test_online_members_get_events_offline_ones_catch_up_from_the_list(stack: DevStack) -> None:
    tokens = {name: stack.token(name) for name in ("alice", "bob", "carol")}
    bob, carol = stack.user("bob")["sub"], stack.user("carol")["sub"]

    async def send(cid: str, body: str, mentions: list[str] | None = None) -> dict[str, Any]:
        data = await stack.execute(tokens["alice"], document("SendMessage"), {"input": {
            "conversationId": cid, "body": body, "clientMessageId": cmid(),
            **({"mentions": mentions} if mentions else {})}})
        return dict(data["sendMessage"])

    async def listed() -> list[dict[str, Any]]:
        data = await stack.execute(tokens["bob"], document("Conversations"), {"limit": 20})
        return list(data["conversations"]["items"])

    async def scenario() -> None:
        carol_client, carol_transport = stack.ws_client(tokens["carol"])
        bob_client, bob_transport = stack.ws_client(tokens["bob"])
        async with carol_client as carol_ws, bob_client as bob_ws:
            channels = {
                "carol": Channel(carol_ws, carol), "bob": Channel(bob_ws, bob)}
            await carol_transport.started(first=channels["carol"].pending)
            await bob_transport.started(first=channels["bob"].pending)
            made = await stack.execute(tokens["alice"], document("CreateConversation"), {
                "input": {"memberIds": [bob, carol], "title": "everyone"}})
            cid = made["createConversation"]["id"]
            other = await stack.execute(tokens["bob"], document("CreateConversation"), {
                "input": {"memberIds": [stack.user("alice")["sub"]], "title": "later"}})
            later = other["createConversation"]["id"]
            # carol's ADDED event comes after the markers are written: then her heartbeat
            # makes her online in the conversation
            await channels["carol"].next(cid, {"ADDED_TO_CONVERSATION"})
            await stack.execute(tokens["carol"], document("Heartbeat"))
            await asyncio.sleep(3)  # (the heartbeat's stream record, consumed)
            first = await send(cid, "to the online ones")
            got = await channels["carol"].next(cid, {"MESSAGE"})
            assert (got["seq"], got["unreadCount"]) == (first["seq"], first["seq"])
            mention = await send(cid, "@bob you too", [bob])
            # bob, offline, got nothing of the first message: his first is the mention's
            got = await channels["bob"].next(cid, {"MESSAGE", "MENTION"})
            assert got["seq"] == mention["seq"]
            for channel in channels.values():
                await channel.close()
        # his list: the large conversation first (its last message is newer than "later"),
        # with both messages unread
        items = await poll_async(listed, lambda xs: bool(xs) and xs[0]["id"] == cid)
        assert [i["id"] for i in items][:2] == [cid, later]
        assert items[0]["unreadCount"] == mention["seq"]
        since = await stack.execute(tokens["bob"], document("MessagesSince"), {
            "conversationId": cid, "afterSeq": 0, "limit": 50})
        bodies = [m["body"] for m in since["messagesSince"]["items"]]
        assert bodies[-2:] == ["to the online ones", "@bob you too"]

    run(scenario(), timeout=TIMEOUT * 12)


class Channel:
    """One user's onUserEvent subscription."""

    def __init__(self, session: Any, user_id: str) -> None:
        self.events = session.subscribe(GraphQLRequest(document("OnUserEvent"),
                                                       variable_values={"userId": user_id}))
        self.pending: asyncio.Task[Any] = asyncio.ensure_future(anext(self.events))

    async def next(self, cid: str, kinds: set[str]) -> dict[str, Any]:
        """The next event of ``kinds`` in conversation ``cid`` (others skipped)."""
        async def find() -> dict[str, Any]:
            while True:
                event = (await self.pending)["onUserEvent"]
                self.pending = asyncio.ensure_future(anext(self.events))
                if event["type"] in kinds and event["conversationId"] == cid:
                    return dict(event)
        return await asyncio.wait_for(find(), TIMEOUT * 3)

    async def close(self) -> None:
        """Stops waiting (the session's exit closes the subscription)."""
        self.pending.cancel()
        with contextlib.suppress(BaseException):
            await self.pending


async def poll_async(read: Any, ok: Any, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await read()
        if ok(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.25)

