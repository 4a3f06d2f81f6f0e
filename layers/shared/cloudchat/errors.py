"""The one place for CloudChat's errors: the domain's, and the internal ones.

Every error a client may see is a :class:`ChatError`. Its ``error_type`` is the stable
GraphQL ``errorType`` clients receive, the same from AppSync and from the local stack::

    ChatError
    ├── BadRequest       invalid input; nothing was changed
    │   └── AlreadyAttached  an upload is on a message already (a retried send's, perhaps)
    ├── Unauthorized     no usable identity
    │   └── AccountDeleted  a deleted account's still-valid token
    ├── Forbidden        authenticated, but not allowed (also: not a member)
    ├── NotFound         the thing does not exist
    ├── Conflict         a concurrent change won; re-read and retry
    ├── RateLimited      slow down
    └── IntegrityError   stored data failed an integrity check (e.g. a moved ciphertext)

    InternalError        a fault of the deployment or of a service we call, never the client's
    ├── ConfigurationError  a required setting is missing or malformed
    └── PublishError        AppSync refused a server-side publish (or there was no credential)

    RateExceeded         store outcome: a rate log refused the write (the service raises
                         RateLimited with its retry-after)
    DirectExists         store outcome: the pair has a DIRECT conversation already (the
                         service answers with that one)
    BlockedPairs         store outcome: a block refused the write (the service answers Forbidden)
    AccountGone          store outcome: a deleted account's marker refused the write (the
                         service answers AccountDeleted)

An :class:`InternalError` is no ``ChatError``: like anything else a resolver raises
unexpectedly, it is logged with its stack and the request id (cloudchat.api) and reaches the
client masked as ``InternalFailure``, so its text (a setting's name, AppSync's answer) stays
in the log. The stream consumer reports the records it could not handle for Lambda to
redeliver (cloudchat.fanout).
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


class AlreadyAttached(BadRequest):
    """An attachment is on a message already (perhaps this very send's: a retry).
    ``message_id`` names that message, so the send can tell a retry from a reuse."""

    def __init__(self, upload_id: str, message_id: str | None) -> None:
        super().__init__(f"attachment {upload_id} is already on another message")
        self.message_id = message_id


class Unauthorized(ChatError):
    error_type = "Unauthorized"


class AccountDeleted(Unauthorized):
    """A token of a deleted account (deleteAccount / adminDeleteUser): tokens stay valid
    until they expire (AppSync checks signature and expiry only), the account's markers
    refuse them (the store's AccountGone, or a marker the service reads)."""

    def __init__(self) -> None:
        super().__init__("this account has been deleted")


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


class InternalError(Exception):
    """Base of the internal errors: never sent to a client (masked as InternalFailure)."""


class ConfigurationError(InternalError):
    """A required setting is missing or malformed (a deployment problem, never a client's)."""


class PublishError(InternalError):
    """A publish AppSync refused. Its message names the HTTP status and the errors' types
    only: AppSync's messages can echo the request's variables (a message preview), and
    this message is logged."""


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


# Store outcomes: signals from cloudchat.store to the services, which turn them into answers;
# never sent to clients as such (not ChatError)
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


class BlockedPairs(Exception):
    """A block refused a write: ``pairs`` are the (blocker, blocked) pairs whose block item
    exists (nothing was written)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs


class AccountGone(Exception):
    """A deleted account's marker (its rate log, its presence) refused the write or read."""
