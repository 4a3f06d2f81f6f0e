"""Queries and mutations over HTTP through real gql clients and fake handlers."""

from __future__ import annotations

import uuid

import aiohttp
import pytest
from gql.transport.exceptions import TransportQueryError

from cloudchat_local.emulator import RunningEmulator

from .conftest import CREATED_AT, Cognito, Recorder
from .helpers import gql_execute, jwt_auth, post_raw, run

ECHO = """
query Echo($text: String!) {
  echo(text: $text, n: 2) {
    id
    label: text
    createdAt
    owner { sub name }
    ... on Item { tags }
    ...ItemBits
  }
}
fragment ItemBits on Item { roomId }
"""


def test_query_invokes_handler_with_the_direct_lambda_event(
    emulator: RunningEmulator, cognito: Cognito, recorder: Recorder
) -> None:
    token = cognito.tokens["alice"]["access"]
    data = run(gql_execute(emulator, jwt_auth(emulator, token), ECHO, {"text": "hi"}))
    assert data == {
        "echo": {
            "id": "item-0",
            "label": "hi",
            "createdAt": CREATED_AT,
            "owner": {"sub": "owner-1", "name": "Owner One"},
            "tags": ["a", "b"],
            "roomId": "room-0",
        }
    }
    (event,) = recorder.events("echo")
    assert set(event) == {"arguments", "identity", "source", "info", "request", "prev", "stash"}
    assert event["arguments"] == {"text": "hi", "n": 2}
    assert event["source"] is None
    assert event["prev"] is None
    assert event["stash"] == {}
    assert event["info"] == {
        "fieldName": "echo",
        "parentTypeName": "Query",
        "selectionSetList": [
            "id",
            "label",
            "createdAt",
            "owner",
            "owner/sub",
            "owner/name",
            "tags",
            "roomId",
        ],
        "selectionSetGraphQL": (
            "{\n  id\n  label: text\n  createdAt\n  owner {\n    sub\n    name\n  }\n"
            "  ... on Item {\n    tags\n  }\n  ...ItemBits\n}"
        ),
        "variables": {"text": "hi"},
    }
    identity = event["identity"]
    assert identity == {
        "sub": cognito.subs["alice"],
        "issuer": f"https://cognito-idp.us-east-1.amazonaws.com/{cognito.pool_id}",
        "username": "alice",
        "claims": identity["claims"],
        "sourceIp": ["127.0.0.1"],
        "defaultAuthStrategy": "ALLOW",
        "groups": ["admins"],
    }
    assert identity["claims"]["token_use"] == "access"
    assert identity["claims"]["client_id"] == cognito.client_id
    assert event["request"]["headers"]["authorization"] == token
    assert event["request"]["headers"]["host"] == f"127.0.0.1:{emulator.http_port}"
    assert event["request"]["domainName"] is None

    # The nested wired field got its parent as source and its own info.
    (owner_event,) = recorder.events("owner")
    assert owner_event["source"]["ownerSub"] == "owner-1"
    assert owner_event["info"]["parentTypeName"] == "Item"
    assert owner_event["info"]["selectionSetList"] == ["sub", "name"]

    # A Lambda-like context, and the handler never ran on the event loop thread.
    context = next(ctx for name, _, ctx in recorder.calls if name == "echo")
    uuid.UUID(context.aws_request_id)
    assert context.function_name == "echo"
    assert context.memory_limit_in_mb > 0
    assert context.invoked_function_arn.endswith(":function:echo")
    assert 0 < context.get_remaining_time_in_millis() <= 30_000
    assert all(name.startswith("lambda") for name in recorder.threads)


def test_id_token_identity_and_bob_without_groups(
    emulator: RunningEmulator, cognito: Cognito, recorder: Recorder
) -> None:
    run(gql_execute(emulator, jwt_auth(emulator, cognito.tokens["bob"]["id"]), ECHO, {"text": "x"}))
    (event,) = recorder.events("echo")
    assert event["identity"]["username"] == "bob"
    assert event["identity"]["groups"] is None
    assert event["identity"]["claims"]["token_use"] == "id"


def test_mutation_runs_the_handler(emulator: RunningEmulator, cognito: Cognito, recorder: Recorder) -> None:
    data = run(
        gql_execute(
            emulator,
            jwt_auth(emulator, cognito.tokens["alice"]["access"]),
            'mutation($r: ID!) { postItem(roomId: $r, text: "t") { id roomId text note } }',
            {"r": "room-9"},
        )
    )
    assert data["postItem"]["roomId"] == "room-9"
    assert data["postItem"]["note"] is None
    (event,) = recorder.events("postItem")
    assert event["info"]["parentTypeName"] == "Mutation"
    assert event["arguments"] == {"roomId": "room-9", "text": "t"}


@pytest.mark.parametrize("kind", ["Forbidden", "NotFound", "BadRequest"])
def test_domain_error_becomes_its_error_type(emulator: RunningEmulator, cognito: Cognito, kind: str) -> None:
    auth = {"Authorization": cognito.tokens["alice"]["access"]}
    status, body, _ = run(post_raw(emulator, {"query": f'{{ fail(kind: "{kind}") {{ id }} }}'}, auth))
    assert status == 200
    assert body == {
        "data": {"fail": None},
        "errors": [
            {
                "path": ["fail"],
                "data": None,
                "errorType": kind,
                "errorInfo": {"hint": 1},
                "locations": [{"line": 1, "column": 3, "sourceName": None}],
                "message": f"{kind} says no",
            }
        ],
    }


def test_domain_error_through_gql(emulator: RunningEmulator, cognito: Cognito) -> None:
    with pytest.raises(TransportQueryError) as info:
        run(
            gql_execute(
                emulator,
                jwt_auth(emulator, cognito.tokens["alice"]["access"]),
                '{ fail(kind: "Conflict") { id } }',
            )
        )
    assert info.value.errors is not None
    assert info.value.errors[0]["errorType"] == "Conflict"


def test_handler_crash_is_lambda_unhandled(emulator: RunningEmulator, cognito: Cognito) -> None:
    auth = {"Authorization": cognito.tokens["alice"]["access"]}
    status, body, _ = run(post_raw(emulator, {"query": "{ crash { id } }"}, auth))
    assert status == 200
    assert body["data"] == {"crash": None}
    (error,) = body["errors"]
    assert error["errorType"] == "Lambda:Unhandled"
    assert error["message"] == "kaboom"
    assert error["path"] == ["crash"]


def test_validation_error_like_appsync(emulator: RunningEmulator, cognito: Cognito) -> None:
    auth = {"Authorization": cognito.tokens["alice"]["access"]}
    status, body, _ = run(post_raw(emulator, {"query": "{ badfield }"}, auth))
    assert status == 200
    assert body == {
        "data": None,
        "errors": [
            {
                "path": None,
                "data": None,
                "errorType": "ValidationError",
                "errorInfo": None,
                "locations": [{"line": 1, "column": 3, "sourceName": None}],
                "message": (
                    "Validation error of type FieldUndefined: Field 'badfield' in type 'Query' "
                    "is undefined @ 'badfield'"
                ),
            }
        ],
    }
    _, body, _ = run(post_raw(emulator, {"query": '{ echo(text: "x") { owner { nope } } }'}, auth))
    assert body["errors"][0]["message"] == (
        "Validation error of type FieldUndefined: Field 'nope' in type 'Owner' is undefined "
        "@ 'echo/owner/nope'"
    )
    _, body, _ = run(post_raw(emulator, {"query": "{ echo { id } }"}, auth))
    assert body["errors"][0]["message"] == (
        "Validation error of type MissingFieldArgument: Missing field argument text @ 'echo'"
    )


def test_scalars_are_validated(emulator: RunningEmulator, cognito: Cognito, recorder: Recorder) -> None:
    auth = {"Authorization": cognito.tokens["alice"]["access"]}
    query = 'query($w: AWSDateTime, $d: AWSJSON) { echo(text: "x", when: $w, data: $d) { id } }'
    status, body, _ = run(
        post_raw(
            emulator,
            {"query": query, "variables": {"w": "2024-01-01T00:00:00+02:00", "d": '{"a":[1]}'}},
            auth,
        )
    )
    assert status == 200, body
    assert "errors" not in body
    (event,) = recorder.events("echo")
    assert event["arguments"]["when"] == "2024-01-01T00:00:00+02:00"
    assert event["arguments"]["data"] == {"a": [1]}

    _, body, _ = run(post_raw(emulator, {"query": query, "variables": {"w": "2024-01-01 00:00"}}, auth))
    assert body["data"] is None
    assert body["errors"][0]["errorType"] == "ValidationError"
    assert "AWSDateTime" in body["errors"][0]["message"]

    _, body, _ = run(post_raw(emulator, {"query": '{ echo(text: "x", when: "yesterday") { id } }'}, auth))
    assert body["data"] is None
    assert body["errors"][0]["message"].startswith("Validation error of type WrongType: argument 'when'")


def test_missing_variable_message(emulator: RunningEmulator, cognito: Cognito) -> None:
    auth = {"Authorization": cognito.tokens["alice"]["access"]}
    _, body, _ = run(post_raw(emulator, {"query": "query($t: String!) { echo(text: $t) { id } }"}, auth))
    assert body["data"] is None
    assert body["errors"][0]["message"] == "Variable 't' has coerced Null value for NonNull type 'String!'"
    assert body["errors"][0]["locations"] is None


def test_syntax_error(emulator: RunningEmulator, cognito: Cognito) -> None:
    auth = {"Authorization": cognito.tokens["alice"]["access"]}
    _, body, _ = run(post_raw(emulator, {"query": '{ echo(text: "x" { id } }'}, auth))
    assert body["data"] is None
    assert body["errors"][0]["message"] == "Invalid Syntax : offending token '{' at line 1 column 18"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "Request body is empty."),
        (b"meow", "Unable to parse GraphQL query."),
        (b"{}", "Unable to parse GraphQL query."),
        (b"[]", "Unable to parse GraphQL query."),
        (b'{"query": "{ echo }", "variables": [1]}', "Unable to parse GraphQL query."),
    ],
)
def test_malformed_bodies(emulator: RunningEmulator, cognito: Cognito, raw: bytes, message: str) -> None:
    auth = {"Authorization": cognito.tokens["alice"]["access"]}
    status, body, headers = run(post_raw(emulator, None, auth, raw=raw))
    assert status == 400
    assert body == {"errors": [{"errorType": "MalformedHttpRequestException", "message": message}]}
    assert headers["x-amzn-errortype"] == "MalformedHttpRequestException"
    assert headers["x-amzn-requestid"]


def test_non_null_violation_is_worded_like_appsync(emulator: RunningEmulator, cognito: Cognito) -> None:
    auth = {"Authorization": cognito.tokens["alice"]["access"]}
    _, body, _ = run(post_raw(emulator, {"query": "{ broken { id roomId } }"}, auth))
    assert body["data"] == {"broken": None}
    (error,) = body["errors"]
    assert error["message"] == (
        "Cannot return null for non-nullable type: 'ID' within parent 'Item' (/broken/roomId)"
    )
    assert error["path"] == ["broken", "roomId"]


async def _options(emulator: RunningEmulator) -> tuple[int, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.options(
            emulator.graphql_url,
            headers={
                "Origin": "http://localhost:5173",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-amz-user-agent,x-amz-date",
            },
        ) as resp,
    ):
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}


def test_cors_preflight(emulator: RunningEmulator) -> None:
    status, headers = run(_options(emulator))
    assert status == 200
    assert headers["access-control-allow-origin"] in ("*", "http://localhost:5173")
    allowed = headers["access-control-allow-headers"].lower()
    for name in (
        "authorization",
        "x-amz-date",
        "x-amz-user-agent",
        "x-api-key",
        "x-amz-security-token",
        "content-type",
    ):
        assert name in allowed


async def _get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, resp.headers["content-type"], await resp.text()


def test_graphiql_page(emulator: RunningEmulator) -> None:
    status, content_type, html = run(_get(emulator.graphql_url))
    assert status == 200
    assert content_type.startswith("text/html")
    assert "cloudchat-local-graphiql" in html
    assert '"Authorization"' in html or "Authorization" in html
    assert "/realtime" in html
