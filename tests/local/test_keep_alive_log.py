"""The keep-alive handler logs through werkzeug's public handler API (no private ``_log``)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cloudchat_local.moto import keep_alive_handler as _keep_alive_handler


def _handler() -> Any:
    cls: Any = _keep_alive_handler()
    handler = cls.__new__(cls)  # no socket: only the logging methods are exercised
    handler.client_address = ("127.0.0.1", 40000)
    return handler


def test_an_error_goes_to_the_werkzeug_logger(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        _handler().log_error("code %d, message %s", 400, "Bad request syntax")
    [record] = [r for r in caplog.records if r.name == "werkzeug"]
    assert record.levelno == logging.ERROR
    assert "127.0.0.1" in record.getMessage() and "code 400, message Bad request syntax" in record.getMessage()


def test_an_idle_timeout_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        _handler().log_error("Request timed out: %r", TimeoutError("timed out"))
    assert not [r for r in caplog.records if r.name == "werkzeug"]
