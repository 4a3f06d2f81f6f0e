"""What the local stack's processes share: loading a function's handler as Lambda's runtime
does, their logging, and stopping a child process (from inside: on a signal or when its
parent goes away; from the parent: stdin closed, then SIGTERM, then SIGKILL).

Small on purpose (it is imported by the stream consumers' child process before anything
else): no emulator, no moto.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from cloudchat_local.errors import HandlerError

Handler = Callable[[dict[str, Any], Any], Any]


def load_handler(module: str, attr: str) -> Handler:
    """The callable ``module.attr`` (a function's ``Handler``, e.g. ``resolvers.messages``,
    ``lambda_handler``)."""
    try:
        handler = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise HandlerError(f"cannot load handler {module}.{attr}: {exc}") from exc
    if not callable(handler):
        raise HandlerError(f"{module}.{attr} is not callable")
    return handler


def configure_logging(level: int) -> None:
    """Root logging to stderr for everything, plus a handler of its own for
    ``cloudchat_local``: Powertools' Logger (service ``cloudchat``) puts a filter on the root
    handlers that drops every record whose logger name contains ``cloudchat``, which would
    silence the stack."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.basicConfig(level=level, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(fmt)
    own = logging.StreamHandler(sys.stderr)
    own.setFormatter(fmt)
    stack_logger = logging.getLogger("cloudchat_local")
    stack_logger.addHandler(own)
    stack_logger.setLevel(level)
    stack_logger.propagate = False


def stop_on_signal(stop: threading.Event, *, watch_stdin: bool) -> None:
    """Sets ``stop`` on SIGTERM or SIGINT and, with ``watch_stdin``, when stdin reaches end
    of file (the parent closed it, or died)."""

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    if watch_stdin:
        def watch() -> None:
            with contextlib.suppress(Exception):
                while sys.stdin.buffer.read(65536):
                    pass
            stop.set()

        threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


def terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited 15 s later."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def stop_child(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    """Stops a child that stops when its stdin closes: closes it, waits up to ``timeout``,
    then :func:`terminate`; closes its stdout. Returns its exit code."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    if process.poll() is None:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            terminate(process)
    if process.stdout is not None:
        with contextlib.suppress(OSError):
            process.stdout.close()
    return process.poll()
