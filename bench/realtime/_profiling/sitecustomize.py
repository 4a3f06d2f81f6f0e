"""cProfile for every thread of every Python process of the local stack (bench --profile).

``python -m bench.realtime --profile`` puts this directory on PYTHONPATH and sets
CLOUDCHAT_BENCH_PROFILE_DIR when it starts ``python -m cloudchat_local.dev`` (and the echo
server); the environment is inherited
by the moto server process, so both processes load this at startup (Python imports
``sitecustomize`` by itself). Nothing happens without that variable.

Each thread runs under its own ``cProfile.Profile`` (the main thread too). A thread that
ends folds its numbers into a per-process total (werkzeug serves each moto request on a new
thread). ``SIGUSR1`` takes a snapshot (the start of the measured phase); ``SIGUSR2`` takes
another and writes the difference to ``$CLOUDCHAT_BENCH_PROFILE_DIR/<pid>.json``:
``{"argv", "threads", "entries": [[file, line, function, calls, self_s, cumulative_s]]}``.
"""

from __future__ import annotations

import os

_DIR = os.environ.get("CLOUDCHAT_BENCH_PROFILE_DIR", "")

if _DIR:
    import cProfile
    import json
    import signal
    import sys
    import threading
    from typing import Any

    _lock = threading.Lock()
    _live: list[cProfile.Profile] = []
    _done: dict[tuple[str, int, str], list[float]] = {}
    _threads = [0]
    _start: dict[tuple[str, int, str], list[float]] = {}

    def _key(code: Any) -> tuple[str, int, str]:
        if isinstance(code, str):
            return ("~", 0, code)
        return (code.co_filename, code.co_firstlineno, code.co_name)

    def _fold(into: dict[tuple[str, int, str], list[float]], profile: cProfile.Profile) -> None:
        for entry in profile.getstats():
            row = into.setdefault(_key(entry.code), [0.0, 0.0, 0.0])
            row[0] += entry.callcount
            row[1] += entry.inlinetime
            row[2] += entry.totaltime

    def _snapshot() -> dict[tuple[str, int, str], list[float]]:
        with _lock:
            total = {k: list(v) for k, v in _done.items()}
            live = list(_live)
        for profile in live:
            _fold(total, profile)
        return total

    _original_run = threading.Thread.run

    def _profiled_run(self: threading.Thread) -> None:
        profile = cProfile.Profile()
        with _lock:
            _live.append(profile)
            _threads[0] += 1
        profile.enable()
        try:
            _original_run(self)
        finally:
            profile.disable()
            with _lock:
                _live.remove(profile)
                _fold(_done, profile)

    threading.Thread.run = _profiled_run  # type: ignore[method-assign]

    def _on_start(_signum: int, _frame: Any) -> None:
        global _start
        _start = _snapshot()

    def _on_stop(_signum: int, _frame: Any) -> None:
        end = _snapshot()
        entries = []
        for key, (calls, self_s, cum_s) in end.items():
            base = _start.get(key, [0.0, 0.0, 0.0])
            d_calls, d_self, d_cum = calls - base[0], self_s - base[1], cum_s - base[2]
            if d_calls > 0 or d_self > 1e-4:
                entries.append([key[0], key[1], key[2], int(d_calls), round(d_self, 6), round(d_cum, 6)])
        path = os.path.join(_DIR, f"{os.getpid()}.json")
        with open(path + ".tmp", "w") as handle:
            json.dump({"argv": sys.argv, "threads": _threads[0], "entries": entries}, handle)
        os.replace(path + ".tmp", path)

    signal.signal(signal.SIGUSR1, _on_start)
    signal.signal(signal.SIGUSR2, _on_stop)
    _main_profile = cProfile.Profile()
    _live.append(_main_profile)
    _main_profile.enable()
