"""Every exception class of the local stack, in one tree.

Which errors a caller of the local stack can expect, who raises them, and what catches them::

    LocalError                        base of every class below; nothing catches it as such
    ├── LocalStackError (RuntimeError)  `cloudchat dev` cannot start: it prints the message
    │   │                               and exits with ``exit_code`` (1)
    │   ├── PortInUse                   exit 2: a port is taken (port, host, owner, option)
    │   └── StateDirBusy                exit 2: another local stack holds the state directory
    ├── TemplateError (ValueError)      template.yaml lacks something, or uses the unsupported
    │   ├── UnresolvedReference         an intrinsic refers to a value nobody provides (key)
    │   └── PolicyError                 a function's IAM policy cannot be evaluated faithfully
    ├── ProvisionError (RuntimeError)   moto refused a resource, or holds a contradicting one
    ├── MotoStartError (RuntimeError)   the moto server process did not come up
    ├── MotoVersionError (RuntimeError) the installed moto is not the one the patches target
    ├── FunctionStartError (RuntimeError)  a function's worker did not start (error_type)
    ├── ConsumerStartError (RuntimeError)  the stream consumers' process did not come up
    ├── SeedError (RuntimeError)        the API refused a demo-data request
    ├── WebConfigError (ValueError)     the stack outputs lack what the web client needs
    ├── HandlerError (ImportError)      a function's Handler names nothing callable
    ├── FrameError (EOFError)           a function worker's pipe closed or carried a non-frame
    ├── InvocationFailed                a handler raised (its environment logged the traceback)
    ├── EmulatorError                   the AppSync emulator cannot be configured or started
    │   ├── ConfigError                 the configuration cannot work (wiring, state dir, ...)
    │       └── SchemaError             the schema does not parse or is not a valid AppSync one
    ├── AuthError                       a request AppSync refuses before any resolver runs
    ├── ResolverError                   a field error with an AppSync errorType (util.error)
    ├── NullInNonNull                   a null reached a non-null position (selection)
    ├── StartRejected                   a subscription start refused (its error frames)
    └── Interrupted                     Ctrl-C / SIGTERM arrived while the stack was starting

:class:`PortInUse` is the one "port busy" error: the moto server, the emulator and
``cloudchat dev`` raise it, naming the port and its owner (``moto``, ``GraphQL API``, ...).

The classes keep the built-in bases that callers rely on: a ``TemplateError`` is a
``ValueError``, a ``HandlerError`` an ``ImportError``, a ``FrameError`` an ``EOFError``. The
errors a *client* sees (AuthError, ResolverError) are rendered as AppSync renders them and never
reach the code that started the stack; NullInNonNull, StartRejected and Interrupted are
signals inside one module each. This module imports nothing of the package: every module may
import it.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "AuthError",
    "ConfigError",
    "ConsumerStartError",
    "EmulatorError",
    "FrameError",
    "FunctionStartError",
    "HandlerError",
    "Interrupted",
    "InvocationFailed",
    "LocalError",
    "LocalStackError",
    "MotoStartError",
    "MotoVersionError",
    "NullInNonNull",
    "PolicyError",
    "PortInUse",
    "ProvisionError",
    "ResolverError",
    "SchemaError",
    "SeedError",
    "StartRejected",
    "StateDirBusy",
    "TemplateError",
    "UnresolvedReference",
    "WebConfigError",
]

_LOOPBACK: Final = "127.0.0.1"


class LocalError(Exception):
    """Base class of every exception the local stack defines."""


# --------------------------------------------------------------------------- starting the stack


class LocalStackError(LocalError, RuntimeError):
    """The local stack cannot start. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class PortInUse(LocalStackError):
    """A port the local stack needs is taken. ``owner`` is what wanted it (``moto``,
    ``GraphQL API``, ...), ``option`` the command-line flag that picks another (if any)."""

    exit_code = 2

    def __init__(self, port: int, owner: str, *, host: str = _LOOPBACK, option: str = "") -> None:
        another = f"pick another with {option}" if option else "pick another port"
        super().__init__(
            f"port {port} on {host} ({owner}) is already in use: stop whatever uses it, or "
            f"{another} (0 picks a free port)"
        )
        self.port = port
        self.host = host
        self.owner = owner
        self.option = option


class StateDirBusy(LocalStackError):
    """Another local stack runs on the same state directory."""

    exit_code = 2


class Interrupted(LocalError):
    """SIGINT or SIGTERM arrived before the stack was ready (``cloudchat dev`` exits 130)."""


# --------------------------------------------------------------------------- template and AWS


class TemplateError(LocalError, ValueError):
    """template.yaml is missing something the caller needs, or uses what is not supported."""


class UnresolvedReference(TemplateError):
    """An intrinsic function refers to a value the ``resolve`` mapping does not provide."""

    def __init__(self, key: str, where: str = "") -> None:
        super().__init__(f"no value for {key!r}{f' (in {where})' if where else ''}")
        self.key = key


class PolicyError(TemplateError):
    """A policy the local stack cannot evaluate faithfully (the local stack refuses to
    start: a TemplateError)."""


class ProvisionError(LocalError, RuntimeError):
    """The moto server refused something, or holds a resource that contradicts the template."""


class MotoStartError(LocalError, RuntimeError):
    """The moto server process did not come up."""


class MotoVersionError(LocalError, RuntimeError):
    """The installed moto is not the release ``cloudchat_local.moto`` patches were written
    against (it names both; the seam refuses to patch internals it has not read)."""

    def __init__(self, installed: str, expected: str) -> None:
        super().__init__(
            f"moto {installed} is installed, but cloudchat_local.moto patches moto {expected}'s "
            f"internals: install moto=={expected} (pip install -r requirements-dev.txt), or "
            "re-read each patch against the new release and update MOTO_VERSION"
        )
        self.installed = installed
        self.expected = expected


class SeedError(LocalError, RuntimeError):
    """The API refused a demo-data request."""


class WebConfigError(LocalError, ValueError):
    """The stack outputs lack what the web client needs."""


# --------------------------------------------------------------------------- functions and streams


class HandlerError(LocalError, ImportError):
    """A function's Handler names nothing callable."""


class FunctionStartError(LocalError, RuntimeError):
    """A function's worker could not start (its handler does not import, ...);
    ``error_type`` is how Lambda would report it."""

    def __init__(self, message: str, error_type: str = "Runtime.ExitError") -> None:
        super().__init__(message)
        self.error_type = error_type


class FrameError(LocalError, EOFError):
    """The other side closed the pipe, or sent something that is not a frame."""


class InvocationFailed(LocalError):
    """The handler raised (a function error); the environment has logged the traceback."""


class ConsumerStartError(LocalError, RuntimeError):
    """The consumer process did not come up (its reason is the message)."""


# --------------------------------------------------------------------------- the AppSync emulator


class EmulatorError(LocalError):
    """Base class of every error the emulator raises to its caller."""


class ConfigError(EmulatorError):
    """The emulator was configured in a way that cannot work."""


class SchemaError(ConfigError):
    """The schema file does not parse, or is not a valid AppSync schema."""


class AuthError(LocalError):
    """A request that AppSync would refuse before running any resolver."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"errors": [{"errorType": self.error_type, "message": self.message}]}


class ResolverError(LocalError):
    """A field error with an AppSync ``errorType`` (``util.error(message, type, data, info)``)."""

    def __init__(self, message: Any, error_type: Any, data: Any = None, error_info: Any = None):
        text = "" if message is None else str(message)
        super().__init__(text)
        self.message = text
        self.error_type = error_type
        self.data = data
        self.error_info = error_info


class NullInNonNull(LocalError):
    """A null reached a non-null position; the nearest nullable parent becomes null."""


class StartRejected(LocalError):
    """A subscription ``start`` AppSync refuses; ``errors`` are its error frame's errors."""

    def __init__(self, *errors: dict[str, Any]) -> None:
        super().__init__(errors[0]["message"] if errors else "rejected")
        self.errors = list(errors)
