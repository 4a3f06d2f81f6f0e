"""Conversation, user and media features end to end: the local stack as a subprocess,
real gql clients over HTTP and AppSync WebSockets (one stack for the module)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError

from cloudchat_client import document

from .conftest import TIMEOUT, DevStack, eventually, run

pytestmark = pytest.mark.e2e

#: Operations are operations.graphql's, by name (``DevStack.execute`` looks them up): every
#: message selects ...MessageFields, as the web client's do.
SEND = document("SendMessage")


def cmid() -> str:
    return uuid.uuid4().hex[:16]


@pytest.fixture(scope="module")
def tokens(stack: DevStack) -> dict[str, str]:
    return {name: stack.token(name) for name in ("alice", "bob", "carol", "mod")}


def sub(stack: DevStack, name: str) -> str:
    return str(stack.user(name)["sub"])


async def gql(stack: DevStack, token: str, query: str, /, **variables: Any) -> dict[str, Any]:
    return await stack.execute(token, query, variables)


async def error_type(stack: DevStack, token: str, query: str, /, **variables: Any) -> str:
    with pytest.raises(TransportQueryError) as exc:
        await gql(stack, token, query, **variables)
    return str((exc.value.errors or [{}])[0].get("errorType"))


async def gql_or_error(stack: DevStack, token: str, query: str, /, **variables: Any) -> dict[str, Any]:
    """The data, or ``{"errorType": ...}`` (for polling an answer that may be refused first)."""
    try:
        return await gql(stack, token, query, **variables)
    except TransportQueryError as exc:
        return {"errorType": (exc.errors or [{}])[0].get("errorType")}


async def group(stack: DevStack, token: str, *members: str, title: str) -> str:
    data = await gql(stack, token, "CreateConversation",
                     input={"memberIds": [sub(stack, m) for m in members], "title": title})
    return str(data["createConversation"]["id"])


async def send(stack: DevStack, token: str, cid: str, body: str | None, **extra: Any) -> dict[str, Any]:
    data = await gql(stack, token, SEND, input={"conversationId": cid, "body": body, "clientMessageId": cmid(),
                                                **extra})
    return dict(data["sendMessage"])


class Live:
    """One subscription, with its events as a queue."""

    def __init__(self, stack: DevStack, token: str, query: str, /, **variables: Any) -> None:
        self.stack, self.token, self.query, self.variables = stack, token, query, variables
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __aenter__(self) -> Live:
        client, transport = self.stack.ws_client(self.token)
        self._client = client
        self._session = await client.__aenter__()
        self._sub: AsyncIterator[dict[str, Any]] = self._session.subscribe(
            GraphQLRequest(document(self.query), variable_values=self.variables))
        first = asyncio.create_task(anext(self._sub))
        await transport.started(first=first)
        self._pump = asyncio.create_task(self._run(first))
        return self

    async def _run(self, first: asyncio.Task[dict[str, Any]]) -> None:
        self.events.put_nowait(await first)
        async for item in self._sub:
            self.events.put_nowait(item)

    async def next(self) -> dict[str, Any]:
        item = await asyncio.wait_for(self.events.get(), TIMEOUT)
        return next(iter(item.values()))

    async def __aexit__(self, *exc: Any) -> None:
        self._pump.cancel()
        await self._client.__aexit__(*exc)


def test_threads_reactions_edits_and_deletes_arrive_live(stack: DevStack, tokens: dict[str, str]) -> None:
    async def scenario() -> None:
        cid = await group(stack, tokens["alice"], "bob", title="live features")
        async with Live(stack, tokens["bob"], "OnMessage", conversationId=cid) as live:
            root = await send(stack, tokens["alice"], cid, "root")
            assert await live.next() == root
            reply = await send(stack, tokens["bob"], cid, "in thread", parentId=root["id"])
            assert (await live.next())["parentId"] == root["id"]
            reacted = (await gql(stack, tokens["alice"], "AddReaction", conversationId=cid, messageId=root["id"],
                                 emoji="🎉"))["addReaction"]
            event = await live.next()
            assert event == reacted and event["reactions"][0]["emoji"] == "🎉"
            assert event["replyCount"] == 1 and event["replyUserIds"] == [sub(stack, "bob")]
            edited = (await gql(stack, tokens["alice"], "EditMessage",
                                input={"conversationId": cid, "messageId": root["id"], "body": "root, edited",
                   "expectedVersion": 1}))["editMessage"]
            assert (await live.next())["body"] == "root, edited" == edited["body"]
            deleted = (await gql(stack, tokens["alice"], "DeleteMessage", conversationId=cid,
                                 messageId=reply["id"]))["deleteMessage"]  # the owner deletes bob's reply
            gone = await live.next()
            assert gone == deleted and gone["body"] is None and gone["deletedBy"] == sub(stack, "alice")
        thread = await eventually(  # a thread is read through GSI3: eventually consistent
            lambda: gql(stack, tokens["bob"], "Thread", conversationId=cid, rootId=root["id"]),
            lambda got: bool(got["thread"]["items"]))
        assert [m["seq"] for m in thread["thread"]["items"]] == [reply["seq"]]
        assert thread["thread"]["items"][0]["deletedAt"]  # as it is now, not as indexed
        history = await gql(stack, tokens["alice"], "EditHistory", conversationId=cid, messageId=root["id"])
        assert [v["body"] for v in history["editHistory"]] == ["root", "root, edited"]
        assert await error_type(stack, tokens["bob"], "EditMessage", input={
            "conversationId": cid, "messageId": root["id"], "body": "hijack", "expectedVersion": 2}) == "Forbidden"

    run(scenario())


def test_receipts_and_typing_arrive_live(stack: DevStack, tokens: dict[str, str]) -> None:
    async def scenario() -> None:
        cid = await group(stack, tokens["alice"], "bob", title="receipts")
        sent = await send(stack, tokens["alice"], cid, "read me")
        async with Live(stack, tokens["alice"], "OnReceipt", conversationId=cid) as receipts, \
                Live(stack, tokens["alice"], "OnTyping", conversationId=cid) as typing:
            # A mutation reaches subscribers only if it selects the field they filter on
            # (AppSync rule): clients select the same fragment the subscription does.
            await gql(stack, tokens["bob"], "SendTyping", conversationId=cid, typing=True)
            t = await typing.next()
            assert (t["userId"], t["typing"]) == (sub(stack, "bob"), True)
            assert await error_type(stack, tokens["bob"], "SendTyping", conversationId=cid, typing=True) == "RateLimited"
            await gql(stack, tokens["bob"], "MarkRead", conversationId=cid, seq=sent["seq"])
            r = await receipts.next()
            assert (r["userId"], r["kind"], r["seq"]) == (sub(stack, "bob"), "READ", sent["seq"])
        seen = await gql(stack, tokens["alice"], "ReadReceipts", conversationId=cid)
        assert {x["userId"]: x["readSeq"] for x in seen["readReceipts"]}[sub(stack, "bob")] == sent["seq"]
        assert await error_type(stack, tokens["carol"], "ReadReceipts", conversationId=cid) == "Forbidden"

    run(scenario())


def test_members_and_roles(stack: DevStack, tokens: dict[str, str]) -> None:
    async def scenario() -> None:
        cid = await group(stack, tokens["alice"], "bob", title="members")
        async with Live(stack, tokens["bob"], "OnMembershipChange", conversationId=cid) as live:
            added = (await gql(stack, tokens["alice"], "AddMembers", conversationId=cid,
                               userIds=[sub(stack, "carol")]))["addMembers"]
            assert await live.next() == added and added["message"]["kind"] == "SYSTEM"
        await send(stack, tokens["carol"], cid, "hi, I'm new")
        await gql(stack, tokens["alice"], "RemoveMember", conversationId=cid, userId=sub(stack, "carol"))
        assert await error_type(stack, tokens["carol"], "MessagesSince", conversationId=cid, afterSeq=0) == "Forbidden"
        assert await error_type(stack, tokens["bob"], "RemoveMember", conversationId=cid,
                                userId=sub(stack, "alice")) == "Forbidden"
        assert await error_type(stack, tokens["alice"], "LeaveConversation", conversationId=cid) == "BadRequest"

    run(scenario())


def test_user_channel_carries_new_message_previews(stack: DevStack, tokens: dict[str, str]) -> None:
    async def scenario() -> None:
        cid = await group(stack, tokens["alice"], "bob", title="previews")
        async with Live(stack, tokens["bob"], "OnUserEvent", userId=sub(stack, "bob")) as live:
            sent = await send(stack, tokens["alice"], cid, "see you at noon")
            while True:  # skip the events of other writes
                event = await asyncio.wait_for(live.next(), 45)
                if event["type"] == "MESSAGE" and event["conversationId"] == cid:
                    break
            assert (event["seq"], event["preview"], event["unreadCount"]) == (sent["seq"], "see you at noon", 1)
        with pytest.raises(TransportQueryError) as denied:  # someone else's channel
            async with Live(stack, tokens["bob"], "OnUserEvent", userId=sub(stack, "alice")):
                pass
        assert "Forbidden" in str(denied.value), denied.value.errors
        # the consumer moved it to the top (of GSI1, which shows it after its lag)
        await eventually(
            lambda: gql(stack, tokens["bob"], "Conversations", limit=5),
            lambda got: got["conversations"]["items"][0]["id"] == cid)

    run(scenario(), timeout=90)


def test_profiles_directory_and_presence(stack: DevStack, tokens: dict[str, str]) -> None:
    async def scenario() -> None:
        me = (await gql(stack, tokens["carol"], "UpdateProfile", displayName="Carol Danvers"))["updateProfile"]
        found = await eventually(  # the directory is GSI2: a new name is found after the lag
            lambda: gql(stack, tokens["alice"], "Users", query="carol d"),
            lambda got: bool(got["users"]["items"]))
        assert [{k: u[k] for k in ("id", "displayName", "email")} for u in found["users"]["items"]] == \
            [{"id": me["id"], "displayName": "Carol Danvers", "email": None}]
        await group(stack, tokens["alice"], "carol", title="presence")
        await gql(stack, tokens["carol"], "Heartbeat")
        # Contacts are found through GSI1: a contact made this instant may be refused
        # (fails closed) until the index has the new membership.
        p = await eventually(
            lambda: gql_or_error(stack, tokens["alice"], "Presence", userIds=[me["id"]]),
            lambda got: "presence" in got)
        assert [(x["userId"], x["online"]) for x in p["presence"]] == [(me["id"], True)]

    run(scenario())


def test_attachments_upload_and_download(stack: DevStack, tokens: dict[str, str]) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(1000)

    async def scenario() -> None:
        cid = await group(stack, tokens["alice"], "bob", title="files")
        ticket = (await gql(stack, tokens["alice"], "RequestUpload", conversationId=cid, fileName="plan.png",
                            contentType="image/png", size=len(png)))["requestUpload"]
        form = aiohttp.FormData()
        for k, v in json.loads(ticket["fields"]).items():
            form.add_field(k, v)
        form.add_field("file", png, filename="plan.png", content_type="image/png")
        async with aiohttp.ClientSession() as http:
            async with http.post(ticket["url"], data=form) as resp:
                assert resp.status in (200, 204), await resp.text()
            msg = await send(stack, tokens["alice"], cid, None, attachments=[ticket["uploadId"]])
            assert msg["kind"] == "IMAGE" and msg["attachments"][0]["name"] == "plan.png"
            got = await gql(stack, tokens["bob"], "MessagesSince", conversationId=cid, afterSeq=0)
            url = got["messagesSince"]["items"][0]["attachments"][0]["url"]
            async with http.get(url) as resp:
                assert await resp.read() == png
        never = (await gql(stack, tokens["alice"], "RequestUpload", conversationId=cid, fileName="x.pdf",
                           contentType="application/pdf", size=10))["requestUpload"]
        assert await error_type(stack, tokens["alice"], SEND, input={
            "conversationId": cid, "clientMessageId": cmid(), "attachments": [never["uploadId"]]}) == "BadRequest"

    run(scenario())


def test_reports_reach_moderators(stack: DevStack, tokens: dict[str, str]) -> None:
    async def scenario() -> None:
        cid = await group(stack, tokens["alice"], "bob", title="moderation")
        bad = await send(stack, tokens["bob"], cid, "spam spam spam")
        await gql(stack, tokens["alice"], "ReportMessage", conversationId=cid, messageId=bad["id"], reason="spam")
        reports = await eventually(  # reports are listed through GSI2
            lambda: gql(stack, tokens["mod"], "ReportedMessages", limit=50),
            lambda got: any(r["messageId"] == bad["id"] for r in got["reportedMessages"]["items"]))
        assert (bad["id"], "spam spam spam") in [(r["messageId"], r["message"]["body"])
                                                 for r in reports["reportedMessages"]["items"]]
        # the field is for the admin and moderator groups only: AppSync's field authorization
        assert await error_type(stack, tokens["alice"], "ReportedMessages") == "Unauthorized"
        await gql(stack, tokens["mod"], "DeleteMessage", conversationId=cid, messageId=bad["id"])

    run(scenario())


def test_offline_members_get_an_sns_notification(stack: DevStack, tokens: dict[str, str]) -> None:
    """Through the whole local stack: send -> table stream -> the template's consumer (run by
    the stack's poller) -> the stack's SNS topic -> a subscription filtered on recipient."""
    import time

    import boto3

    out = stack.outputs
    kw = {"endpoint_url": out["AwsEndpointUrl"], "region_name": out["Region"],
          "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    sns, sqs = boto3.client("sns", **kw), boto3.client("sqs", **kw)
    queue = sqs.create_queue(QueueName=f"inbox-bob-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=out["NotificationsTopicArn"], Protocol="sqs", Endpoint=arn, Attributes={
        "RawMessageDelivery": "true", "FilterPolicy": json.dumps({"recipient": [sub(stack, "bob")]})})

    async def scenario() -> str:
        cid = await group(stack, tokens["alice"], "bob", title="notify")
        await send(stack, tokens["alice"], cid, "are you there?")
        return cid

    run(scenario())
    deadline, bodies = time.monotonic() + 90, []
    wanted = lambda: any(b.endswith(": are you there?") for b in bodies)
    while time.monotonic() < deadline and not wanted():
        msgs = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
        bodies += [m["Body"] for m in msgs]
    assert wanted(), bodies  # (other notifications, e.g. the demo seed's, may come too)
