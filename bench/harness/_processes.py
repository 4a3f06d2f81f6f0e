"""Child processes the benchmarks start (always on 127.0.0.1, never outliving the benchmark),
and what /proc says about processes: descendants, roles, CPU seconds, resident memory."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._report import REPO, say


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM if this benchmark dies, so nothing outlives it."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    """A server process started by a benchmark."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop in {timeout:.0f} s: killing it")
            self.process.kill()
            self.process.wait(5)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(name: str, argv: list[str], log_path: Path, *, env: dict[str, str] | None = None,
          ready_line: bool = True) -> Child:
    """Starts a server in the repository's root (``python -m bench...`` finds the package); its
    stderr (and stdout, unless it announces itself on stdout with one JSON line:
    ``ready_line``) goes to ``log_path``. Its stdin is a pipe from this process, so a child
    that watches it sees the benchmark go away."""
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        argv, cwd=REPO, env=env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE if ready_line else log, stderr=log,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    log.close()
    return Child(name, process, log_path)


def read_ready_line(child: Child, timeout: float) -> dict[str, Any]:
    """The first JSON line the child prints on stdout."""
    assert child.process.stdout is not None
    deadline = time.monotonic() + timeout
    fd = child.process.stdout.fileno()
    os.set_blocking(fd, False)
    buffer = b""
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        with contextlib.suppress(BlockingIOError):
            buffer += os.read(fd, 65536)
            if b"\n" in buffer:
                return dict(json.loads(buffer.split(b"\n", 1)[0]))
        time.sleep(0.05)
    raise TimeoutError(f"{child.name} was not ready in {timeout:.0f} s:\n{child.log_tail()}")


def signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


# --------------------------------------------------------------------------- /proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (0 when unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float | None:
    """Resident memory (VmRSS) in MiB, to 0.1; None when unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(entry.name))
    return out


def descendants_of(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    found, frontier = [], [pid]
    while frontier:
        children = [c for parent in frontier for c in children_of(parent)]
        found.extend(children)
        frontier = children
    return found


#: module a local stack child runs (``python -m <module>``) -> its role
_ROLES = {
    "cloudchat_local._moto_server": "moto",
    "cloudchat_local._consumers": "stream_consumers",
    "cloudchat_local._function_worker": "function_worker",
}


def process_role(pid: int) -> str | None:
    """What a child of the local stack is, by its command line: ``moto``,
    ``stream_consumers``, ``function_worker`` or None."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return next((role for module, role in _ROLES.items() if module in command), None)
