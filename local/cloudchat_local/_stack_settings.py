"""The local stack's defaults and state-directory layout, its ports, and the lock that keeps
a second stack off a state directory (see :mod:`cloudchat_local.dev`)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

from cloudchat_local.errors import StateDirBusy
from cloudchat_local.template import DEFAULT_TEMPLATE_PATH

__all__ = [
    "CONSUMERS_SPEC_FILE",
    "DEFAULT_GSI_LAG_S",
    "DEFAULT_MOTO_PORT",
    "DEFAULT_PORT",
    "DEFAULT_STATE_DIR",
    "DEFAULT_TLS_PORT",
    "DEFAULT_WEB_DIR",
    "HOST",
    "LEGACY_CHECKPOINTS_FILE",
    "LOCAL_PARAMETERS",
    "MOTO_STATE_FILE",
    "READY_LINE",
    "STREAM_CHECKPOINTS_FILE",
    "api_url",
    "free_port",
    "port_is_free",
    "state_lock",
]

DEFAULT_PORT: Final = 4000
DEFAULT_TLS_PORT: Final = 4443
DEFAULT_MOTO_PORT: Final = 4010
#: GSI reads lag the table by this much in ``make dev``. DynamoDB propagates a write to
#: its GSIs "within a fraction of a second" normally (within 1 s, AWS Knowledge Center),
#: and never promises read-after-write through one. 0.2 s is well above a client's time
#: from a write to its next read, so code that reads its own write through an index fails
#: locally every time, and short enough that nobody waits on it by hand.
DEFAULT_GSI_LAG_S: Final = 0.2
DEFAULT_STATE_DIR: Final = DEFAULT_TEMPLATE_PATH.parent / ".cloudchat" / "state"
#: The built web client (``make web``), served by the emulator at ``/app/``.
DEFAULT_WEB_DIR: Final = DEFAULT_TEMPLATE_PATH.parent / "web" / "dist"
HOST: Final = "127.0.0.1"
MOTO_STATE_FILE: Final = "moto-state.pickle"
#: A stream function's checkpoints: ``stream-checkpoints-<Function>.json`` (one process each).
STREAM_CHECKPOINTS_FILE: Final = "stream-checkpoints-{function}.json"
LEGACY_CHECKPOINTS_FILE: Final = "stream-checkpoints.json"  # all functions' (before isolation)
CONSUMERS_SPEC_FILE: Final = "consumers-{function}.json"  # what a consumers' process is given
READY_LINE: Final = "CloudChat local stack ready"
#: Template parameters the local stack sets (the rest keep their defaults). E-mail notices
#: are on locally, from a sender provisioning verifies in moto's SES; the mails are read back
#: with ``GET /_emulator/mails`` or ``cloudchat mails``.
LOCAL_PARAMETERS: Final = {"NoticeSender": "notices@cloudchat.example.com"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def api_url(port: int) -> str:
    """What ``!GetAtt GraphQLApi.GraphQLUrl`` is locally (function environments, outputs):
    the emulator's plain-HTTP endpoint, which in-process code can reach without the cert."""
    return f"http://{HOST}:{port}/graphql"


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(state_dir / ".lock", "a+")  # noqa: SIM115 - held until exit
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.seek(0)
            holder = handle.read().strip()
            raise StateDirBusy(
                f"another local stack{f' (pid {holder})' if holder else ''} is using {state_dir}: "
                "stop it, or use another --state-dir"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()
