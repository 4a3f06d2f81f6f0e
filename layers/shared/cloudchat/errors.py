"""The one place for CloudChat's domain errors.

Every error a client may see is a :class:`ChatError`. Its ``error_type`` is the stable
GraphQL ``errorType`` clients receive, the same from AppSync and from the local stack::

    ChatError
    ├── BadRequest      invalid input; nothing was changed
    ├── Unauthorized    no usable identity
    ├── Forbidden       authenticated, but not allowed (also: not a member)
    ├── NotFound        the thing does not exist
    ├── Conflict        a concurrent change won; re-read and retry
    ├── RateLimited     slow down
    └── IntegrityError  stored data failed an integrity check (e.g. a moved ciphertext)

Anything else raised by a resolver is unexpected: it is logged with the request id and
reaches the client masked as ``InternalFailure``.
"""

from __future__ import annotations

from typing import Any

INTERNAL_FAILURE = "InternalFailure"


class ChatError(Exception):
    """Base of all domain errors. ``info`` is optional structured detail for clients."""

    error_type = "ChatError"

    def __init__(self, message: str, *, info: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.info = info

    def to_response(self) -> dict[str, Any]:
        """The resolver result that appsync/invoke.js turns into a GraphQL error."""
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.info:
            error["info"] = self.info
        return {"error": error}


class BadRequest(ChatError):
    error_type = "BadRequest"


class Unauthorized(ChatError):
    error_type = "Unauthorized"


class Forbidden(ChatError):
    error_type = "Forbidden"


class NotFound(ChatError):
    error_type = "NotFound"


class Conflict(ChatError):
    error_type = "Conflict"


class RateLimited(ChatError):
    error_type = "RateLimited"


class IntegrityError(ChatError):
    error_type = "IntegrityError"


ERROR_TYPES: tuple[str, ...] = (
    BadRequest.error_type,
    Unauthorized.error_type,
    Forbidden.error_type,
    NotFound.error_type,
    Conflict.error_type,
    RateLimited.error_type,
    IntegrityError.error_type,
    INTERNAL_FAILURE,
)


# Store outcomes: internal, never sent to clients (not ChatError)
class RateExceeded(Exception):
    """A per-user rate log refused the write (nothing was written)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class DirectExists(Exception):
    """The pair already has a DIRECT conversation (``conversation_id``)."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__(conversation_id)
        self.conversation_id = conversation_id
