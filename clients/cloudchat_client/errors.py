"""Every exception the client raises: one tree.

::

    CloudChatError                 anything the client reports
    ├── ConfigError                no outputs file, an unusable stack description
    ├── ApiError                   the API answered with an ``errorType`` (``error_type``)
    │   ├── BadRequest             invalid input
    │   ├── Unauthorized           the caller may not use this operation (a group, IAM only)
    │   ├── Forbidden              not a member, not the author, not an owner/admin
    │   ├── NotFound               no such conversation or message (or not visible to you)
    │   ├── Conflict               a concurrent change (editMessage's expectedVersion)
    │   ├── RateLimited            slow down (``retry_after``: seconds, when the API says)
    │   ├── IntegrityError         stored data failed its integrity check
    │   └── InternalFailure        the server failed
    ├── AuthError                  Cognito refused the credentials, or the API refused the token
    │   └── NotLoggedIn            no usable session (none stored, or it could not be refreshed)
    └── NetworkError               the connection failed or broke (retried where safe)
        └── StackUnreachable       nothing answers at the endpoint (connection refused)

    TokenRefused                   internal: the API refused the token before running anything;
                                   the transport refreshes it once, then raises ``error``

:func:`api_error_for` makes the ApiError subclass for an ``errorType``; an unknown type is a plain
:class:`ApiError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

__all__ = [
    "ApiError", "AuthError", "BadRequest", "CloudChatError", "ConfigError", "Conflict", "Forbidden",
    "IntegrityError", "InternalFailure", "NetworkError", "NotFound", "NotLoggedIn", "RateLimited",
    "StackUnreachable", "Unauthorized", "api_error_for",
]


class CloudChatError(Exception):
    """An error of the CloudChat client, reportable as one line."""


class ConfigError(CloudChatError):
    """The endpoint could not be determined (outputs file, CloudFormation stack)."""


class ApiError(CloudChatError):
    """A GraphQL error, with AppSync's stable ``errorType`` and the error's ``errorInfo``."""

    def __init__(self, error_type: str, message: str, info: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.info: dict[str, Any] = dict(info or {})


class BadRequest(ApiError):
    """The input was invalid."""


class Unauthorized(ApiError):
    """The caller may not use this operation at all (a Cognito group, IAM only)."""


class Forbidden(ApiError):
    """The caller may not do this to this conversation or message."""


class NotFound(ApiError):
    """No such item, or not one the caller may see."""


class Conflict(ApiError):
    """A concurrent change won (retry from a fresh read)."""


class RateLimited(ApiError):
    """Too fast. ``retry_after``: seconds until a retry may succeed, when the API says."""

    @property
    def retry_after(self) -> float | None:
        value = self.info.get("retryAfterSeconds")
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class IntegrityError(ApiError):
    """Stored data failed its integrity check (the server refuses to serve it)."""


class InternalFailure(ApiError):
    """The server failed."""


_BY_TYPE: dict[str, type[ApiError]] = {
    cls.__name__: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict, RateLimited, IntegrityError,
                InternalFailure)
}
#: AppSync's own names for the same errors.
_BY_TYPE["UnauthorizedException"] = Unauthorized


def api_error_for(error_type: str, message: str, info: Mapping[str, Any] | None = None) -> ApiError:
    """The :class:`ApiError` subclass for ``error_type`` (a plain ApiError for any other)."""
    return _BY_TYPE.get(error_type, ApiError)(error_type, message, info)


class AuthError(CloudChatError):
    """Cognito refused the credentials or the API refused the token."""


class NotLoggedIn(AuthError):
    """No (usable) session for this endpoint."""


class NetworkError(CloudChatError):
    """The connection to the endpoint failed or broke."""


class StackUnreachable(NetworkError):
    """Nothing answers at the endpoint."""

    def __init__(self, url: str, detail: str = "") -> None:
        hint = "is `make dev` running?" if _is_loopback(url) else "check the endpoint and your network"
        super().__init__(f"the stack at {url} is not reachable; {hint}" + (f" ({detail})" if detail else ""))
        self.url = url


class TokenRefused(Exception):
    """The API refused the token before running anything (expired, unparsable, revoked): a
    signal inside the transport, which refreshes the token once and otherwise raises ``error``."""

    def __init__(self, error: CloudChatError) -> None:
        super().__init__(str(error))
        self.error = error


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in {"localhost", "127.0.0.1", "::1"} or host.startswith("127.")
