"""``--profile``: the full and engine modes' server processes run under cProfile, every thread,
for the measured phase only (``_profiling/sitecustomize.py``, loaded through ``PYTHONPATH``;
started by SIGUSR1, written by SIGUSR2), and the hotspot report of their files."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from bench.harness import SCRATCH, signal_all

from ._profiling.report import profile_report
from ._workload import Target

SITECUSTOMIZE_DIR = Path(__file__).resolve().parent / "_profiling"


def server_env(work: Path, profile: bool) -> dict[str, str]:
    """The environment of a server process; with ``profile``, _profiling/sitecustomize.py runs
    cProfile in each of its threads (and in its Python children: moto)."""
    env = dict(os.environ)
    if profile:
        (work / "profile").mkdir(exist_ok=True)
        env["CLOUDCHAT_BENCH_PROFILE_DIR"] = str(work / "profile")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SITECUSTOMIZE_DIR), env.get("PYTHONPATH")) if p)
    return env


def attach_profiler(target: Target, pids: dict[str, int]) -> None:
    """The measured phase starts and ends the profiles of these processes."""
    target.on_measure_start = lambda: signal_all(list(pids.values()), signal.SIGUSR1)
    target.on_measure_end = lambda: signal_all(list(pids.values()), signal.SIGUSR2)


def collect_profile(work: Path, mode: str, pids: dict[str, int]) -> dict[str, Any]:
    """The hotspot report; the raw files are kept in bench/.scratch/last-profile/<mode>/."""
    folder = work / "profile"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all((folder / f"{pid}.json").exists() for pid in pids.values()):
        time.sleep(0.2)
    report = profile_report(folder, pids)
    kept = SCRATCH / "last-profile" / mode
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(folder, kept)
    report["raw_files"] = str(kept)
    return report
