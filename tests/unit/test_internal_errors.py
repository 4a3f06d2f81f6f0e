"""Internal errors (a deployment's configuration, publishing into subscriptions) are no
domain errors: a client gets the masked InternalFailure, never their text, and the log
gets them with their stack."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cloudchat import api, config, errors, publisher

EVENTS = Path(__file__).resolve().parents[2] / "events"
MASKED = {"error": {"type": "InternalFailure", "message": "Internal failure (request req-7)"}}


class Context(SimpleNamespace):
    """What Powertools' inject_lambda_context reads of a Lambda context."""

    def __init__(self) -> None:
        super().__init__(function_name="cloudchat-test", memory_limit_in_mb=512,
                         invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:t",
                         aws_request_id="req-7")


def logged_failure(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    """The one error record of the call, which must carry the exception and its stack."""
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1, [r.getMessage() for r in caplog.records]
    assert failures[0].exc_info is not None and failures[0].exc_info[2] is not None
    return failures[0]


def test_internal_errors_live_in_errors_and_are_no_chat_errors() -> None:
    assert config.ConfigurationError is errors.ConfigurationError
    assert publisher.PublishError is errors.PublishError
    for cls in (errors.ConfigurationError, errors.PublishError):
        assert issubclass(cls, errors.InternalError)
        assert not issubclass(cls, errors.ChatError)
        assert not hasattr(cls("x"), "to_response")
    assert not issubclass(errors.InternalError, errors.ChatError)


def test_every_chat_error_names_a_client_facing_type() -> None:
    """InternalFailure is what the resolver sends for anything else; no ChatError claims it."""
    seen: list[type[errors.ChatError]] = []
    todo: list[type[errors.ChatError]] = [errors.ChatError]
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    for cls in seen[1:]:
        assert cls.error_type != errors.INTERNAL_FAILURE, cls
        assert cls.error_type in errors.ERROR_TYPES, cls


def test_a_configuration_error_reaches_the_client_masked_and_is_logged_with_its_stack(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from resolvers import users

    monkeypatch.setenv("TOKEN_SECRET", "x" * 32)
    monkeypatch.setenv("KMS_KEY_ID", "alias/cloudchat-test")
    monkeypatch.delenv("TABLE_NAME", raising=False)
    api.reset()
    try:
        event: dict[str, Any] = json.loads((EVENTS / "Query.me.ok.json").read_text())
        with caplog.at_level(logging.INFO):
            result = users.lambda_handler(event, Context())
    finally:
        api.reset()
    assert result == MASKED
    assert "TABLE_NAME" not in json.dumps(result)
    record = logged_failure(caplog)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], config.ConfigurationError)
    assert "environment variable TABLE_NAME is not set" in str(record.exc_info[1])
    assert record.levelno == logging.ERROR and getattr(record, "request_id", None) == "req-7"


def test_a_publish_error_reaches_the_client_masked_and_is_logged_with_its_stack(
        caplog: pytest.LogCaptureFixture) -> None:
    app = api.create_app()
    refused = "publishing a user event failed: HTTP 401, error types ['UnauthorizedException']"

    @app.resolver(type_name="Mutation", field_name="publish")
    def publish() -> None:
        raise publisher.PublishError(refused)

    event = {"arguments": {}, "identity": {"sub": "u1", "claims": {}},
             "info": {"parentTypeName": "Mutation", "fieldName": "publish"}}
    with caplog.at_level(logging.INFO):
        result = app.resolve(event, Context())
    assert result == MASKED
    assert "401" not in json.dumps(result) and "publishing" not in json.dumps(result)
    record = logged_failure(caplog)
    assert record.exc_info is not None and isinstance(record.exc_info[1], publisher.PublishError)
    assert str(record.exc_info[1]) == refused
