"""moto in server mode, in its own process, with the local stack's patches and its state on disk.

Run by :mod:`cloudchat_local.dev` (never by hand, though it works)::

    python -m cloudchat_local._moto_server --port 0 --state-file .cloudchat/state/moto-state.pickle \\
        --watch-stdin

The child's side is :mod:`cloudchat_local._moto_serve` (moto patched through
:mod:`cloudchat_local.moto`, the only module that touches moto's internals; its state file is
:mod:`cloudchat_local._moto_state`: backends restored on startup, saved on shutdown and after
writes; a file that cannot be read back is moved aside, never deleted).

Protocol with the parent: exactly one line on stdout, then nothing more::

    READY <host> <port>        serving
    PORT_IN_USE <host> <port>  the port is taken (exit code 2)
    NOTE <text>                zero or more lines before READY: things the user should know

The server runs until SIGTERM/SIGINT, until its stdin reaches end of file (``--watch-stdin``:
the parent closed it, or died), or until ``POST /_cloudchat/shutdown``; then it saves its
state and exits 0. ``POST /_cloudchat/snapshot`` saves the state now (200 when done).

:class:`MotoProcess` is the parent's side: it starts this module, waits for ``READY`` and
stops it (closing stdin, then SIGTERM, then SIGKILL as a last resort).
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cloudchat_local._moto_serve import CONTROL_PREFIX
from cloudchat_local._runtime import stop_child, terminate
from cloudchat_local.errors import MotoStartError, PortInUse

__all__ = [
    "MotoProcess",
    "MotoStartError",
]


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
    from cloudchat_local._moto_serve import serve

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
