"""The local stack runs each template function isolated, as on Lambda: a variable missing
from one function's environment breaks that function, and only it (issue 11, finding 8).

With every function in one process and their environments merged, a variable any function
sets was visible to all of them, so the broken function below worked locally and failed on
AWS."""

from __future__ import annotations

import copy
import json
import os
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from cloudchat_local import dev
from cloudchat_local._functions import function_config
from cloudchat_local._identity import credentials_for
from cloudchat_local._seed import graphql, sign_in
from cloudchat_local.errors import SeedError
from cloudchat_local.template import Template, load_template
from tests.local.test_functions import _alive

CREATE = "mutation C($input: CreateConversationInput!) { createConversation(input: $input) { id } }"
SEND = ("mutation S($input: SendMessageInput!) { sendMessage(input: $input) { id seq } }")
MESSAGES = "query M($c: ID!) { messages(conversationId: $c, limit: 10) { items { id } } }"


def template_without_table_name_in(broken: str) -> Template:
    """template.yaml with TABLE_NAME moved from Globals into every function but ``broken``
    (SAM cannot take a Globals variable away from one function; this is how a function ends
    up without one)."""
    document = copy.deepcopy(dict(load_template().document))
    variables = document["Globals"]["Function"]["Environment"]["Variables"]
    table_name = variables.pop("TABLE_NAME")
    for logical_id, resource in document["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function" or logical_id == broken:
            continue
        env = resource["Properties"].setdefault("Environment", {}).setdefault("Variables", {})
        env["TABLE_NAME"] = table_name
    return Template(document, load_template().path)


def _processes_of(stack: dev.LocalStack) -> list[int]:
    pids = [pid for pool in stack.functions.values() for pid in pool.pids]
    return pids + [c.process.pid for c in stack.consumers]



def test_a_function_missing_a_variable_fails_and_only_it(tmp_path: Path,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    parent_before = dict(os.environ)
    template = template_without_table_name_in("MessagesFunction")
    with dev.start(tmp_path / "state", template=template, seed=False) as stack:
        assert dict(os.environ) == parent_before  # nothing is set in the stack's own process
        # one warm worker per wired function, started with the stack
        assert set(stack.functions) == {"UsersFunction", "ConversationsFunction",
                                        "MessagesFunction", "ReceiptsFunction"}
        assert all(len(pool.pids) == 1 for pool in stack.functions.values())
        pids = _processes_of(stack)

        alice, bob = stack.provisioned.demo_user("alice"), stack.provisioned.demo_user("bob")  # type: ignore[union-attr]
        token = sign_in(stack.provisioned, alice)  # type: ignore[arg-type]
        url = stack.graphql_url
        # UsersFunction and ConversationsFunction have TABLE_NAME: they work.
        assert graphql(url, token, "query { me { id } }")["me"]["id"] == alice.sub
        graphql(url, sign_in(stack.provisioned, bob), "query { me { id } }")  # type: ignore[arg-type]
        conversation = graphql(url, token, CREATE, {"input": {"memberIds": [bob.sub], "title": "t"}})
        conversation_id = conversation["createConversation"]["id"]
        assert graphql(url, token, "query { conversations(limit: 5) { items { id } } }")

        # MessagesFunction does not: its operations fail, as they would on AWS. The client gets
        # the masked InternalFailure; the missing variable is named in the function's log only.
        send = {"input": {"conversationId": conversation_id, "body": "hi",
                          "clientMessageId": str(uuid.uuid4())}}
        capfd.readouterr()
        for query, variables in ((SEND, send), (MESSAGES, {"c": conversation_id})):
            with pytest.raises(SeedError, match="InternalFailure") as refused:
                graphql(url, token, query, variables)
            assert "TABLE_NAME" not in str(refused.value)
        log = capfd.readouterr().err
        assert log.count("environment variable TABLE_NAME is not set") >= 2, log[-2000:]
        # ... and ReceiptsFunction, on the same table, still works.
        typing = "mutation T($c: ID!) { sendTyping(conversationId: $c, typing: true) { userId } }"
        assert graphql(url, token, typing, {"c": conversation_id})["sendTyping"]["userId"] == alice.sub
    assert not any(_alive(pid) for pid in pids)  # a stopped stack leaves no process behind


def test_the_stream_functions_key_may_publish_user_events(tmp_path: Path) -> None:
    """The StreamFunction signs publishUserEvent with its own key: the emulator's IAM auth
    takes it (and each function's), and still refuses a key it does not know."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    with dev.start(tmp_path / "state", seed=False) as stack:
        body = json.dumps({"query": "mutation P($e: UserEventInput!) { publishUserEvent(input: $e)"
                                    " { userId type } }",
                           "variables": {"e": {"userId": "u1", "type": "MESSAGE"}}}).encode()

        def post(key: str, secret: str) -> tuple[int, dict[str, Any]]:
            request = AWSRequest(method="POST", url=stack.graphql_url, data=body,
                                 headers={"content-type": "application/json"})
            SigV4Auth(Credentials(key, secret), "appsync", stack.region).add_auth(request)
            sent = urllib.request.Request(stack.graphql_url, data=body, method="POST",
                                          headers=dict(request.headers.items()))
            try:
                with urllib.request.urlopen(sent, timeout=30) as response:
                    return response.status, json.load(response)
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read() or b"{}")

        status, document = post(*credentials_for("StreamFunction"))
        assert status == 200 and document["data"]["publishUserEvent"]["userId"] == "u1", document
        status, document = post("LKIA0000000000000000", "not-a-function")
        assert status == 403 and "UnrecognizedClient" in json.dumps(document), document


def test_the_stream_consumers_process_has_its_functions_environment(tmp_path: Path) -> None:
    with dev.start(tmp_path / "state", seed=False) as stack:
        [consumer] = stack.consumers
        assert consumer.function == "StreamFunction"
        env = Path(f"/proc/{consumer.process.pid}/environ").read_bytes().split(b"\0")
        names = {entry.split(b"=", 1)[0].decode() for entry in env if entry}
        expected = function_config(
            stack.template, "StreamFunction", stack.resolve, endpoint=stack.moto_endpoint,  # type: ignore[arg-type]
            region=stack.region, account_id=stack.provisioned.account_id)  # type: ignore[union-attr]
        assert names == {*expected.environment, "AWS_LAMBDA_LOG_STREAM_NAME"}
        assert "APPSYNC_URL" in names and "USER_POOL_ID" not in names
        values = dict(entry.decode().split("=", 1) for entry in env if entry)
        assert values["AWS_ACCESS_KEY_ID"] == credentials_for("StreamFunction")[0]
