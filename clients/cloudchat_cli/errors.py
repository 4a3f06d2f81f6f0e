"""The CLI's exceptions: the library's tree (:mod:`cloudchat_client.errors`), each with the exit
code ``main`` returns for it (:func:`exit_code`).

::

    CliError (= CloudChatError)   exit 1   anything the CLI reports as a one-line error
    ├── ConfigError               exit 1   no outputs file, an unusable stack description
    ├── ApiError                  exit 1   the API answered with an ``errorType`` (NotFound, Forbidden, ...)
    ├── AuthError                 exit 3   Cognito refused the credentials (NotAuthorizedException)
    │   └── NotLoggedIn           exit 3   no stored session for this endpoint, or it expired
    └── NetworkError              exit 4   the connection failed or broke (retried where safe)
        └── StackUnreachable      exit 4   nothing answers at the endpoint (connection refused)

    CheckFailed                          one check of ``cloudchat verify`` failed (the runner
                                         records it in the report; it never reaches ``main``)
"""

from __future__ import annotations

from cloudchat_client.errors import (
    ApiError,
    AuthError,
    ConfigError,
    NetworkError,
    NotLoggedIn,
    StackUnreachable,
)
from cloudchat_client.errors import CloudChatError as CliError

__all__ = [
    "ApiError", "AuthError", "CheckFailed", "CliError", "ConfigError", "NetworkError", "NotLoggedIn",
    "StackUnreachable", "exit_code",
]


class CheckFailed(Exception):
    """A check of ``cloudchat verify``: the stack answered, but not as it should."""


def exit_code(error: CliError) -> int:
    if isinstance(error, AuthError):
        return 3
    if isinstance(error, NetworkError):
        return 4
    return 1
