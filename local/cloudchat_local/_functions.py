"""Template functions run isolated, as on Lambda: a pool of worker processes per function.

On Lambda each function runs in execution environments of its own: its own process, with
exactly the environment its template gives it (Globals and its own ``Environment``) plus what
Lambda's runtime sets, its own execution role, its own module state (clients, caches). A
variable missing from one function, a permission missing from one role, or a cold path one
function's cache would keep warm for another all show up on AWS; the local stack makes them
show up locally too.

:func:`function_config` builds a function's worker environment *from scratch*:

* the template environment (:meth:`Template.function_environment`), resolved;
* what Lambda's runtime defines (``_HANDLER``, ``AWS_LAMBDA_FUNCTION_NAME``, ``..._MEMORY_SIZE``,
  ``..._VERSION``, ``AWS_LAMBDA_INITIALIZATION_TYPE``, ``AWS_LAMBDA_LOG_GROUP_NAME``,
  ``..._LOG_STREAM_NAME``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, ``AWS_EXECUTION_ENV``,
  ``LAMBDA_TASK_ROOT``, ``TZ``, ``LANG``, ``PATH``);
* the function's own credentials (:mod:`cloudchat_local._identity`: its "execution role");
* the local stack's plumbing only: ``AWS_ENDPOINT_URL`` (moto), ``PYTHONPATH`` (so the
  project imports), Powertools tracing and metrics off, ``NO_PROXY`` for loopback, and no
  shared AWS config or credentials file (``AWS_CONFIG_FILE``/``AWS_SHARED_CREDENTIALS_FILE``
  = /dev/null: a developer's ``~/.aws`` is not a Lambda's).

:class:`FunctionPool` is Lambda's concurrency for one function: an invocation takes an idle
worker (warm) or starts a new one (a cold start, paid by that invocation, in the worker) when
all are busy, up to ``max_concurrency``; beyond that invocations wait for a worker. Each worker
runs one invocation at a time. An invocation that outlives the function's ``Timeout`` kills
its worker and fails with Lambda's "Task timed out after N.NN seconds"; a worker that dies
mid-invocation fails it (``Runtime.ExitError``) and is replaced by the next cold start. A pool
is the emulator's invoker (:class:`cloudchat_local.emulator.LambdaResolver`).
"""

from __future__ import annotations

import contextlib
import functools
import locale
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cloudchat_local._function_worker import error_payload, read_frame, send_frame
from cloudchat_local._identity import credentials_for
from cloudchat_local._runtime import stop_child
from cloudchat_local.emulator._config import Invocation
from cloudchat_local.errors import FrameError, FunctionStartError
from cloudchat_local.template import Template

log = logging.getLogger("cloudchat_local.functions")

DEFAULT_MAX_CONCURRENCY: Final = 8
#: How long a worker may take to import its handler (Lambda's Init phase is capped at 10 s;
#: a loaded laptop starting every function at once needs more).
START_TIMEOUT_S: Final = 60.0
LOOPBACK: Final = "127.0.0.1,localhost,::1"
#: What Lambda's runtime sets besides the function's template environment (and
#: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). ``_X_AMZN_TRACE_ID`` is left out: tracing is
#: off locally.
LAMBDA_DEFINED: Final = (
    "_HANDLER", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "LAMBDA_TASK_ROOT",
    "LANG", "PATH", "TZ",
)
#: The local stack's own additions (see the module docstring).
PLUMBING: Final = (
    "AWS_CONFIG_FILE", "AWS_ENDPOINT_URL", "AWS_SHARED_CREDENTIALS_FILE", "NO_PROXY", "no_proxy",
    "POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_TRACE_DISABLED", "PYTHONPATH", "PYTHONUNBUFFERED",
)


@dataclass(frozen=True)
class FunctionConfig:
    """What a pool needs to start a function's workers. ``environment`` is the worker's whole
    environment except ``AWS_LAMBDA_LOG_STREAM_NAME`` (one per worker, as on Lambda)."""

    logical_id: str
    function_name: str
    module: str
    handler_attr: str
    arn: str
    timeout_s: float
    memory_limit_in_mb: int
    environment: Mapping[str, str]
    cwd: Path = field(default_factory=Path.cwd)


def function_config(
    template: Template,
    logical_id: str,
    resolve: Mapping[str, str],
    *,
    endpoint: str,
    region: str,
    account_id: str,
    python_path: Iterable[str] | None = None,
) -> FunctionConfig:
    """A template function, resolved against the local stack (see the module docstring)."""
    function = template.function(logical_id)
    props = function.properties
    name = str(resolve.get(logical_id, logical_id))
    memory = int(props.get("MemorySize", 128))
    access_key, secret = credentials_for(logical_id)
    code_root = (template.path.parent / function.code_uri).resolve()
    paths = [p for p in (sys.path if python_path is None else python_path) if p]
    env = {
        **template.function_environment(logical_id, resolve),
        # what Lambda's runtime defines
        "_HANDLER": function.handler,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{props.get('Runtime', 'python3.12')}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "LAMBDA_TASK_ROOT": str(code_root),
        "TZ": ":UTC",
        "LANG": _lang(),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        # the function's execution role
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret,
        # the local stack's plumbing
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "NO_PROXY": LOOPBACK,
        "no_proxy": LOOPBACK,
        "PYTHONPATH": os.pathsep.join(paths),
        "PYTHONUNBUFFERED": "1",
    }
    return FunctionConfig(
        logical_id=logical_id, function_name=name, module=function.module,
        handler_attr=function.handler_attr,
        arn=str(resolve.get(f"{logical_id}.Arn")
                or f"arn:aws:lambda:{region}:{account_id}:function:{name}"),
        timeout_s=float(props.get("Timeout", 3)), memory_limit_in_mb=memory,
        environment=env, cwd=template.path.parent,
    )


@functools.cache
def _lang() -> str:
    """Lambda's ``en_US.UTF-8`` when this machine has that locale; else ``C.UTF-8`` (the same
    encoding), which Python would otherwise coerce to by adding ``LC_CTYPE`` (PEP 538)."""
    saved = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "en_US.UTF-8")
    except locale.Error:
        return "C.UTF-8"
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)
    return "en_US.UTF-8"


def worker_environment(config: FunctionConfig) -> dict[str, str]:
    """A new execution environment's variables: the config's plus its own log stream."""
    stream = time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()) + uuid.uuid4().hex
    return {**config.environment, "AWS_LAMBDA_LOG_STREAM_NAME": stream}


# =========================================================================== one worker


class _Worker:
    """One execution environment: a ``_function_worker`` child process."""

    def __init__(self, config: FunctionConfig, *, python: str) -> None:
        self.config = config
        level = logging.getLogger("cloudchat_local").getEffectiveLevel()
        self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [python, "-m", "cloudchat_local._function_worker", config.module, config.handler_attr,
             str(level)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=worker_environment(config),
            cwd=config.cwd, start_new_session=True,  # Ctrl-C reaches the stack, which stops us
        )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self._requests = self.process.stdin.fileno()
        self._answers = self.process.stdout.fileno()

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float) -> None:
        """Returns once the handler is imported; FunctionStartError (worker stopped) if not."""
        try:
            answer = read_frame(self._answers, time.monotonic() + timeout)
        except TimeoutError:
            self.kill()
            raise FunctionStartError(
                f"{self.config.logical_id}: its handler did not load in {timeout:.0f} s",
                "Sandbox.Timedout") from None
        except (FrameError, ValueError):
            self.kill()
            raise FunctionStartError(
                f"{self.config.logical_id}: its worker exited while starting "
                f"({self._exit_reason()})") from None
        if not answer.get("ready"):
            self.kill()
            error = answer.get("error") or {}
            raise FunctionStartError(f"{self.config.logical_id}: {error.get('errorMessage')}",
                                     str(error.get("errorType") or "Runtime.ExitError"))

    def invoke(self, event: Any, request: Mapping[str, Any], timeout_s: float) -> Invocation:
        """One invocation, within ``timeout_s``: the worker is killed if it runs over or
        stops answering (the caller then drops it)."""
        try:
            send_frame(self._requests, {"event": event, "context": request})
            answer = read_frame(self._answers, time.monotonic() + timeout_s)
        except TimeoutError:
            self.kill()
            return Invocation(error=error_payload(
                "Sandbox.Timedout", f"Task timed out after {timeout_s:.2f} seconds"))
        except (OSError, FrameError, ValueError):
            self.kill()
            return Invocation(error=error_payload(
                "Runtime.ExitError", f"Runtime exited with error: {self._exit_reason()}"))
        if "error" in answer:
            return Invocation(error=answer["error"])
        return Invocation(result=answer.get("result"))

    def _exit_reason(self) -> str:
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "no answer"
        if code < 0:  # Lambda's wording: "signal: killed", "signal: segmentation fault"
            return f"signal: {(signal.strsignal(-code) or str(-code)).lower()}"
        return f"exit status {code}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()
        self._close()

    def stop(self, timeout: float = 5.0) -> None:
        """Closes stdin (the worker exits), then SIGTERM, then SIGKILL."""
        stop_child(self.process, timeout)

    def _close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


# =========================================================================== the pool


class FunctionPool:
    """Lambda's concurrency for one function (see the module docstring). Calling the pool
    is one invocation, as the emulator does: ``pool(event, context) -> Invocation``."""

    def __init__(self, config: FunctionConfig, *, max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
                 start_timeout_s: float = START_TIMEOUT_S, python: str = sys.executable) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.config = config
        self.max_concurrency = max_concurrency
        self.start_timeout_s = start_timeout_s
        self.python = python
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []  # most recently used last
        self._workers: set[_Worker] = set()  # every worker started and not yet dropped
        self._closed = False
        self.cold_starts = 0

    @property
    def pids(self) -> list[int]:
        """The live workers' process ids."""
        with self._cond:
            return sorted(w.pid for w in self._workers)

    def prewarm(self) -> None:
        """Starts one worker now (FunctionStartError if its handler does not load)."""
        self._release(self._acquire())

    def __call__(self, event: Any, context: Any) -> Invocation:
        request_id = str(getattr(context, "aws_request_id", None) or uuid.uuid4())
        try:
            worker = self._acquire()
        except FunctionStartError as exc:
            log.error("%s (request %s)", exc, request_id)
            return Invocation(error=error_payload(exc.error_type, str(exc)))
        try:
            return worker.invoke(event, {
                "aws_request_id": request_id,
                "invoked_function_arn": self.config.arn,
                "remaining_ms": int(self.config.timeout_s * 1000),
            }, self.config.timeout_s)
        finally:
            self._release(worker)

    def _acquire(self) -> _Worker:
        with self._cond:
            while True:
                self._check_open()
                if self._idle:
                    return self._idle.pop()
                if len(self._workers) < self.max_concurrency:
                    break
                self._cond.wait()
            worker = _Worker(self.config, python=self.python)  # counted at once (busy)
            self._workers.add(worker)
            self.cold_starts += 1
        try:
            worker.wait_ready(self.start_timeout_s)  # killed by stop() if it comes first
            with self._cond:
                self._check_open()
        except BaseException:
            self._release(worker)
            raise
        return worker

    def _check_open(self) -> None:
        if self._closed:
            raise FunctionStartError(f"{self.config.logical_id}: the local stack is stopping")

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            keep = worker.alive() and not self._closed
            if keep:
                self._idle.append(worker)
            else:
                self._workers.discard(worker)
            self._cond.notify()
        if not keep:
            worker.kill()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops every worker: idle ones are asked to exit, busy (or starting) ones are
        killed, which fails their invocations. Returns once all are gone. Idempotent."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._workers.difference_update(idle)
            busy = list(self._workers)
            self._cond.notify_all()
        for worker in busy:
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()  # its invocation sees the pipe close and drops it
        for worker in idle:
            worker.stop(timeout)
        with self._cond:
            self._cond.wait_for(lambda: not self._workers, timeout)


class FunctionPools(dict[str, FunctionPool]):
    """The pools of a local stack, by function logical id."""

    def prewarm(self) -> None:
        """One worker per function, started in parallel (FunctionStartError: the first
        function whose handler did not load)."""
        if not self:
            return
        with ThreadPoolExecutor(max_workers=len(self), thread_name_prefix="prewarm") as pool:
            for done in [pool.submit(p.prewarm) for p in self.values()]:
                done.result()

    def stop(self) -> None:
        for pool in self.values():
            pool.stop()
