"""moto in server mode, in its own process, with the local stack's patches and its state on disk.

Run by :mod:`cloudchat_local.dev` (never by hand, though it works)::

    python -m cloudchat_local._moto_server --port 0 --state-file .cloudchat/state/moto-state.pickle \\
        --watch-stdin

* :func:`~cloudchat_local.moto_patches.serialize_dynamodb` is applied in *this* process, where
  the DynamoDB backend lives (atomic, isolated transactions), and
  :func:`~cloudchat_local.moto_patches.server_speedups` (answers without moto's slow generic
  serializer, partition-only queries), and :func:`~cloudchat_local.moto_patches.gsi_lag`
  with ``--gsi-lag`` (global secondary index reads lag the table, as on AWS).
* **State** (moto 5.2.5 has no persistence of its own): on startup the backends pickled in
  ``--state-file`` are put back into moto's backend registries before the first request; on
  shutdown, and every ``--autosave-interval`` seconds after a write (longer once snapshots get
  slow: never more than ~5 % of the time held; see ``autosave_pause``), every backend (DynamoDB,
  KMS, Cognito, Secrets Manager, S3, SNS, IAM, STS ...) is pickled again into that file, in one
  pickle so that objects shared between backends stay shared. Requests are held at a gate
  while a snapshot is taken, so a snapshot never sees half a request. Private keys (KMS
  asymmetric keys, Cognito's signing key) are pickled as PEM, locks (SQS) as new locks. DynamoDB Streams shard
  iterators are not kept (they expire in 15 minutes on AWS anyway); stream records older
  than 24 hours are dropped on startup, as DynamoDB Streams would.
  A file that cannot be read back is moved aside (``*.unreadable-<time>``), never deleted.
* Only ``127.0.0.1``/``localhost``/``::1`` can be bound.

Protocol with the parent: exactly one line on stdout, then nothing more::

    READY <host> <port>        serving
    PORT_IN_USE <host> <port>  the port is taken (exit code 2)
    NOTE <text>                zero or more lines before READY: things the user should know

The server runs until SIGTERM/SIGINT, until its stdin reaches end of file (``--watch-stdin``:
the parent closed it, or died), or until ``POST /_cloudchat/shutdown``; then it saves its
state and exits 0. ``POST /_cloudchat/snapshot`` saves the state now (200 when done).
Requests signed with a template function's access key are checked against its IAM policies
(:class:`cloudchat_local.iam.IamMiddleware`; ``POST /_cloudchat/iam`` loads them).

:class:`MotoProcess` is the parent's side: it starts this module, waits for ``READY`` and
stops it (closing stdin, then SIGTERM, then SIGKILL as a last resort).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import errno
import io
import logging
import os
import pickle
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from cloudchat_local._runtime import stop_child, stop_on_signal, terminate
from cloudchat_local.errors import MotoStartError, PortInUse

__all__ = [
    "MotoProcess",
    "MotoStartError",
    "load_state",
    "save_state",
    "snapshot_bytes",
]

STATE_FORMAT: Final = 1
STREAM_RETENTION: Final = dt.timedelta(hours=24)
MAX_SHARD_ITERATORS: Final = 2_000
CONTROL_PREFIX: Final = "/_cloudchat/"
_LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")
# Operations that never change moto's state: they do not make a snapshot necessary.
_READ_ONLY: Final = re.compile(r"^(Get|Describe|List|Query|Scan|BatchGet|Head)")

log = logging.getLogger("cloudchat_local.moto")


# =========================================================================== state (child)


def _private_key_types() -> tuple[type, ...]:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

    return (
        rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, dsa.DSAPrivateKey, ed25519.Ed25519PrivateKey,
        ed448.Ed448PrivateKey, x25519.X25519PrivateKey, x448.X448PrivateKey,
    )


def _public_key_types() -> tuple[type, ...]:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

    return (
        rsa.RSAPublicKey, ec.EllipticCurvePublicKey, dsa.DSAPublicKey, ed25519.Ed25519PublicKey,
        ed448.Ed448PublicKey, x25519.X25519PublicKey, x448.X448PublicKey,
    )


def _load_private_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem, password=None)


def _load_public_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_public_key(pem)


_RLOCK_TYPE: Final = type(threading.RLock())
_LOCK_TYPES: Final = (type(threading.Lock()), _RLOCK_TYPE)


def _new_lock(reentrant: bool) -> Any:
    return threading.RLock() if reentrant else threading.Lock()


class _StatePickler(pickle.Pickler):
    """A pickler that stores ``cryptography`` keys (unpicklable Rust objects) as PEM."""

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._private = _private_key_types()
        self._public = _public_key_types()

    def reducer_override(self, obj: Any) -> Any:
        from cryptography.hazmat.primitives import serialization

        # Locks (SQS queues hold some) come back new and unlocked: nothing runs while saving.
        if isinstance(obj, _LOCK_TYPES):
            return _new_lock, (isinstance(obj, _RLOCK_TYPE),)
        if isinstance(obj, self._private):
            key: Any = obj
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return _load_private_key, (pem,)
        if isinstance(obj, self._public):
            public: Any = obj
            pem = public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return _load_public_key, (pem,)
        return NotImplemented


def _dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    _StatePickler(buffer).dump(obj)
    return buffer.getvalue()


def _excluded(backend_dict: Any) -> bool:
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    # Shard iterators only: the stream records themselves live in the DynamoDB tables.
    return bool(backend_dict.backend is DynamoDBStreamsBackend)


def _registries() -> Iterator[tuple[tuple[str, str], Any]]:
    """Every moto backend registry in use: ((module, class name), BackendDict)."""
    from moto.core.base_backend import BackendDict

    instances: list[Any] = list(BackendDict._instances)  # type: ignore[misc]
    for backend_dict in instances:
        if _excluded(backend_dict):
            continue
        cls = backend_dict.backend
        yield (cls.__module__, cls.__qualname__), backend_dict


def _collect() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    return {
        key: {account: dict(regions.items()) for account, regions in backend_dict.items()}
        for key, backend_dict in _registries()
    }


def snapshot_bytes(notes: list[str] | None = None) -> bytes:
    """moto's current state as bytes. Backends that cannot be pickled are left out (noted)."""
    import moto

    backends = _collect()
    document = {
        "format": STATE_FORMAT,
        "moto_version": moto.__version__,
        "saved_at": dt.datetime.now(dt.UTC).isoformat(),
        "backends": backends,
    }
    try:
        return _dumps(document)
    except Exception:  # noqa: S110 - narrowed down below, one registry at a time
        pass
    for key in list(backends):
        try:
            _dumps(backends[key])
        except Exception as exc:
            del backends[key]
            message = f"moto state of {key[0]}.{key[1]} is not saved: {exc}"
            log.warning(message)
            if notes is not None:
                notes.append(message)
    return _dumps(document)


def save_state(path: Path, notes: list[str] | None = None) -> int:
    """Writes the snapshot atomically (temporary file, then rename); returns its size."""
    data = snapshot_bytes(notes)
    _write_atomic(path, data)
    return len(data)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _registry_for(module_name: str, class_name: str) -> Any:
    import importlib

    from moto.core.base_backend import BackendDict

    module = importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    for value in vars(module).values():
        if isinstance(value, BackendDict) and (cls is None or value.backend is cls):
            return value
    # Registries usually live in the backend's own ``models`` module; search its package.
    package = module_name.rsplit(".", 1)[0]
    for candidate in (f"{package}.models", package):
        with contextlib.suppress(ImportError):
            for value in vars(importlib.import_module(candidate)).values():
                if isinstance(value, BackendDict) and value.backend is cls:
                    return value
    raise LookupError(f"no moto backend registry for {module_name}.{class_name}")


def load_state(path: Path, notes: list[str] | None = None) -> bool:
    """Puts the backends saved in ``path`` back into moto. False when there is no file.

    A file that cannot be read back is renamed ``<name>.unreadable-<time>`` (kept for the
    user), and moto starts empty; the reason is added to ``notes``.
    """
    import moto

    if not path.is_file():
        return False
    try:
        with open(path, "rb") as handle:
            document = pickle.load(handle)  # noqa: S301 - our own file, written by save_state
        if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
            raise ValueError("not a CloudChat moto state file (or an older format)")
        restored: list[tuple[Any, str, str, Any]] = []
        for (module_name, class_name), accounts in document["backends"].items():
            registry = _registry_for(module_name, class_name)
            for account, regions in accounts.items():
                for region, backend in regions.items():
                    restored.append((registry, account, region, backend))
    except Exception as exc:
        aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, aside)
        message = (
            f"could not restore the saved AWS state ({exc}); it was moved to {aside} and the "
            "local stack starts empty"
        )
        log.warning(message)
        if notes is not None:
            notes.append(message)
        return False
    for registry, account, region, backend in restored:
        dict.__setitem__(registry[account], region, backend)
    saved_by = document.get("moto_version")
    if saved_by != moto.__version__ and notes is not None:
        notes.append(f"state saved by moto {saved_by}, restored into moto {moto.__version__}")
    trim_stream_records(STREAM_RETENTION)
    return True


def trim_stream_records(retention: dt.timedelta) -> int:
    """Drops DynamoDB stream records older than ``retention`` (DynamoDB keeps 24 hours).

    moto numbers a shard's records from ``starting_sequence_number`` by list position, so the
    start moves up by the number dropped and every remaining sequence number stays valid.
    """
    from moto.dynamodb.models import dynamodb_backends

    cutoff = dt.datetime.now(dt.UTC) - retention
    dropped = 0
    for regions in dynamodb_backends.values():
        for backend in regions.values():
            for table in backend.tables.values():
                shard = getattr(table, "stream_shard", None)
                if shard is None:
                    continue
                keep_from = 0
                for index, record in enumerate(shard.items):
                    created = record.record["dynamodb"].get("ApproximateCreationDateTime")
                    if isinstance(created, dt.datetime):
                        aware = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
                        if aware < cutoff:
                            keep_from = index + 1
                            continue
                    break
                if keep_from:
                    shard.items = shard.items[keep_from:]
                    shard.starting_sequence_number += keep_from
                    dropped += keep_from
    return dropped


def bound_shard_iterators(limit: int = MAX_SHARD_ITERATORS) -> None:
    """moto keeps every shard iterator it ever handed out (each GetRecords makes one): keep
    the newest ``limit``, so a long-running stream poller does not grow moto without bound."""
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    original = DynamoDBStreamsBackend.get_records
    if getattr(original, "_cloudchat_bounded", False):
        return

    def get_records(self: Any, iterator_arn: str, limit_: int) -> Any:
        result = original(self, iterator_arn, limit_)
        iterators = self.shard_iterators
        excess = len(iterators) - limit
        if excess > 0:
            for key in list(iterators)[:excess]:
                iterators.pop(key, None)
        return result

    get_records._cloudchat_bounded = True  # type: ignore[attr-defined]
    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign,assignment]


# =========================================================================== server (child)


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
            _write_atomic(self.path, data)
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


#: How long a keep-alive connection may stay idle before the server closes it (and its thread
#: ends). Clients check a pooled connection before reusing it, and retry if it was closed.
IDLE_TIMEOUT_S: Final = 75.0
_NO_BODY_STATUS: Final = frozenset({204, 304})


def _keep_alive_handler() -> type:
    """moto's request handler answering HTTP/1.1 with keep-alive.

    werkzeug's handler closes the connection after every request (its ``run_wsgi`` always
    sends ``Connection: close`` and then drains the socket), so every AWS call from the local
    stack paid for a new TCP connection and the server for a new thread. This one reads the
    request body exactly (``Content-Length`` or chunked), runs the app, and answers with a
    ``Content-Length`` in one write, so the connection can carry the next request. It closes
    the connection when the client asks to, after an error, or after ``IDLE_TIMEOUT_S`` idle.
    """
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    _werkzeug_log = logging.getLogger("werkzeug")

    class KeepAliveHandler(MotoRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = IDLE_TIMEOUT_S

        def run_wsgi(self) -> None:
            environ = self.environ = self.make_environ()
            if environ.get("wsgi.input_terminated"):  # chunked: read to its last chunk
                body = environ["wsgi.input"].read()
            else:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                if len(body) < length:  # the client went away mid-body
                    self.close_connection = True
                    return
            environ["wsgi.input"] = io.BytesIO(body)
            status, headers, chunks = self._call_app(environ)
            code = int(status.split(None, 1)[0])
            payload = b"".join(chunks)
            lines = [f"{self.protocol_version} {status}", f"Server: {self.version_string()}",
                     f"Date: {self.date_time_string()}"]
            length_sent = None
            for key, value in headers:
                lower = key.lower()
                if lower in ("connection", "transfer-encoding"):
                    continue
                if lower == "content-length":
                    length_sent = value
                lines.append(f"{key}: {value}")
            if code < 200 or code in _NO_BODY_STATUS:
                payload = b""
            elif self.command == "HEAD":
                payload = b""  # moto sets the object's Content-Length itself
            elif length_sent is None:
                lines.append(f"Content-Length: {len(payload)}")
            elif length_sent.strip() != str(len(payload)):
                self.close_connection = True  # the length is the app's: end the body by closing
            if self.close_connection:
                lines.append("Connection: close")
            elif self.request_version == "HTTP/1.0":
                lines.append("Connection: keep-alive")
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")
            self.wfile.write(head + payload)
            if _werkzeug_log.isEnabledFor(logging.INFO):  # (werkzeug's access log)
                self.log_request(code, len(payload))

        def _call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], list[bytes]]:
            started: list[Any] = []
            written: list[bytes] = []

            def start_response(status: str, headers: list[tuple[str, str]],
                               exc_info: Any = None) -> Callable[[bytes], None]:
                started[:] = [status, headers]
                return written.append

            try:
                result = self.server.app(environ, start_response)
                try:
                    written.extend(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
                if not started:
                    raise RuntimeError("the application did not call start_response")
            except Exception:
                log.exception("moto failed on %s %s", self.command, self.path)
                self.close_connection = True
                body = b"Internal Server Error\n"
                return ("500 Internal Server Error",
                        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))], [body])
            return started[0], started[1], written

        def log_error(self, format: str, *args: Any) -> None:
            if format.startswith("Request timed out"):
                return  # an idle keep-alive connection expired: nothing went wrong
            super().log_error(format, *args)  # werkzeug's "werkzeug" logger

    return KeepAliveHandler


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
    from cloudchat_local.moto_patches import gsi_lag, serialize_dynamodb, server_speedups

    serialize_dynamodb()
    server_speedups()
    gsi_lag(gsi_lag_s)
    bound_shard_iterators()
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
        host, sock.getsockname()[1], app, threaded=True, request_handler=_keep_alive_handler(),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloudchat_local._moto_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state-file", type=Path, default=None)
    parser.add_argument("--autosave-interval", type=float, default=5.0,
                        help="seconds between saves after a change (0: only on shutdown)")
    parser.add_argument("--watch-stdin", action="store_true",
                        help="shut down (saving state) when stdin reaches end of file")
    parser.add_argument("--gsi-lag", type=float, default=0.0,
                        help="seconds global secondary index reads lag the table (0: none)")
    args = parser.parse_args(argv)
    return serve(args.host, args.port, args.state_file,
                 autosave_interval=args.autosave_interval, watch_stdin=args.watch_stdin,
                 gsi_lag_s=args.gsi_lag)


# =========================================================================== parent side


@dataclass
class MotoProcess:
    """A running ``_moto_server`` child process (see :meth:`start`)."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path | None
    notes: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @classmethod
    def start(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: Path | None = None,
        log_path: Path | None = None,
        autosave_interval: float = 5.0,
        timeout: float = 60.0,
        python: str = sys.executable,
        gsi_lag_s: float = 0.0,
    ) -> MotoProcess:
        """Starts the server; returns once it serves. PortInUse if ``port`` is taken."""
        command = [python, "-m", "cloudchat_local._moto_server", "--host", host, "--port", str(port),
                   "--autosave-interval", str(autosave_interval), "--watch-stdin",
                   "--gsi-lag", repr(float(gsi_lag_s))]
        if state_file is not None:
            command += ["--state-file", str(state_file)]
        log_file: IO[bytes] | int = subprocess.DEVNULL
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = open(log_path, "wb")  # noqa: SIM115 - handed to the child
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        try:
            process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                env=env,
                start_new_session=True,  # Ctrl-C reaches the parent only; it stops us in order
            )
        finally:
            if not isinstance(log_file, int):
                log_file.close()
        lines: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout

        def read() -> None:
            for raw in stdout:
                lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
            lines.put(None)

        threading.Thread(target=read, name="moto-stdout", daemon=True).start()
        notes: list[str] = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise MotoStartError(f"moto did not start within {timeout:.0f} s"
                                         + _log_hint(log_path))
                try:
                    line = lines.get(timeout=remaining)
                except queue.Empty:
                    continue
                if line is None:
                    code = process.wait(timeout=10)
                    raise MotoStartError(f"moto exited with code {code} while starting"
                                         + _log_hint(log_path))
                word, _, rest = line.partition(" ")
                if word == "NOTE":
                    notes.append(rest)
                elif word == "PORT_IN_USE":
                    process.wait(timeout=10)
                    raise PortInUse(port, "moto", host=host)
                elif word == "READY":
                    bound = int(rest.rsplit(" ", 1)[-1])
                    return cls(process, host, bound, log_path, tuple(notes))
        except BaseException:
            terminate(process)
            raise

    def alive(self) -> bool:
        return self.process.poll() is None

    def snapshot(self, timeout: float = 30.0) -> None:
        """Asks the server to save its state now; returns when it is on disk."""
        self._control("snapshot", timeout)

    def _control(self, action: str, timeout: float) -> None:
        request = urllib.request.Request(  # noqa: S310 - our loopback endpoint
            f"{self.endpoint}{CONTROL_PREFIX}{action}", data=b"", method="POST"
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
            response.read()

    def stop(self, timeout: float = 30.0) -> int | None:
        """Graceful stop (the server saves its state); SIGKILL only if it hangs."""
        return stop_child(self.process, timeout)


def _log_hint(log_path: Path | None) -> str:
    if log_path is None or not log_path.is_file():
        return ""
    tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
    return f" (log: {log_path}){': ' + ' | '.join(tail) if tail else ''}"


if __name__ == "__main__":
    sys.exit(main())
