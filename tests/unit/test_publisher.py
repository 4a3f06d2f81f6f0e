"""AppSyncPublisher against a real HTTP server on loopback: signed, one ``publishUserEvent``
root field per request and never an alias (AppSync does not trigger subscriptions for
aliased mutation fields, or delivers them under the alias: dillonkearns/elm-graphql#106,
aws/aws-appsync-community#160, aws-amplify/amplify-js#3213), requests concurrent across
users but in order for each user, kept-alive connections bounded by the pool, and failures
raised (never silently dropped)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import FieldNode, OperationDefinitionNode, OperationType, parse, validate

from cloudchat import aws
from cloudchat.publisher import CONCURRENCY, AppSyncPublisher, PublishError
from cloudchat_local.emulator import load_schema
from tests.unit.appsync_server import AppSyncServer, running

SCHEMA = Path(__file__).resolve().parents[2] / "schema.graphql"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[AppSyncServer]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.reset()
    with running() as srv:
        yield srv
    aws.reset()


def _events(users: int, per_user: int = 1) -> list[dict[str, Any]]:
    """``per_user`` events for each of ``users`` users, interleaved (u0 s1, u1 s1, ..., u0 s2...)."""
    return [{"userId": f"u{u}", "type": "MESSAGE", "conversationId": "c", "seq": s}
            for s in range(1, per_user + 1) for u in range(users)]


def test_each_request_has_exactly_one_publish_field_and_no_alias(server: AppSyncServer) -> None:
    schema = load_schema(SCHEMA)  # as AppSync parses it
    pub = AppSyncPublisher(server.url, "us-east-1")
    events = _events(30, per_user=2)
    pub.publish_user_events(events)
    assert len(server.requests) == len(events)  # one request per event
    for request in server.requests:
        document = parse(request["body"]["query"])
        assert not validate(schema, document), request["body"]["query"]
        (operation,) = document.definitions
        assert isinstance(operation, OperationDefinitionNode)
        assert operation.operation is OperationType.MUTATION
        (field,) = operation.selection_set.selections
        assert isinstance(field, FieldNode)
        assert field.name.value == "publishUserEvent" and field.alias is None
        # the whole UserEvent type is selected: subscribers get what the mutation selected
        selected = {s.name.value for s in field.selection_set.selections}  # type: ignore[union-attr]
        assert selected == set(schema.type_map["UserEvent"].fields)  # type: ignore[attr-defined]
        assert set(request["body"]["variables"]) == {"input"}
    sent = sorted((r["body"]["variables"]["input"]["userId"], r["body"]["variables"]["input"]["seq"])
                  for r in server.requests)
    assert sent == sorted((e["userId"], e["seq"]) for e in events)


def test_requests_are_signed_and_reuse_kept_alive_connections(server: AppSyncServer) -> None:
    pub = AppSyncPublisher(server.url, "eu-west-2")
    for _ in range(3):
        pub.publish_user_events(_events(40))
    assert len(server.requests) == 120
    auth = server.requests[0]["headers"]["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/eu-west-2/appsync/aws4_request" in auth
    # at most one connection per worker, kept open across calls
    assert server.connections <= CONCURRENCY


def test_users_in_parallel_each_users_events_in_order(server: AppSyncServer) -> None:
    server.delay = 0.02  # each request held 20 ms, so concurrent ones overlap
    pub = AppSyncPublisher(server.url, "us-east-1")
    users = CONCURRENCY + 8  # more users than requests in flight
    pub.publish_user_events(_events(users, per_user=3))
    assert 1 < server.max_in_flight <= CONCURRENCY  # concurrent, and bounded
    assert server.connections <= CONCURRENCY
    for u in range(users):
        seqs = [r["body"]["variables"]["input"]["seq"] for r in server.requests
                if r["body"]["variables"]["input"]["userId"] == f"u{u}"]
        assert seqs == [1, 2, 3], (u, seqs)  # answered in order at the server


def test_calls_from_many_threads_at_once_share_the_bound(server: AppSyncServer) -> None:
    """The stream consumer publishes from several partitions' threads at once (one user's
    events go inline in the calling thread): requests in flight stay within the publisher's
    concurrency across all of them, on as many connections."""
    import threading

    server.delay = 0.02
    pub = AppSyncPublisher(server.url, "us-east-1", concurrency=3)
    calls = [[{"userId": f"t{t}", "type": "MESSAGE", "conversationId": "c", "seq": s}
              for s in (1, 2)] if t % 2 else _events(4) for t in range(8)]
    threads = [threading.Thread(target=pub.publish_user_events, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(server.requests) == sum(len(c) for c in calls)
    assert 1 < server.max_in_flight <= 3
    assert server.connections <= 3


def test_one_user_is_sent_inline_in_order(server: AppSyncServer) -> None:
    pub = AppSyncPublisher(server.url, "us-east-1")
    pub.publish_user_events(_events(1, per_user=5))
    assert [r["body"]["variables"]["input"]["seq"] for r in server.requests] == [1, 2, 3, 4, 5]
    assert server.connections == 1


@pytest.mark.parametrize("answer", [
    (200, b'{"data": null, "errors": [{"errorType": "Unauthorized"}]}'),
    (403, b'{"errors": [{"errorType": "UnauthorizedException"}]}'),
    (500, b"oops"),
])
def test_failures_are_raised(server: AppSyncServer, answer: tuple[int, bytes]) -> None:
    server.answer = answer
    pub = AppSyncPublisher(server.url, "us-east-1")
    with pytest.raises(PublishError):
        pub.publish_user_events(_events(1))
    with pytest.raises(PublishError):
        pub.publish_user_events(_events(10))


def test_a_failing_users_later_events_are_not_sent(server: AppSyncServer) -> None:
    """A user's events stay in order across a failure: after one fails, that user's later
    events are not sent (the whole call is redone from its first event), and no new
    request starts for anyone once a failure is known."""
    server.fail_user = "u3"
    pub = AppSyncPublisher(server.url, "us-east-1")
    with pytest.raises(PublishError, match="Unauthorized"):
        pub.publish_user_events(_events(6, per_user=3))
    u3 = [r["body"]["variables"]["input"]["seq"] for r in server.requests
          if r["body"]["variables"]["input"]["userId"] == "u3"]
    assert u3 == [1]
    # every other user's sent events are a prefix of its own, in order
    for u in range(6):
        seqs = [r["body"]["variables"]["input"]["seq"] for r in server.requests
                if r["body"]["variables"]["input"]["userId"] == f"u{u}"]
        assert seqs == list(range(1, len(seqs) + 1)), (u, seqs)


def test_only_https_or_loopback() -> None:
    with pytest.raises(ValueError):
        AppSyncPublisher("http://example.com/graphql", "us-east-1")


@pytest.mark.parametrize("answer", [
    (200, b'{"data": null, "errors": [{"errorType": "BadRequest", "message": '
          b'"Validation error: preview \\"my password is hunter2\\" is too long"}]}'),
    (400, b'{"errors": [{"errorType": "MalformedHttpRequestException", "message": '
          b'"Unexpected input: my password is hunter2"}]}'),
    (502, b"<html>upstream echoed: my password is hunter2</html>"),
])
def test_a_failure_names_status_and_error_types_never_the_answers_text(
        server: AppSyncServer, answer: tuple[int, bytes]) -> None:
    """AppSync's error messages can echo the request's variables (a message preview); the
    error (which is logged) keeps the HTTP status and the errors' types only."""
    server.answer = answer
    pub = AppSyncPublisher(server.url, "us-east-1")
    with pytest.raises(PublishError) as caught:
        pub.publish_user_events([{"userId": "u1", "type": "MESSAGE", "conversationId": "c",
                                  "seq": 1, "preview": "my password is hunter2"}])
    text = str(caught.value)
    assert "hunter2" not in text and "password" not in text
    if answer[0] != 200:
        assert f"HTTP {answer[0]}" in text
    if answer[1].startswith(b"{"):
        assert json.loads(answer[1])["errors"][0]["errorType"] in text
