"""The CLI's exceptions: one tree, each with the exit code ``main`` returns for it.

::

    CliError                      exit 1   anything the CLI reports as a one-line error
    ├── ConfigError               exit 1   no outputs file, an unusable stack description
    ├── ApiError                  exit 1   the API answered with an ``errorType`` (NotFound, Forbidden, ...)
    ├── AuthError                 exit 3   Cognito refused the credentials (NotAuthorizedException)
    │   └── NotLoggedIn           exit 3   no stored session for this endpoint, or it expired
    └── NetworkError              exit 4   the connection failed or broke (retried where safe)
        └── StackUnreachable      exit 4   nothing answers at the endpoint (connection refused)
"""

from __future__ import annotations

__all__ = [
    "ApiError", "AuthError", "CliError", "ConfigError", "NetworkError", "NotLoggedIn", "StackUnreachable",
]


class CliError(Exception):
    """An error the CLI reports as one line on stderr."""

    exit_code: int = 1


class ConfigError(CliError):
    """The endpoint could not be determined (outputs file, CloudFormation stack)."""


class ApiError(CliError):
    """A GraphQL error, with AppSync's stable ``errorType``."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class AuthError(CliError):
    """Cognito refused the credentials or the API refused the token."""

    exit_code = 3


class NotLoggedIn(AuthError):
    """No (usable) stored session for this endpoint."""


class NetworkError(CliError):
    """The connection to the endpoint failed or broke."""

    exit_code = 4


class StackUnreachable(NetworkError):
    """Nothing answers at the endpoint."""

    def __init__(self, url: str, detail: str = "") -> None:
        hint = "is `make dev` running?" if _is_loopback(url) else "check the endpoint and your network"
        super().__init__(f"the stack at {url} is not reachable; {hint}" + (f" ({detail})" if detail else ""))
        self.url = url


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlparse

    host = urlparse(url).hostname or ""
    return host in {"localhost", "127.0.0.1", "::1"} or host.startswith("127.")
