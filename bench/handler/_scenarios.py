"""The operations measured, recorded once against in-process moto: a conversation per
operation (so one operation's replays never move another's state), set up through the real
handlers with events/*.json, then one warm invocation of each recorded (its AWS calls, their
parameters and HTTP responses). The process keeps the state a warm container has after it:
clients, settings, the conversations' data keys, seq hints and message images."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.harness import REPO, LambdaContext, say

from ._replay import Exchange, Recorder

EVENTS = REPO / "events"
TABLE = "cloudchat-bench-handler"
BUCKET = "cloudchat-bench-handler-attachments"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example01"
USERS = {
    "alice": "11111111-1111-4111-8111-111111111111",
    "bob": "22222222-2222-4222-8222-222222222222",
    "carol": "33333333-3333-4333-8333-333333333333",
}
#: The functions' environment as template.yaml sets it (the KMS key is added once created).
#: Fake credentials always: nothing here may reach AWS. DATA_KEY_MAX_AGE_SECONDS is raised
#: from 300 so a slow run never crosses a data key refresh (a warm container's cost is
#: measured, not its every-five-minutes Decrypt).
ENV = {
    "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_LAMBDA_FUNCTION_NAME": "cloudchat-bench-handler",
    "POWERTOOLS_SERVICE_NAME": "cloudchat", "POWERTOOLS_METRICS_NAMESPACE": "CloudChat",
    "TABLE_NAME": TABLE, "TOKEN_SECRET": "bench-handler-token-secret-0123456789abcdef",
    "ATTACHMENTS_BUCKET": BUCKET, "DATA_KEY_MAX_AGE_SECONDS": "3600",
}
#: operation -> what it is (the JSON's and docs' wording)
OPERATIONS = {
    "sendMessage": "Mutation.sendMessage, warm (a 3-member group)",
    "messages": "Query.messages, first page of 50",
    "markRead": "Mutation.markRead",
    "addReaction": "Mutation.addReaction on a message this container has seen",
    "editMessage": "Mutation.editMessage on a message this container has seen",
    "conversations": "Query.conversations, first page of 20",
}
TARGETED = ("sendMessage", "messages", "markRead", "addReaction")



def event(name: str, who: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """An AppSync direct-resolver event from events/<name>.json, for ``who``."""
    e: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    sub = USERS[who]
    claims = {**e["identity"]["claims"], "sub": sub, "username": sub}
    e["identity"] = {**e["identity"], "sub": sub, "username": sub, "claims": claims}
    e["arguments"] = arguments
    return e


@dataclass
class Operation:
    """One measured operation: its handler, its event, the recorded AWS calls of one warm
    invocation, and ``prepare`` (run before each invocation, untimed) when the invocation
    changes state the next one would read."""

    name: str
    handler: Callable[[dict[str, Any], Any], Any]
    event: dict[str, Any]
    script: list[Exchange]
    prepare: Callable[[], None] | None = None
    shape: tuple[Any, ...] = ()

    def check(self, answer: Any) -> None:
        """Raises unless a replayed answer has the recorded one's fields (and item count)."""
        if shape(answer) != self.shape:
            raise RuntimeError(f"{self.name} answered {shape(answer)}, recorded {self.shape}")

    def fresh_event(self) -> dict[str, Any]:
        return copy.deepcopy(self.event)


def shape(answer: Any) -> tuple[Any, ...]:
    """An answer's fields, and the number of items of a page."""
    if not isinstance(answer, dict):
        return (type(answer).__name__,)
    items = answer.get("items")
    return (tuple(sorted(answer)), len(items) if isinstance(items, list) else None)


def invoke(handler: Callable[[dict[str, Any], Any], Any], e: dict[str, Any]) -> Any:
    """The handler's answer; raises if it is an error (the recording must be of a success)."""
    out = handler(e, LambdaContext())
    if isinstance(out, dict) and isinstance(out.get("error"), dict):
        raise RuntimeError(f"{e['info']['fieldName']} answered {out['error']}")
    return out


def _restore_image(cid: str, seq: int) -> Callable[[], None]:
    """Puts the message image back as it is now: the next invocation changes the same
    revision again (reactions and edits are otherwise cumulative in the container)."""
    from cloudchat import api

    images = api.service().store.images
    snapshot = copy.deepcopy(images.get(cid, seq))
    assert snapshot is not None, "the container has not seen the message"

    def prepare() -> None:
        images.drop(cid, seq)
        images.put(copy.deepcopy(snapshot))

    return prepare


def record(selected: list[str]) -> list[Operation]:
    """Sets up the data on in-process moto and records one warm invocation of each selected
    operation. Leaves moto stopped and the process warm (its clients are made again on first
    use, with the environment's credentials, as in Lambda: the warm-up invocations make them)."""
    os.environ.update(ENV)
    for name in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL") or k == "AWS_PROFILE"]:
        del os.environ[name]  # the clients are configured as in Lambda (no endpoint override)
    import boto3
    from moto import mock_aws

    from cloudchat import api, aws
    from cloudchat.models import User
    from cloudchat_local import moto as moto_seam
    from cloudchat_local.template import load_template
    from resolvers import conversations, messages, receipts

    if moto_seam.patches_enabled():  # as tests/integration does: moto's own answers, faster
        moto_seam.serialize_dynamodb()  # (unpatched, a transaction deep-copies the table)
        moto_seam.server_speedups()
    ops: list[Operation] = []
    with mock_aws():
        boto3.client("dynamodb").create_table(**load_template().table_create_kwargs(TABLE))
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        os.environ["KMS_KEY_ID"] = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
        api.reset()
        for who, sub in USERS.items():
            api.service().store.put_profile_if_absent(User(
                id=sub, display_name=who.title(), created_at="2026-01-01T00:00:00.000Z",
                username=sub, email=f"{who}@example.com"))

        def conversation(title: str, members: tuple[str, ...] = ("bob", "carol")) -> str:
            args = {"input": {"memberIds": [USERS[m] for m in members], "title": title}}
            return str(invoke(conversations.lambda_handler,
                              event("Mutation.createConversation.group", "alice", args))["id"])

        sent = 0

        def send(cid: str, body: str) -> dict[str, Any]:
            nonlocal sent
            sent += 1
            args = {"input": {"conversationId": cid, "body": body,
                              "clientMessageId": f"c-bench-setup-{sent:05d}"}}
            out: dict[str, Any] = invoke(messages.lambda_handler,
                                         event("Mutation.sendMessage.ok", "alice", args))
            return out

        say("setting up on moto (in-process)", "handler")
        convs = {name: conversation(f"bench {name}") for name in OPERATIONS}
        for i in range(55):
            send(convs["messages"], f"message {i} of the page, about this long as a chat line")
        send(convs["sendMessage"], "warm-up")
        send(convs["markRead"], "to be read")
        reacted = send(convs["addReaction"], "react to me")
        edited = send(convs["editMessage"], "Hello, Bob")
        for i in range(20 - len(convs)):
            send(conversation(f"bench more {i}", ("bob",)), f"hello {i}")

        specs: dict[str, tuple[Any, str, str, dict[str, Any], Callable[[], Callable[[], None]] | None]] = {
            "sendMessage": (messages, "Mutation.sendMessage.ok", "alice", {"input": {
                "conversationId": convs["sendMessage"], "body": "Hello, Bob!",
                "clientMessageId": "c-bench-0000000001"}}, None),
            "messages": (messages, "Query.messages.first-page", "bob",
                         {"conversationId": convs["messages"], "limit": 50}, None),
            "markRead": (receipts, "Mutation.markRead.ok", "bob",
                         {"conversationId": convs["markRead"], "seq": 1}, None),
            "addReaction": (messages, "Mutation.addReaction.ok", "bob", {
                "conversationId": convs["addReaction"], "messageId": reacted["id"], "emoji": "👍"},
                lambda: _restore_image(convs["addReaction"], reacted["seq"])),
            "editMessage": (messages, "Mutation.editMessage.ok", "alice", {"input": {
                "conversationId": convs["editMessage"], "messageId": edited["id"],
                "body": "Hello, Bob (edited)", "expectedVersion": 1}},
                lambda: _restore_image(convs["editMessage"], edited["seq"])),
            "conversations": (conversations, "Query.conversations.first-page", "alice",
                              {"limit": 20}, None),
        }
        recorder = Recorder([aws.client(s) for s in ("dynamodb", "kms", "s3", "sns")])
        try:
            for name in selected:
                module, file, who, args, restore = specs[name]
                prepare = restore() if restore is not None else None
                e = event(file, who, args)
                recorder.take()
                answer = invoke(module.lambda_handler, copy.deepcopy(e))
                ops.append(Operation(name, module.lambda_handler, e, recorder.take(), prepare,
                                     shape(answer)))
        finally:
            recorder.close()
    aws.reset()  # the container's clients, made again outside moto (as the floor's are)
    return ops
