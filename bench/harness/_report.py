"""What every benchmark's JSON document carries besides its figures: the machine it ran on
(cores, load, Python, commit) and the time, and how the document is printed."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]
REPO = BENCH.parent
#: npm installs and profiles: gitignored (bench/.gitignore), never committed
SCRATCH = BENCH / ".scratch"


def say(text: str, tag: str = "bench") -> None:
    """Progress, on stderr (stdout is the JSON document's)."""
    print(f"[{tag}] {text}", file=sys.stderr, flush=True)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def load_average() -> list[float] | None:
    """1/5/15-minute load averages: other work on the machine skews every number here."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def node_version() -> str | None:
    if shutil.which("node") is None:
        return None
    try:
        done = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10)
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def commit() -> str | None:
    """The repository's commit (short hash, ``-dirty`` with uncommitted changes), or None."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


def machine_info() -> dict[str, Any]:
    model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model,
        "memory_gib": mem,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "node": node_version(),
        "client_event_loop": loop,
        "commit": commit(),
        "load_average_at_start": load_average(),
    }


def argument_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of ``python -m <module>``, described by the first paragraph of ``doc``."""
    return argparse.ArgumentParser(prog=f"python -m {module}", description=(doc or "").split("\n\n", 1)[0])


def emit(document: dict[str, Any], output: Path | None = None, *, indent: int = 2) -> str:
    """Prints the document as JSON on stdout (and writes it to ``output`` too); returns the text."""
    text = json.dumps(document, indent=indent)
    print(text)
    if output is not None:
        output.write_text(text + "\n")
    return text
