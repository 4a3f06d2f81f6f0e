"""IAM enforced on the real handlers: each function runs with its own credentials against the
moto server process, which checks every call against that function's policies in
template.yaml. The full template allows every operation the events exercise; removing any
one statement makes the operations that need it fail with AccessDenied."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cloudchat_local.iam import unused_grants
from cloudchat_local.iam._usage import load_usage
from tests.integration.conftest import USERS, LambdaContext, put_profiles
from tests.local.iam_harness import (
    IamStack,
    full_template,  # noqa: F401 - autouse: every test starts from the full template
    iam_stack,
    template_without,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2040
BOB, CAROL = USERS["bob"], USERS["carol"]

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamStack]:
    with iam_stack(tmp_path_factory.mktemp("iam")) as running:
        with running.as_admin():
            put_profiles()  # test setup, as the provisioner (not a function) would
        yield running


def error(result: Any) -> dict[str, Any] | None:
    if isinstance(result, dict) and isinstance(result.get("error"), dict):
        return result["error"]
    return None


def error_type(result: Any) -> str | None:
    found = error(result)
    return None if found is None else str(found["type"])


def ok(result: Any) -> Any:
    assert error(result) is None, result
    return result


def _handlers() -> dict[str, Any]:
    from resolvers import cognito, conversations, messages, receipts, stream, users

    return {"users": users, "conversations": conversations, "messages": messages,
            "receipts": receipts, "cognito": cognito, "stream": stream}


FUNCTION = {"users": "UsersFunction", "conversations": "ConversationsFunction",
            "messages": "MessagesFunction", "receipts": "ReceiptsFunction",
            "cognito": "CognitoTriggerFunction", "stream": "StreamFunction"}


def call(stack: IamStack, area: str, event: str, who: str = "alice", args: dict[str, Any] | None = None,
         *, replace_args: bool = False) -> Any:
    return stack.invoke(FUNCTION[area], _handlers()[area], event, who, args, replace_args=replace_args)


def new_conversation(stack: IamStack, members: list[str] | None = None) -> str:
    result = call(stack, "conversations", "Mutation.createConversation.group", "alice",
                  {"input": {"memberIds": members or [BOB, CAROL], "title": "IAM"}}, replace_args=True)
    return str(ok(result)["id"])


def send(stack: IamStack, cid: str, cmid: str, **extra: Any) -> Any:
    return call(stack, "messages", "Mutation.sendMessage.ok", "alice",
                {"input": {"conversationId": cid, "body": "hello", "clientMessageId": cmid, **extra}})


def upload(ticket: dict[str, Any]) -> requests.Response:
    """The browser's presigned POST (with the function's credentials, signed by it)."""
    fields = json.loads(ticket["fields"])
    return requests.post(ticket["url"], data=fields, files={"file": ("f", PNG, "image/png")}, timeout=10)


def grant(stack: IamStack, cid: str) -> Any:
    return call(stack, "messages", "Mutation.requestUpload.ok", "alice",
                {"conversationId": cid, "fileName": "a.png", "contentType": "image/png",
                 "size": len(PNG)}, replace_args=True)


def attach(stack: IamStack, cid: str, upload_id: str, cmid: str) -> Any:
    return call(stack, "messages", "Mutation.sendMessage.with-attachment", "alice", {"input": {
        "conversationId": cid, "attachments": [upload_id], "body": "see", "clientMessageId": cmid}})


# ------------------------------------------------------------------ the full template


def test_the_full_template_allows_every_operation_the_events_exercise(stack: IamStack) -> None:
    from resolvers import stream as stream_module

    published: list[dict[str, Any]] = []

    class Publisher:
        def publish_user_events(self, events: list[dict[str, Any]]) -> None:
            published.extend(events)

    cursor: dict[str, str] = {}
    stack.stream_records(cursor)
    ok(call(stack, "cognito", "Cognito.PostConfirmation.confirm-sign-up", ""))
    cid = new_conversation(stack)
    for event in ("Query.me.ok", "Mutation.updateProfile.ok", "Query.users.prefix",
                  "Query.usersByIds.ok", "Query.presence.ok", "Mutation.heartbeat.ok",
                  "Subscription.onUserEvent.own"):
        ok(call(stack, "users", event))
    ok(call(stack, "users", "Mutation.adminCreateUser.admin", "root"))
    with stack.as_admin():
        import boto3

        app = boto3.client("sns").create_platform_application(
            Name="ios", Platform="APNS", Attributes={})["PlatformApplicationArn"]
    stack.overrides["UsersFunction"] = {"PUSH_PLATFORM_APPLICATIONS": f"APNS={app}"}
    try:
        ok(call(stack, "users", "Mutation.registerDevice.apns", "bob"))
    finally:
        stack.overrides.clear()
    direct = ok(call(stack, "conversations", "Mutation.createConversation.direct", "alice",
                     {"input": {"memberIds": [USERS["mallory"]]}}, replace_args=True))["id"]
    ok(call(stack, "conversations", "Query.conversation.ok", "alice", {"id": cid}))
    for event in ("Mutation.renameConversation.ok", "Mutation.muteConversation.ok",
                  "Subscription.onMembershipChange.member"):
        ok(call(stack, "conversations", event, "alice", {"conversationId": cid}))
    ok(call(stack, "conversations", "Query.conversations.first-page"))
    ok(call(stack, "conversations", "Mutation.setMemberRole.ok", "alice", {"conversationId": cid}))
    ok(call(stack, "conversations", "Mutation.removeMember.ok", "alice", {"conversationId": cid}))
    ok(call(stack, "conversations", "Mutation.addMembers.ok", "alice", {"conversationId": cid}))
    ok(call(stack, "conversations", "Mutation.leaveConversation.ok", "carol", {"conversationId": cid}))
    first = ok(send(stack, cid, "c-iam-0001"))
    ok(send(stack, cid, "c-iam-0002", parentId=first["id"]))
    on_message = {"conversationId": cid, "messageId": first["id"]}
    ok(call(stack, "messages", "Query.thread.ok", "alice", {"conversationId": cid, "rootId": first["id"]}))
    for event in ("Query.messages.first-page", "Query.messagesSince.ok", "Subscription.onMessage.member"):
        ok(call(stack, "messages", event, "alice", {"conversationId": cid}))
    for event in ("Mutation.addReaction.ok", "Mutation.removeReaction.ok"):
        ok(call(stack, "messages", event, "alice", on_message))
    ok(call(stack, "messages", "Mutation.editMessage.ok", "alice", {"input": on_message}))
    ok(call(stack, "messages", "Query.editHistory.ok", "alice", on_message))
    ok(call(stack, "messages", "Mutation.reportMessage.ok", "bob", on_message))
    ok(call(stack, "messages", "Query.reportedMessages.moderator", "mod"))
    ticket = ok(grant(stack, cid))
    assert upload(ticket).status_code in (200, 204)
    with_file = ok(attach(stack, cid, ticket["uploadId"], "c-iam-0003"))
    download = requests.get(with_file["attachments"][0]["url"], timeout=10)
    assert download.status_code == 200 and download.content == PNG
    ok(call(stack, "messages", "Mutation.deleteMessage.ok", "alice", on_message))
    for event in ("Mutation.markRead.ok", "Mutation.markDelivered.ok", "Mutation.sendTyping.ok",
                  "Query.readReceipts.ok", "Subscription.onReceipt.member"):
        args: dict[str, Any] = {"conversationId": cid}
        if event.startswith("Mutation.mark"):
            args["seq"] = 1
        ok(call(stack, "receipts", event, "bob", args))
    ok(send(stack, direct, "c-iam-0004"))
    records = stack.stream_records(cursor)
    assert records
    original = stream_module._publisher
    stream_module._publisher = lambda: Publisher()  # the emulator is not running here
    try:
        with stack.as_function("StreamFunction"):
            assert stream_module.lambda_handler({"Records": records}, LambdaContext()) == {
                "batchItemFailures": []}
    finally:
        stream_module._publisher = original
    assert published
    assert "AccessDenied" not in stack.log_text()


# ------------------------------------------------------------------ one statement removed

Scenario = Callable[[IamStack], Any]


def _send_message(stack: IamStack) -> Any:
    return send(stack, new_conversation(stack), "c-iam-rm-0001")


def _create_conversation(stack: IamStack) -> Any:
    return call(stack, "conversations", "Mutation.createConversation.group", "alice",
                {"input": {"memberIds": [BOB], "title": "x"}}, replace_args=True)


def _mark_read(stack: IamStack) -> Any:
    cid = new_conversation(stack)
    ok(send(stack, cid, "c-iam-rm-0002"))
    return call(stack, "receipts", "Mutation.markRead.ok", "bob", {"conversationId": cid, "seq": 1})


def _admin_create_user(stack: IamStack) -> Any:
    import uuid

    return call(stack, "users", "Mutation.adminCreateUser.admin", "root",
                {"email": f"u{uuid.uuid4().hex[:8]}@example.com", "displayName": "U"})


def _confirm_sign_up(stack: IamStack) -> Any:
    """The Cognito trigger raises on failure (Cognito then fails the sign-up)."""
    try:
        return call(stack, "cognito", "Cognito.PostConfirmation.confirm-sign-up", "")
    except Exception as exc:
        return {"error": {"type": "InternalFailure", "message": str(exc)}}


@pytest.mark.parametrize(("function", "sid", "scenario", "denied"), [
    ("MessagesFunction", "Table", _send_message, "dynamodb:"),
    ("ConversationsFunction", "ConversationKeys", _create_conversation, "kms:GenerateDataKey"),
    ("ConversationsFunction", "Table", _create_conversation, "dynamodb:"),
    ("ReceiptsFunction", "Table", _mark_read, "dynamodb:"),
    ("ReceiptsFunction", "TableEncryptionAtRest", _mark_read, "kms:Decrypt"),
    ("UsersFunction", "CreateUsers", _admin_create_user, "cognito-idp:AdminCreateUser"),
    ("MessagesFunction", "ConversationKeys", _send_message, "kms:Decrypt"),
    ("CognitoTriggerFunction", "Table", _confirm_sign_up, "dynamodb:PutItem"),
])
def test_removing_one_statement_makes_the_operation_that_needs_it_fail(
    stack: IamStack, tmp_path: Path, function: str, sid: str, scenario: Scenario, denied: str,
) -> None:
    ok(scenario(stack))  # the full template allows it
    before = stack.log_text()
    stack.enforce(template_without(stack.template, function, sid, tmp_path))
    result = scenario(stack)
    assert error_type(result) == "InternalFailure", result
    new_log = stack.log_text()[len(before):]
    assert f"AccessDenied ({function})" in new_log and denied in new_log, new_log
    stack.enforce()
    ok(scenario(stack))  # and it passes again with the full template


def test_a_presigned_upload_and_download_need_the_functions_s3_and_kms_grants(
    stack: IamStack, tmp_path: Path
) -> None:
    cid = new_conversation(stack)
    ticket = ok(grant(stack, cid))
    stack.enforce(template_without(stack.template, "MessagesFunction", "AttachmentEncryption", tmp_path))
    refused = upload(ticket)  # presigned by the function: kms:GenerateDataKey via S3 is its own
    assert refused.status_code == 403 and b"<Code>AccessDenied</Code>" in refused.content
    assert b"kms:GenerateDataKey" in refused.content
    stack.enforce()
    assert upload(ticket).status_code in (200, 204)
    message = ok(attach(stack, cid, ticket["uploadId"], "c-iam-up-0001"))
    url = message["attachments"][0]["url"]
    assert requests.get(url, timeout=10).status_code == 200
    stack.enforce(template_without(stack.template, "MessagesFunction", "AttachmentEncryption", tmp_path))
    refused = requests.get(url, timeout=10)
    assert refused.status_code == 403 and b"kms:Decrypt" in refused.content
    (tmp_path / "t2").mkdir()
    stack.enforce(template_without(stack.template, "MessagesFunction", "Attachments", tmp_path / "t2"))
    assert requests.get(url, timeout=10).status_code == 403
    assert error_type(_attach_uploaded_file_after_grant(stack, cid)) == "InternalFailure"


def _attach_uploaded_file_after_grant(stack: IamStack, cid: str) -> Any:
    ticket = ok(grant(stack, cid))  # signing is local: no request, nothing to refuse
    assert upload(ticket).status_code == 403
    return attach(stack, cid, ticket["uploadId"], "c-iam-up-0002")


def test_an_attachment_never_uploaded_is_a_bad_request(stack: IamStack) -> None:
    """MessagesFunction holds s3:ListBucket (prefix conversations/*), so HeadObject of a missing
    upload is 404 under IAM enforcement, not 403: the client gets BadRequest."""
    cid = new_conversation(stack)
    ticket = ok(grant(stack, cid))
    assert error_type(attach(stack, cid, ticket["uploadId"], "c-iam-nv-0001")) == "BadRequest"


def test_usage_is_recorded_and_unused_grants_are_reported(stack: IamStack) -> None:
    ok(_send_message(stack))
    usage = load_usage(stack.usage_path)
    assert "dynamodb:TransactWriteItems" not in json.dumps(usage)
    assert any(a.startswith("dynamodb:") for a in usage["MessagesFunction"]["Table"])
    unused = unused_grants(stack.template, usage)
    assert ("Table", "dynamodb:DeleteItem") in unused["ConversationsFunction"] or all(
        sid != "Table" for sid, _ in unused["ConversationsFunction"])
