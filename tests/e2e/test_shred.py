"""deleteConversation through the local stack, with real gql clients (HTTP and AppSync
WebSocket): the members' open subscriptions are closed, each member gets
REMOVED_FROM_CONVERSATION, later reads fail, and once the stream consumer's purge has run a
copy of the table and the bucket holds nothing of the conversation but its audit record."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aiohttp
import boto3
import pytest
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError

from cloudchat_client import document

from .conftest import TIMEOUT, DevStack, run

pytestmark = pytest.mark.e2e

SECRET = "the shredded secret " + uuid.uuid4().hex
CREATE = "mutation($i: CreateConversationInput!) { createConversation(input: $i) { id kind } }"
SEND = "mutation($i: SendMessageInput!) { sendMessage(input: $i) { id seq body } }"
DELETE = ("mutation($c: ID!) { deleteConversation(conversationId: $c) "
          "{ conversationId kind deletedBy deletedAt memberCount } }")
UPLOAD = ("mutation($c: ID!, $size: Int!) { requestUpload(conversationId: $c, fileName: \"secret.png\", "
          "contentType: \"image/png\", size: $size) { uploadId url fields key } }")
FILE = b"\x89PNG\r\n\x1a\n" + b"PIXELS-OF-THE-SHREDDED-PLAN" + b"\x00" * 1000
ON_MESSAGE = "subscription($c: ID!) { onMessage(conversationId: $c) { id body } }"
ON_TYPING = "subscription($c: ID!) { onTyping(conversationId: $c) { userId typing } }"
ON_EVENT = "subscription($u: ID!) { onUserEvent(userId: $u) { userId type conversationId } }"


def aws(stack: DevStack, service: str) -> Any:
    return boto3.client(service, endpoint_url=stack.outputs["AwsEndpointUrl"],
                        region_name=stack.outputs["Region"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")


async def error_of(stack: DevStack, token: str, query: str, **variables: Any) -> str | None:
    try:
        await stack.execute(token, query, variables)
    except TransportQueryError as exc:
        return str((exc.errors or [{}])[0].get("errorType"))
    return None


async def ended(task: asyncio.Future[Any]) -> str:
    """How an open subscription's next result went: completed, or an error."""
    try:
        got = await asyncio.wait_for(task, TIMEOUT)
    except StopAsyncIteration:
        return "completed"
    except TransportQueryError as exc:
        first = (exc.errors or [{}])[0]
        first = (first.get("errors") or [first])[0]  # (a refused start nests its errors)
        return f"error {first.get('errorType')}"
    return f"data {got}"


def test_delete_conversation_end_to_end(stack: DevStack) -> None:
    tokens = {n: stack.token(n) for n in ("alice", "bob", "carol")}
    subs = {n: stack.user(n)["sub"] for n in tokens}

    async def scenario() -> dict[str, Any]:
        cid = (await stack.execute(tokens["alice"], CREATE, {"i": {
            "memberIds": [subs["bob"], subs["carol"]], "title": "to be shredded"}}))["createConversation"]["id"]
        await stack.execute(tokens["bob"], SEND, {"i": {
            "conversationId": cid, "body": SECRET, "clientMessageId": uuid.uuid4().hex[:16]}})
        ticket = (await stack.execute(tokens["alice"], UPLOAD, {"c": cid, "size": len(FILE)}))["requestUpload"]
        form = aiohttp.FormData()
        for k, v in json.loads(ticket["fields"]).items():
            form.add_field(k, v)
        form.add_field("file", FILE, filename="secret.png", content_type="image/png")
        async with aiohttp.ClientSession() as http, http.post(ticket["url"], data=form) as resp:
            assert resp.status in (200, 204), await resp.text()
        await stack.execute(tokens["alice"], SEND, {"i": {
            "conversationId": cid, "clientMessageId": uuid.uuid4().hex[:16], "attachments": [ticket["uploadId"]]}})
        out: dict[str, Any] = {"cid": cid, "object": ticket["key"]}
        client, transport = stack.ws_client(tokens["bob"])
        async with client as session:
            streams = {
                "onMessage": session.subscribe(GraphQLRequest(document(ON_MESSAGE), variable_values={"c": cid})),
                "onTyping": session.subscribe(GraphQLRequest(document(ON_TYPING), variable_values={"c": cid})),
                "onUserEvent": session.subscribe(GraphQLRequest(document(ON_EVENT), variable_values={"u": subs["bob"]})),
            }
            nexts = {name: asyncio.ensure_future(anext(s)) for name, s in streams.items()}
            for task in nexts.values():
                await transport.started(first=task)
            done = (await stack.execute(tokens["alice"], DELETE, {"c": cid}))["deleteConversation"]
            out["deleted"] = done
            out["onMessage"] = await ended(nexts["onMessage"])
            out["onTyping"] = await ended(nexts["onTyping"])
            event = (await asyncio.wait_for(nexts["onUserEvent"], TIMEOUT))["onUserEvent"]
            while event["type"] != "REMOVED_FROM_CONVERSATION":  # (ADDED, MESSAGE came first)
                event = (await asyncio.wait_for(anext(streams["onUserEvent"]), TIMEOUT))["onUserEvent"]
            out["event"] = event
            again = session.subscribe(GraphQLRequest(document(ON_MESSAGE), variable_values={"c": cid}))
            out["resubscribe"] = await ended(asyncio.ensure_future(anext(again)))
            await streams["onUserEvent"].aclose()
        out["reads"] = {
            "messages": await error_of(stack, tokens["bob"], "query($c: ID!) { messages(conversationId: $c) { items { id } } }", c=cid),
            "conversation": await error_of(stack, tokens["carol"], "query($c: ID!) { conversation(id: $c) { id } }", c=cid),
            "send": await error_of(stack, tokens["carol"], SEND, i={
                "conversationId": cid, "body": "too late", "clientMessageId": uuid.uuid4().hex[:16]}),
            "delete again": await error_of(stack, tokens["alice"], DELETE, c=cid),
            "bad id": await error_of(stack, tokens["alice"], DELETE, c="not-an-id"),
        }
        return out

    out = run(scenario())
    cid = out["cid"]
    assert out["deleted"]["conversationId"] == cid and out["deleted"]["kind"] == "GROUP"
    assert out["deleted"]["deletedBy"] == subs["alice"] and out["deleted"]["memberCount"] == 3
    assert out["onMessage"] == "completed" and out["onTyping"] == "completed"  # invalidated
    assert out["event"] == {"userId": subs["bob"], "type": "REMOVED_FROM_CONVERSATION", "conversationId": cid}
    assert out["resubscribe"] == "error Forbidden"
    assert out["reads"] == {"messages": "Forbidden", "conversation": "Forbidden", "send": "Forbidden",
                            "delete again": "Forbidden", "bad id": "BadRequest"}

    # the copy of the table once the purge has run: the audit record, nothing else
    ddb, table = aws(stack, "dynamodb"), stack.outputs["TableName"]
    deadline = time.monotonic() + 30
    while True:
        audit = ddb.get_item(TableName=table, ConsistentRead=True, Key={
            "PK": {"S": f"DELETED#{cid}"}, "SK": {"S": "DELETION"}}).get("Item") or {}
        if "purgedAt" in audit or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "purgedAt" in audit, audit
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:  # test inspection only
        resp = ddb.scan(**kwargs)
        items += resp["Items"]
        if "LastEvaluatedKey" not in resp:
            break
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    dump = json.dumps(items, default=str)
    assert SECRET not in dump and "to be shredded" not in dump
    assert [(i["PK"]["S"], i["SK"]["S"]) for i in items if cid in json.dumps(i, default=str)] == [(f"DELETED#{cid}", "DELETION")]
    bucket = stack.outputs["AttachmentsBucketName"]
    assert out["object"].startswith(f"conversations/{cid}/")
    listed = aws(stack, "s3").list_objects_v2(Bucket=bucket, Prefix=f"conversations/{cid}/")
    assert not listed.get("Contents")  # the upload was deleted by the purge (IAM enforced)
