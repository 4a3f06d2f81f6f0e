"""``python -m bench.soak``: see the package's docstring (``--help``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import soak
from bench.harness import argument_parser, emit, load_average, local_stack, machine_info, run_async, utc_now

from ._drive import drive, memory_snapshot
from ._run import Params, say


def run(params: Params) -> dict[str, Any]:
    """Starts a local stack, runs the soak against it and returns the report (``ok``: every
    invariant held)."""
    report: dict[str, Any] = {
        "benchmark": "load and soak",
        "started_at": utc_now(),
        "machine": machine_info(),
        "parameters": asdict(params),
    }
    with tempfile.TemporaryDirectory(prefix="cloudchat-soak-") as tmp:
        started = time.perf_counter()
        with local_stack(Path(tmp)) as (child, outputs):
            up_s = time.perf_counter() - started
            pid = child.process.pid
            say(f"local stack up in {up_s:.1f} s ({outputs['GraphQLApiUrl']})")
            memory_start = memory_snapshot(pid)
            try:
                body = run_async(drive(params, outputs, pid), params.time_limit)
            except BaseException:
                say("local stack log tail:\n" + child.log_tail(30))
                raise
            body["memory_mb"] = {"start": memory_start, **body["memory_mb"]}
            state_file = Path(str(outputs["StateDir"])) / "moto-state.pickle"
            with contextlib.suppress(OSError):  # moto saves every 5 s after a change
                body["memory_mb"]["moto_state_file_mb"] = round(state_file.stat().st_size / 2**20, 1)
            body["setup"]["stack_startup_s"] = round(up_s, 2)
            stop_at = time.perf_counter()
        body["stack_stop_s"] = round(time.perf_counter() - stop_at, 2)
    report.update(body)
    report["machine"]["load_average_at_end"] = load_average()
    report["ok"] = all(report["invariants"].values())
    report["failed_invariants"] = [k for k, v in report["invariants"].items() if not v]
    return report


def _parser() -> argparse.ArgumentParser:
    d = Params()
    parser = argument_parser("bench.soak", soak.__doc__)
    parser.add_argument("--users", type=int, default=d.users)
    parser.add_argument("--conversations", type=int, default=d.conversations)
    parser.add_argument("--duration", type=float, default=d.duration,
                        help=f"seconds of sending at most (default {d.duration:.0f})")
    parser.add_argument("--max-messages", type=int, default=d.max_messages,
                        help=f"messages at most (default {d.max_messages})")
    parser.add_argument("--storms", type=int, default=d.storms, help="reconnect storms during the send phase")
    parser.add_argument("--storm-fraction", type=float, default=d.storm_fraction,
                        help="share of the WebSockets each storm drops")
    parser.add_argument("--senders", type=int, default=d.senders, help="concurrent senders")
    parser.add_argument("--retry-fraction", type=float, default=d.retry_fraction,
                        help="share of sends that are retried (three kinds, equal shares)")
    parser.add_argument("--max-group", type=int, default=d.max_group, help="members of the largest group")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--inbox-watchers", type=int, default=d.inbox_watchers,
                        help="users who also subscribe to onUserEvent (stream consumer fan-out)")
    parser.add_argument("--inbox-wait", type=float, default=d.inbox_wait,
                        help="seconds to wait for that fan-out after the sends, at most")
    parser.add_argument("--time-limit", type=float, default=d.time_limit,
                        help="the whole run, in seconds, after the stack is up")
    parser.add_argument("--output", type=Path, help="also write the JSON document here")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not (2 <= args.users <= 500 and 1 <= args.conversations <= 200):
        parser.error("--users must be 2..500 and --conversations 1..200")
    if not (1 <= args.max_messages <= 100_000 and 0 < args.duration <= 3600):
        parser.error("--max-messages must be 1..100000 and --duration 0..3600")
    if not (0 <= args.storms <= 100 and 0 < args.storm_fraction <= 1 and 1 <= args.senders <= 64):
        parser.error("--storms 0..100, --storm-fraction (0, 1], --senders 1..64")
    if not (0 <= args.retry_fraction <= 1 and args.max_group >= 3):
        parser.error("--retry-fraction 0..1 and --max-group >= 3")
    params = Params(users=args.users, conversations=args.conversations, duration=args.duration,
                    max_messages=args.max_messages, storms=args.storms,
                    storm_fraction=args.storm_fraction, senders=args.senders,
                    retry_fraction=args.retry_fraction, max_group=args.max_group, seed=args.seed,
                    inbox_watchers=args.inbox_watchers, inbox_wait=args.inbox_wait,
                    time_limit=args.time_limit)
    os.environ.pop("AWS_PROFILE", None)
    report = run(params)
    emit(report, args.output)
    if not report["ok"]:
        say("FAILED invariants: " + ", ".join(report["failed_invariants"]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
