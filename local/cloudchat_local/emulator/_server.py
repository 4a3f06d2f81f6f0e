"""Running the emulator: bind 127.0.0.1 (HTTP, and optionally HTTPS), serve, stop.

* :func:`start` — async context manager for code that already runs an event loop.
* :func:`run_in_thread` — the same on a background thread (tests, glue code).
* :func:`serve` — blocking, until SIGINT/SIGTERM (the ``make dev`` entry point).

Ports are bound before serving, so a busy port raises :class:`~cloudchat_local.errors.PortInUse` at once, and
port 0 reports the port actually bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from cloudchat_local.errors import EmulatorError, PortInUse

from ._config import EmulatorConfig
from ._execute import Engine
from ._tls import ensure_self_signed_cert
from .app import create_app

#: Seconds an idle HTTP keep-alive connection stays open. uvicorn's default (5 s) is shorter
#: than common clients' pools (aiohttp keeps idle connections 15 s): a request sent on a pooled
#: connection just as the server closes it fails with "Server disconnected" / "Connection
#: reset by peer" (bench.soak saw 2 in 3,000 sends). Longer than the clients' timeouts,
#: the client always closes first.
KEEP_ALIVE_S = 75


@dataclass(frozen=True)
class RunningEmulator:
    """A started emulator: where it listens, and its engine."""

    host: str
    http_port: int
    https_port: int | None
    cert_path: Path | None
    engine: Engine

    @property
    def graphql_url(self) -> str:
        return f"http://{self._host_for_url}:{self.http_port}/graphql"

    @property
    def realtime_url(self) -> str:
        return f"ws://{self._host_for_url}:{self.http_port}/graphql/realtime"

    @property
    def https_graphql_url(self) -> str | None:
        if self.https_port is None:
            return None
        return f"https://{self._host_for_url}:{self.https_port}/graphql"

    @property
    def wss_realtime_url(self) -> str | None:
        if self.https_port is None:
            return None
        return f"wss://{self._host_for_url}:{self.https_port}/graphql/realtime"

    @property
    def _host_for_url(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def wait_for_subscriptions(
        self,
        count: int,
        *,
        field: str | None = None,
        arguments: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> bool:
        """Blocks until ``count`` subscriptions (on ``field``, started with exactly
        ``arguments``) are active; thread-safe. For tests that must not race a mutation
        against a subscription's registration."""
        return self.engine.broker.wait_for(count, field, timeout, arguments)


def bind_socket(host: str, port: int, owner: str = "GraphQL API") -> socket.socket:
    """A listening TCP socket on ``host:port`` (raises :class:`PortInUse`, naming ``owner``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio disables Nagle (TCP_NODELAY) on accepted connections
    # only for sockets that say they are TCP; with Nagle on, keep-alive requests wait ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(port, owner, host=host) from exc
        raise EmulatorError(f"cannot listen on {host}:{port}: {exc}") from exc
    sock.setblocking(False)
    return sock


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that reports when it is serving and leaves signals alone."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.serving = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.serving.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _serve_on(server: _EmbeddedServer, sock: socket.socket) -> asyncio.Task[None]:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    waiter = asyncio.create_task(server.serving.wait())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        exc = task.exception()
        raise EmulatorError(f"the server did not start: {exc!r}")
    return task


async def _stop(server: _EmbeddedServer, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=5.0)
    except TimeoutError:
        server.force_exit = True
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=2.0)


@contextlib.asynccontextmanager
async def start(config: EmulatorConfig) -> AsyncIterator[RunningEmulator]:
    """Serves ``config`` on the running loop until the block exits."""
    engine = Engine(config)
    app = create_app(config, engine=engine)
    sockets: list[socket.socket] = []
    servers: list[tuple[_EmbeddedServer, asyncio.Task[None]]] = []
    try:
        http_sock = bind_socket(config.host, config.port)
        sockets.append(http_sock)
        tls_sock = None
        cert_path = None
        ssl_args: dict[str, Any] = {}
        if config.tls_port is not None:
            assert config.state_dir is not None
            files = ensure_self_signed_cert(config.state_dir)
            cert_path = files.cert_path
            ssl_args = {"ssl_certfile": str(files.cert_path), "ssl_keyfile": str(files.key_path)}
            tls_sock = bind_socket(config.host, config.tls_port, "GraphQL API over TLS")
            sockets.append(tls_sock)
        for sock, extra in ((http_sock, {}), (tls_sock, ssl_args)):
            if sock is None:
                continue
            server = _EmbeddedServer(
                uvicorn.Config(
                    app,
                    lifespan="off",
                    log_level=config.log_level,
                    access_log=False,
                    server_header=False,
                    timeout_keep_alive=KEEP_ALIVE_S,
                    timeout_graceful_shutdown=2,
                    **extra,
                )
            )
            servers.append((server, await _serve_on(server, sock)))
        yield RunningEmulator(
            host=config.host,
            http_port=http_sock.getsockname()[1],
            https_port=tls_sock.getsockname()[1] if tls_sock is not None else None,
            cert_path=cert_path,
            engine=engine,
        )
    finally:
        for server, task in servers:
            await _stop(server, task)
        for sock in sockets:
            sock.close()
        engine.close()


@contextlib.contextmanager
def run_in_thread(config: EmulatorConfig, *, timeout: float = 30.0) -> Iterator[RunningEmulator]:
    """Serves ``config`` from a background thread with its own loop until the block exits."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    def main() -> None:
        async def body() -> None:
            stop = asyncio.Event()
            state["loop"] = asyncio.get_running_loop()
            state["stop"] = stop
            try:
                async with start(config) as running:
                    state["running"] = running
                    ready.set()
                    await stop.wait()
            except BaseException as exc:
                state["error"] = exc
                ready.set()

        asyncio.run(body())

    thread = threading.Thread(target=main, name="appsync-emulator", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise EmulatorError("the emulator did not start in time")
    if "error" in state:
        thread.join(timeout)
        raise state["error"]
    try:
        yield state["running"]
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(timeout)


def serve(config: EmulatorConfig, *, on_ready: Callable[[RunningEmulator], None] | None = None) -> None:
    """Serves until SIGINT/SIGTERM. ``on_ready`` is called once listening (default: print)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        async with start(config) as running:
            (on_ready or _print_ready)(running)
            await stop.wait()

    asyncio.run(main())


def _print_ready(running: RunningEmulator) -> None:
    print(f"AppSync emulator: {running.graphql_url}  (GraphiQL: open it in a browser)")
    print(f"  real-time:      {running.realtime_url}")
    if running.https_graphql_url:
        print(f"  https:          {running.https_graphql_url}")
        print(f"  wss:            {running.wss_realtime_url}")
        print(f"  certificate:    {running.cert_path}")
