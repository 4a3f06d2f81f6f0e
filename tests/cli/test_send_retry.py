"""A send retried after a network error reuses its clientMessageId (no network)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from cloudchat_cli.commands import new_client_message_id, send_message
from cloudchat_cli.errors import ApiError


class FlakyApi:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls: list[dict[str, Any]] = []

    async def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(variables["input"])
        if self.failures:
            raise self.failures.pop(0)
        return {"sendMessage": {"seq": 1, **variables["input"]}}


def test_a_retry_after_a_network_error_reuses_the_client_message_id() -> None:
    api = FlakyApi([aiohttp.ServerDisconnectedError(), TimeoutError()])
    cmid = new_client_message_id()
    message = asyncio.run(send_message(api, "c1", "hi", client_message_id=cmid, retry_delay=0))  # type: ignore[arg-type]
    assert message["clientMessageId"] == cmid
    assert [c["clientMessageId"] for c in api.calls] == [cmid] * 3


def test_api_errors_are_not_retried() -> None:
    api = FlakyApi([ApiError("Forbidden", "not a member")])
    with pytest.raises(ApiError):
        asyncio.run(send_message(api, "c1", "hi", client_message_id="abcdefgh", retry_delay=0))  # type: ignore[arg-type]
    assert len(api.calls) == 1


def test_retries_are_bounded() -> None:
    api = FlakyApi([aiohttp.ServerDisconnectedError() for _ in range(10)])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        asyncio.run(send_message(api, "c1", "hi", client_message_id="abcdefgh", retries=2, retry_delay=0))  # type: ignore[arg-type]
    assert len(api.calls) == 3


def test_client_message_ids_fit_the_api_rule() -> None:
    import re

    ids = {new_client_message_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{8,64}", i) for i in ids)
