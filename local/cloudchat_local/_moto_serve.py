"""The moto server process (started by :class:`cloudchat_local._moto_server.MotoProcess`):
patch moto (:mod:`cloudchat_local.moto`), restore its state, serve, save.

* moto is patched in *this* process, where its backends live: DynamoDB transactions atomic
  and isolated, the server speed-ups, ``--gsi-lag`` (GSI reads lag the table, as on AWS),
  shard iterators bounded.
* **State** (:mod:`cloudchat_local._moto_state`): restored before the first request; saved on
  shutdown, and every ``--autosave-interval`` seconds after a write (longer once snapshots get
  slow: never more than ~5 % of the time held; see :func:`autosave_pause`). Requests are held
  at a gate while a snapshot is taken, so a snapshot never sees half a request.
* Only ``127.0.0.1``/``localhost``/``::1`` can be bound.
* ``POST /_cloudchat/shutdown`` stops the server (saving its state), ``POST
  /_cloudchat/snapshot`` saves the state now (200 when done). Requests signed with a template
  function's access key are checked against its IAM policies
  (:class:`cloudchat_local.iam.IamMiddleware`; ``POST /_cloudchat/iam`` loads them).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from cloudchat_local import moto as moto_seam
from cloudchat_local._moto_state import load_state, snapshot_bytes, write_atomic
from cloudchat_local._runtime import stop_on_signal

__all__ = ["CONTROL_PREFIX", "autosave_pause", "serve"]

CONTROL_PREFIX: Final = "/_cloudchat/"
_LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")
# Operations that never change moto's state: they do not make a snapshot necessary.
_READ_ONLY: Final = re.compile(r"^(Get|Describe|List|Query|Scan|BatchGet|Head)")

log = logging.getLogger("cloudchat_local.moto")


class _Gate:
    """Requests pass while no snapshot is being taken; a snapshot waits for them to finish."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._closed)
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self, timeout: float = 10.0, *, reopen: bool = True) -> Iterator[None]:
        """No request runs inside; with ``reopen=False`` none runs after either (the final
        snapshot: a request on a kept-alive connection must not change what is not saved)."""
        with self._cond:
            self._closed = True
            if not self._cond.wait_for(lambda: self._active == 0, timeout):
                log.warning("saving moto state with %d request(s) still running", self._active)
        try:
            yield
        finally:
            if reopen:
                with self._cond:
                    self._closed = False
                    self._cond.notify_all()


#: An autosave holds requests back while it pickles the state, which takes longer as the state
#: grows (1.3 s at ~40 MB): the next one waits at least this many times as long, so saving
#: never holds requests back for more than ~1/(1 + AUTOSAVE_BACKOFF) of the time.
AUTOSAVE_BACKOFF = 20.0


def autosave_pause(interval: float, last_hold_s: float) -> float:
    """Seconds until the next autosave: ``interval``, or longer after a slow snapshot."""
    return max(interval, AUTOSAVE_BACKOFF * last_hold_s)


class _StateKeeper:
    def __init__(self, path: Path | None, gate: _Gate) -> None:
        self.path = path
        self.gate = gate
        self.dirty = False
        self.last_hold_s = 0.0  # how long the last snapshot held requests back
        self._save_lock = threading.Lock()

    def save(self, *, force: bool = False, final: bool = False) -> bool:
        if self.path is None:
            return False
        with self._save_lock:
            if not (self.dirty or force):
                return False
            started = time.monotonic()
            with self.gate.exclusive(reopen=not final):
                self.dirty = False
                data = snapshot_bytes()
            self.last_hold_s = time.monotonic() - started
            write_atomic(self.path, data)
            return True


def _changes_state(environ: dict[str, Any]) -> bool:
    method = environ.get("REQUEST_METHOD", "GET")
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    operation = target.rsplit(".", 1)[-1]
    return not (operation and _READ_ONLY.match(operation))


def _plain(start_response: Callable[..., Any], status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _wsgi_app(
    inner: Callable[..., Any], gate: _Gate, keeper: _StateKeeper, stop: threading.Event
) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith(CONTROL_PREFIX) and environ.get("REQUEST_METHOD") == "POST":
            action = path[len(CONTROL_PREFIX):]
            if action == "snapshot":
                keeper.save(force=True)
            elif action == "shutdown":
                stop.set()
            else:
                return _plain(start_response, "404 Not Found", b"unknown control action\n")
            return _plain(start_response, "200 OK", b"ok\n")
        with gate.request():
            if _changes_state(environ):
                keeper.dirty = True
            # moto builds whole responses: materialize them inside the gate.
            return list(inner(environ, start_response))

    return app

def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def serve(
    host: str,
    port: int,
    state_file: Path | None,
    *,
    autosave_interval: float,
    watch_stdin: bool,
    gsi_lag_s: float = 0.0,
) -> int:
    """The child process: patch, restore, serve, save. Returns the exit code."""
    if host not in _LOOPBACK:
        print(f"refusing to bind {host}: the local stack only listens on loopback", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        sock = _bind(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            _emit(f"PORT_IN_USE {host} {port}")
            return 2
        print(f"cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    from cloudchat_local._gc import settle

    moto_seam.serialize_dynamodb()
    moto_seam.server_speedups()
    moto_seam.gsi_lag(gsi_lag_s)
    moto_seam.bound_shard_iterators()
    notes: list[str] = []
    if state_file is not None:
        load_state(state_file, notes)

    settle()  # the garbage collector: see cloudchat_local._gc
    stop = threading.Event()
    gate = _Gate()
    keeper = _StateKeeper(state_file, gate)
    app = _wsgi_app(DomainDispatcherApplication(create_backend_app), gate, keeper, stop)
    from cloudchat_local.iam import IamMiddleware

    app = IamMiddleware(app)  # each function's IAM policies (loaded by POST /_cloudchat/iam)
    server = make_server(
        host, sock.getsockname()[1], app, threaded=True, request_handler=moto_seam.keep_alive_handler(),
        fd=sock.fileno(),
    )
    sock.close()  # make_server serves a duplicate of the descriptor
    bound_port = int(server.server_address[1])
    serving = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    serving.start()

    stop_on_signal(stop, watch_stdin=watch_stdin)

    for note in notes:
        _emit(f"NOTE {note}")
    _emit(f"READY {host} {bound_port}")
    # Nothing else may go to stdout: the parent stops reading it.
    sys.stdout.flush()
    sys.stdout = sys.stderr

    next_save = time.monotonic() + autosave_interval
    while not stop.wait(0.25):
        if autosave_interval > 0 and time.monotonic() >= next_save:
            try:
                keeper.save()
            except Exception:
                log.exception("autosave of the moto state failed")
            next_save = time.monotonic() + autosave_pause(autosave_interval, keeper.last_hold_s)
    server.shutdown()
    serving.join(timeout=10)
    try:
        keeper.save(force=True, final=True)
    except Exception:
        log.exception("saving the moto state failed")
        return 1
    return 0
