"""Execution environments for a stream mapping's concurrent batches.

Lambda runs each concurrent invocation of a function in an execution environment of its own:
with ``ParallelizationFactor`` above 1, the batches of one shard that run at the same time
share no memory (module globals, caches, clients). A handler written for Lambda may rely on
that (the stream consumer keeps one Powertools batch processor per module), and one must not
rely on anything else. :class:`ProcessEnvironment` gives a lane of the poller such an
environment: a process of its own (spawned, not forked: nothing inherited but the
environment variables and ``sys.path``) that loads the handler once and then runs one
invocation at a time, warm, as Lambda reuses an environment. :class:`InProcessEnvironment`
calls a handler in this process (tests, and ``ParallelizationFactor`` 1, where the stream
consumers' process is the function's one environment).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

from cloudchat_local._runtime import Handler, configure_logging, load_handler
from cloudchat_local.errors import InvocationFailed

__all__ = ["Environment", "InProcessEnvironment", "ProcessEnvironment"]

log = logging.getLogger("cloudchat_local.streams")


class Environment(Protocol):
    def invoke(self, event: dict[str, Any], context: Any) -> Any: ...

    def close(self) -> None: ...


class InProcessEnvironment:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    def invoke(self, event: dict[str, Any], context: Any) -> Any:
        return self.handler(event, context)

    def close(self) -> None:
        pass


# Set in the environment's own process by _initialize.
_handler: Handler | None = None


def _exit_with_parent() -> None:
    """A worker of ProcessPoolExecutor holds its queue's write end too, so it never sees its
    parent go: it would outlive a killed stream consumers' process. Watch the parent."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _initialize(module: str, attr: str, path: list[str], level: int) -> None:
    global _handler
    _exit_with_parent()
    # The handler's stdout (Powertools' logger, print) goes where its stderr goes, as Lambda
    # captures both: the inherited stdout may be a pipe nobody reads (the stream consumers'
    # process starts its lanes before it hands its stdout over), which a chatty handler
    # would fill, and then block on, forever.
    sys.stdout.flush()
    os.dup2(2, 1)
    for entry in reversed(path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    configure_logging(level)
    _handler = load_handler(module, attr)


def _ping() -> bool:
    return _handler is not None


def _invoke(event: dict[str, Any], context: Any) -> Any:
    assert _handler is not None
    try:
        return _handler(event, context)
    except Exception as exc:
        logging.getLogger("cloudchat_local.streams").exception(
            "%s failed on %d record(s)", getattr(context, "function_name", "the handler"),
            len(event.get("Records") or []))
        raise InvocationFailed(f"{type(exc).__name__}: {exc}") from None


class ProcessEnvironment:
    """A process that loads ``module.attr`` once and runs its invocations one at a time.

    The context object is pickled along with the event (``get_remaining_time_in_millis``
    counts on the monotonic clock, which is the machine's, not the process's)."""

    def __init__(self, module: str, attr: str) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_initialize,
            initargs=(module, attr, list(sys.path), logging.getLogger("cloudchat_local").getEffectiveLevel()),
        )
        self._pool.submit(_ping)  # starts the process now: a cold start before the first batch

    def invoke(self, event: dict[str, Any], context: Any) -> Any:
        return self._pool.submit(_invoke, event, context).result()

    def pid(self) -> int:
        """The environment's process id."""
        return int(self._pool.submit(os.getpid).result())

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
