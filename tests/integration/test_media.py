"""Attachments: presigned POST grants, the server's own checks of each uploaded object
(moto enforces no POST policy), encrypted file names, URLs for members only."""

import json
import logging
import traceback
import urllib.parse
from collections.abc import Iterator

import boto3
import pytest
import requests
from botocore.stub import Stubber

from cloudchat import aws
from resolvers import conversations, messages
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


def test_a_missing_upload_is_a_bad_request(stack: Stack, conv: str) -> None:
    """HeadObject of a key never uploaded: S3 answers 404 to a role holding s3:ListBucket
    (the Messages function's, tests/template/test_policies.py), and the send is refused as
    bad input with a clear message, storing nothing."""
    never = grant(stack, conv)
    result = send_with(stack, conv, [never["uploadId"]], cmid="cmid-att-0300")
    assert error_type(result) == "BadRequest", result
    assert result["error"]["message"] == f"attachment {never['uploadId']} was never uploaded"
    assert since(stack, conv, 0)["items"] == []


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "".join(r.getMessage() + "".join(traceback.format_exception(*r.exc_info))
                       for r in self.records if r.exc_info)


@pytest.fixture
def log() -> Iterator[_Kept]:
    """What the functions log (Powertools' logger is the service's standard logger)."""
    kept, logger = _Kept(), logging.getLogger("cloudchat")
    logger.addHandler(kept)
    yield kept
    logger.removeHandler(kept)


def test_head_object_refused_is_an_internal_failure_that_names_the_permissions(
        stack: Stack, conv: str, log: _Kept) -> None:
    """With s3:ListBucket granted, S3 answers a missing key with 404; a 403 then means the
    deployment is misconfigured (the role, the key policy or a bucket policy), not that the
    user sent something wrong: the client sees a masked internal failure (never "never
    uploaded", which would hide the misconfiguration behind every attachment), and the log
    says what S3 refused and which permissions HeadObject needs."""
    ticket = grant(stack, conv)
    upload(ticket)
    with Stubber(aws.s3()) as s3:
        s3.add_client_error("head_object", service_error_code="403", service_message="Forbidden",
                            http_status_code=403)
        result = send_with(stack, conv, [ticket["uploadId"]], cmid="cmid-att-0400")
    assert error_type(result) == "InternalFailure", result
    assert "never uploaded" not in result["error"]["message"]
    logged = log.text()
    assert "HeadObject" in logged and "s3:ListBucket" in logged and "s3:GetObject" in logged, logged
    assert ticket["key"] in logged
    assert since(stack, conv, 0)["items"] == []  # nothing stored
    # S3 back to normal: the same send goes through
    assert error_type(send_with(stack, conv, [ticket["uploadId"]], cmid="cmid-att-0400")) is None


def test_the_conversation_view_carries_a_download_url_for_its_last_message(
        stack: Stack, conv: str) -> None:
    """The Conversations function presigns attachment GETs too (the last message of a
    conversation, with its attachments): its role needs s3:GetObject on conversations/* and
    kms:Decrypt through S3, or the URL answers 403 on AWS (tests/template/test_policies.py)."""
    ticket = grant(stack, conv)
    upload(ticket)
    send_with(stack, conv, [ticket["uploadId"]], cmid="cmid-att-0500")
    view = stack.invoke(conversations, "Query.conversation.ok", "bob", {"id": conv}, replace_args=True)
    (att,) = view["lastMessage"]["attachments"]
    url = urllib.parse.urlparse(att["url"])
    assert url.path == f"/{ticket['key']}" and "X-Amz-Signature=" in url.query
    assert requests.get(att["url"], timeout=10).content == PNG
