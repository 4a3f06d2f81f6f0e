"""Sending with an idempotency key: a retry after a network failure reuses the message's
``clientMessageId``, so a send that reached the server before the failure returns the original
message, never a copy."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from cloudchat_client._transport import is_network_error
from cloudchat_client.errors import ApiError

__all__ = ["Executor", "new_client_message_id", "send_message"]


class Executor(Protocol):
    async def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]: ...


def new_client_message_id(prefix: str = "cli") -> str:
    """An idempotency key (8-64 of [A-Za-z0-9_-]) for one message."""
    return f"{prefix}-{secrets.token_hex(12)}"


async def send_message(api: Executor, conversation_id: str, body: str | None, *, client_message_id: str,
                       parent_id: str | None = None, attachments: Sequence[str] | None = None,
                       mentions: Sequence[str] | None = None, retries: int = 3, retry_delay: float = 0.25,
                       retry_rate_limited: bool = False, document: str = "sendMessage") -> dict[str, Any]:
    """``sendMessage``, retrying network failures (at most ``retries`` times, exponential delay)
    with the same ``clientMessageId``; with ``retry_rate_limited``, RateLimited answers too.
    ``document``: operations.graphql's ``sendMessage``, or another selection of it."""
    variables: dict[str, Any] = {"conversationId": conversation_id, "body": body,
                                 "clientMessageId": client_message_id}
    if parent_id:
        variables["parentId"] = parent_id
    if attachments is not None:
        variables["attachments"] = list(attachments)
    if mentions:
        variables["mentions"] = list(mentions)
    attempt = 0
    while True:
        try:
            data = await api.execute(document, {"input": variables})
            return dict(data["sendMessage"])
        except ApiError as exc:
            if not (retry_rate_limited and exc.error_type == "RateLimited") or attempt >= 20:
                raise
            await asyncio.sleep(min(10.0, 1.0 * 2 ** min(attempt, 3)))
        except Exception as exc:
            if not is_network_error(exc) or attempt >= retries:
                raise
            await asyncio.sleep(retry_delay * 2 ** attempt)
        attempt += 1
