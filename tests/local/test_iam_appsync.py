"""appsync:GraphQL for template functions signing requests to the emulator with SigV4."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cloudchat_local._identity import credentials_for
from cloudchat_local.emulator import IamConfig
from cloudchat_local.emulator._auth import (
    CaseInsensitiveHeaders,
    SignedRequest,
    SigV4Verifier,
)
from cloudchat_local.errors import AuthError
from cloudchat_local.iam import appsync_credentials, build_policy_map, load_usage, root_fields
from cloudchat_local.template import load_template
from tests.local.test_iam_policy import _resolve

URL = "http://127.0.0.1:4000/graphql"
PUBLISH = ("mutation Publish($e0: UserEventInput!) { e0: publishUserEvent(input: $e0) { userId } "
           "__typename }")


def verifier(tmp_path: Path) -> SigV4Verifier:
    template = load_template()
    policies = build_policy_map(template, _resolve(template))
    return SigV4Verifier(IamConfig(appsync_credentials(policies, tmp_path / "iam-usage.json")))


def signed(function: str, query: str, **extra: Any) -> SignedRequest:
    body = json.dumps({"query": query, "variables": {}, **extra}).encode()
    request = AWSRequest(method="POST", url=URL, data=body, headers={"content-type": "application/json"})
    SigV4Auth(Credentials(*credentials_for(function)), "appsync", "us-east-1").add_auth(request)
    headers = CaseInsensitiveHeaders.of({**dict(request.headers.items()), "host": "127.0.0.1:4000"})
    return SignedRequest("POST", "/graphql", "", headers, body)


def test_root_fields() -> None:
    assert root_fields(json.dumps({"query": PUBLISH}).encode()) == [("Mutation", "publishUserEvent")]
    query = ("query A { me { id } } query B { ...F x: conversations { items { id } } } "
             "fragment F on Query { users(query: \"a\") { items { id } } }")
    assert root_fields(json.dumps({"query": query, "operationName": "B"}).encode()) == [
        ("Query", "users"), ("Query", "conversations")]
    assert root_fields(json.dumps({"query": query}).encode()) is None  # two operations, no name
    assert root_fields(b"{}") is None


def test_the_stream_function_may_publish_user_events(tmp_path: Path) -> None:
    principal = verifier(tmp_path).verify(signed("StreamFunction", PUBLISH))
    assert principal.identity["userArn"] == (
        "arn:aws:sts::123456789012:assumed-role/cloudchat-local-StreamFunctionRole/"
        "cloudchat-local-StreamFunction")
    usage = load_usage(tmp_path / "iam-usage.json")
    assert usage["StreamFunction"]["PublishUserEvents"] == {
        "appsync:GraphQL": usage["StreamFunction"]["PublishUserEvents"]["appsync:GraphQL"]}


@pytest.mark.parametrize(("function", "query"), [
    ("StreamFunction", "mutation { publishUserEvent(input: {}) { userId } sendMessage(input: {}) { id } }"),
    ("StreamFunction", "query { me { id } }"),
    ("MessagesFunction", PUBLISH),
])
def test_a_root_field_outside_the_policy_is_permission_denied(function: str, query: str, tmp_path: Path) -> None:
    with pytest.raises(AuthError) as refused:
        verifier(tmp_path).verify(signed(function, query))
    assert (refused.value.status, refused.value.error_type, refused.value.message) == (
        401, "UnauthorizedException", "Permission denied")


def test_the_handshake_body_has_no_fields_to_check(tmp_path: Path) -> None:
    body = b"{}"
    request = AWSRequest(method="POST", url=URL.replace("/graphql", "/graphql/connect"), data=body,
                         headers={"content-type": "application/json"})
    SigV4Auth(Credentials(*credentials_for("MessagesFunction")), "appsync", "us-east-1").add_auth(request)
    headers = CaseInsensitiveHeaders.of({**dict(request.headers.items()), "host": "127.0.0.1:4000"})
    verifier(tmp_path).verify(SignedRequest("POST", "/graphql/connect", "", headers, body))


def test_the_stream_functions_publisher_against_the_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real publisher (SigV4 with the function's credentials) and the real emulator."""
    import boto3

    from cloudchat import aws
    from cloudchat.publisher import AppSyncPublisher, PublishError
    from cloudchat_local.emulator import NONE_DATA_SOURCE, EmulatorConfig, run_in_thread

    template = load_template()
    policies = build_policy_map(template, _resolve(template))
    config = EmulatorConfig(
        schema_path=template.schema_path(),
        resolvers={("Mutation", "publishUserEvent"): NONE_DATA_SOURCE},
        iam=IamConfig(appsync_credentials(policies, tmp_path / "iam-usage.json")),
    )
    event = {"userId": "11111111-1111-4111-8111-111111111111", "type": "MESSAGE"}
    with run_in_thread(config) as running:
        for function, allowed in (("StreamFunction", True), ("MessagesFunction", False)):
            key, secret = credentials_for(function)
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
            boto3.DEFAULT_SESSION = None
            aws.reset()
            publisher = AppSyncPublisher(running.graphql_url, "us-east-1")
            if allowed:
                publisher.publish_user_events([event])
            else:
                with pytest.raises(PublishError, match=r"HTTP 401.*UnauthorizedException"):
                    publisher.publish_user_events([event])
    boto3.DEFAULT_SESSION = None
    aws.reset()
