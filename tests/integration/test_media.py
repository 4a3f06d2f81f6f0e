"""Attachments: presigned POST grants, the server's own checks of each uploaded object
(moto enforces no POST policy), encrypted file names, URLs for members only."""

import json
import urllib.parse

import boto3
import pytest
import requests

from resolvers import messages
from tests.integration.conftest import BUCKET, USERS, Stack, error_type
from tests.integration.test_messages import new_conversation, since

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2040


def grant(stack: Stack, cid: str, who: str = "alice", **over) -> dict:
    args = {"conversationId": cid, "fileName": "holiday.png", "contentType": "image/png",
            "size": len(PNG), **over}
    return stack.invoke(messages, "Mutation.requestUpload.ok", who, args, replace_args=True)


def upload(ticket: dict, data: bytes = PNG, content_type: str = "image/png") -> None:
    fields = json.loads(ticket["fields"])
    fields["Content-Type"] = content_type
    resp = requests.post(ticket["url"], data=fields, files={"file": ("f", data, content_type)},
                         timeout=10)
    assert resp.status_code in (200, 204), resp.text


def send_with(stack: Stack, cid: str, ids: list[str], who: str = "alice", cmid: str = "cmid-att-0001",
              body: str | None = "Look at this") -> dict:
    return stack.invoke(messages, "Mutation.sendMessage.with-attachment", who, {"input": {
        "conversationId": cid, "attachments": ids, "body": body, "clientMessageId": cmid}})


@pytest.fixture
def conv(stack: Stack) -> str:
    return new_conversation(stack, members=[USERS["bob"]])


def test_upload_attach_and_download(stack: Stack, conv: str) -> None:
    ticket = grant(stack, conv)
    assert ticket["key"] == f"conversations/{conv}/{USERS['alice']}/{ticket['uploadId']}"
    assert ticket["maxBytes"] == len(PNG) and ticket["expiresAt"]
    fields = json.loads(ticket["fields"])
    assert fields["Content-Type"] == "image/png" and fields["x-amz-meta-uploader"] == USERS["alice"]
    policy = json.loads(__import__("base64").b64decode(fields.get("Policy") or fields["policy"]))
    assert ["content-length-range", len(PNG), len(PNG)] in policy["conditions"]
    upload(ticket)
    msg = send_with(stack, conv, [ticket["uploadId"]], body=None)
    assert msg["kind"] == "IMAGE" and msg["body"] == ""
    (att,) = msg["attachments"]
    assert (att["name"], att["contentType"], att["size"]) == ("holiday.png", "image/png", len(PNG))
    seen = since(stack, conv, 0, "bob")["items"][0]["attachments"][0]
    url = urllib.parse.urlparse(seen["url"])
    assert "X-Amz-Expires=300" in url.query and "inline" in urllib.parse.unquote(url.query)
    assert requests.get(seen["url"], timeout=10).content == PNG
    assert "holiday.png" not in repr(stack.raw_items())  # names are encrypted at rest
    tags = boto3.client("s3").get_object_tagging(Bucket=BUCKET, Key=ticket["key"])["TagSet"]
    assert tags == [{"Key": "state", "Value": "attached"}]


def test_uploads_are_checked_by_the_server(stack: Stack, conv: str) -> None:
    before = len(since(stack, conv, 0)["items"])
    never = grant(stack, conv)
    assert "never uploaded" in send_with(stack, conv, [never["uploadId"]], cmid="cmid-att-0002")["error"]["message"]
    too_big = grant(stack, conv)
    upload(too_big, data=PNG + b"extra")  # moto accepts what AWS would refuse
    assert error_type(send_with(stack, conv, [too_big["uploadId"]], cmid="cmid-att-0003")) == "BadRequest"
    wrong_type = grant(stack, conv)
    upload(wrong_type, content_type="text/html")
    assert error_type(send_with(stack, conv, [wrong_type["uploadId"]], cmid="cmid-att-0004")) == "BadRequest"
    bobs = grant(stack, conv, who="bob")
    upload(bobs)
    assert error_type(send_with(stack, conv, [bobs["uploadId"]], cmid="cmid-att-0005")) == "BadRequest"
    other = new_conversation(stack, members=[USERS["carol"]])
    elsewhere = grant(stack, other)
    upload(elsewhere)
    assert error_type(send_with(stack, conv, [elsewhere["uploadId"]], cmid="cmid-att-0006")) == "BadRequest"
    assert len(since(stack, conv, 0)["items"]) == before  # nothing was stored
    ok = grant(stack, conv)
    upload(ok)
    send_with(stack, conv, [ok["uploadId"]], cmid="cmid-att-0007")
    again = send_with(stack, conv, [ok["uploadId"]], cmid="cmid-att-0008")  # reuse
    assert error_type(again) == "BadRequest"


def test_grant_rules(stack: Stack, conv: str) -> None:
    assert error_type(grant(stack, conv, who="mallory")) == "Forbidden"
    assert error_type(grant(stack, conv, size=25 * 1024 * 1024 + 1)) == "BadRequest"
    assert error_type(grant(stack, conv, size=0)) == "BadRequest"
    assert error_type(grant(stack, conv, contentType="not a type")) == "BadRequest"
    assert error_type(grant(stack, conv, fileName="../../etc/passwd")) == "BadRequest"
    assert error_type(grant(stack, conv, fileName="")) == "BadRequest"
    assert error_type(send_with(stack, conv, [], body="")) == "BadRequest"  # empty without files
    assert error_type(send_with(stack, conv, ["x"] * 11, cmid="cmid-att-0100")) == "BadRequest"


def test_non_members_get_no_download_url(stack: Stack, conv: str) -> None:
    ticket = grant(stack, conv)
    upload(ticket)
    send_with(stack, conv, [ticket["uploadId"]], cmid="cmid-att-0200")
    assert error_type(since(stack, conv, 0, "mallory")) == "Forbidden"
    gone = stack.invoke(messages, "Query.messages.first-page", "mallory", {"conversationId": conv})
    assert error_type(gone) == "Forbidden"
