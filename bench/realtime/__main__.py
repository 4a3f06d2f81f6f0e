"""``python -m bench.realtime``: see the package's docstring (``--help``)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import realtime
from bench.harness import argument_parser, emit, load_average, machine_info, ratio, say, utc_now

from ._modes import SENDS_PER_USER, mode_engine, mode_full, mode_simulator


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser("bench.realtime", realtime.__doc__)
    parser.add_argument("--modes", default="full,engine,simulator",
                        help="comma-separated: full, engine, simulator (default: all)")
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--time-limit", type=float, default=120.0,
                        help="seconds allowed for each mode's measured phase (default 120)")
    parser.add_argument("--profile", action="store_true",
                        help="run the full and engine modes' server processes (local stack, moto, "
                             "echo server) under cProfile and report hotspots (slows them down)")
    parser.add_argument("--output", type=Path, help="also write the JSON document here")
    parser.add_argument("--template", type=Path,
                        help="full mode: run this template.yaml (default: the repository's)")
    args = parser.parse_args(argv)
    if not (1 <= args.subscribers <= 50 and 1 <= args.messages <= 9_000):
        parser.error("--subscribers must be 1..50 and --messages 1..9000")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - {"full", "engine", "simulator"}
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")

    report: dict[str, Any] = {
        "benchmark": "realtime fan-out",
        "started_at": utc_now(),
        "machine": machine_info(),
        "workload": {
            "subscribers": args.subscribers,
            "messages": args.messages,
            "sends": "sequential (each mutation awaited before the next), over HTTP keep-alive",
            "client": "gql AIOHTTPTransport (mutations) + gql AppSyncWebsocketsTransport "
                      "(one WebSocket per subscriber), all in the benchmark process",
            "delivery_latency": "mutation send start -> subscriber's gql iterator yields it, "
                                "per (subscriber, message)",
        },
        "modes": {},
    }
    runners = {"full": mode_full, "engine": mode_engine, "simulator": mode_simulator}
    with tempfile.TemporaryDirectory(prefix="cloudchat-bench-") as tmp:
        for mode in modes:
            work = Path(tmp) / mode
            work.mkdir()
            if mode == "simulator" and (shutil.which("node") is None or shutil.which("npm") is None):
                report["modes"][mode] = {"skipped": "node/npm are not on PATH"}
                continue
            say(f"--- {mode}")
            try:
                report["modes"][mode] = runners[mode](args, work)
            except Exception as exc:
                say(f"{mode} failed: {type(exc).__name__}: {exc}")
                report["modes"][mode] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}

    report["machine"]["load_average_at_end"] = load_average()
    modes_out = report["modes"]
    engine, simulator, full = (modes_out.get(m) or {} for m in ("engine", "simulator", "full"))
    comparison: dict[str, Any] = {}
    if "mutations_per_s" in engine and "mutations_per_s" in simulator:
        comparison = {
            "throughput_ratio_engine_over_simulator": ratio(engine["mutations_per_s"],
                                                             simulator["mutations_per_s"]),
            "delivery_p99_ratio_engine_over_simulator": ratio(engine["delivery_latency_ms"]["p99"],
                                                               simulator["delivery_latency_ms"]["p99"]),
            "delivery_p50_ratio_engine_over_simulator": ratio(engine["delivery_latency_ms"]["p50"],
                                                               simulator["delivery_latency_ms"]["p50"]),
        }
        report["comparison"] = comparison
    targets: dict[str, Any] = {}
    if "mutations_per_s" in full:
        targets["full_at_least_100_msgs_per_s"] = full["mutations_per_s"] >= 100
    if comparison:
        throughput = comparison["throughput_ratio_engine_over_simulator"]
        p99 = comparison["delivery_p99_ratio_engine_over_simulator"]
        targets["engine_throughput_at_least_simulator"] = throughput is not None and throughput >= 1
        targets["engine_p99_no_worse_than_simulator"] = p99 is not None and p99 <= 1
    measured = [m for m in modes_out.values() if "lost" in m]
    if measured:
        targets["zero_lost_deliveries"] = all(m["lost"] == 0 for m in measured)
    report["targets_met"] = targets
    report["notes"] = [
        "All traffic is on 127.0.0.1. Client and servers share this machine's CPUs "
        "(full mode: benchmark client, local stack and moto are three processes).",
        "simulator quirks: it ignores subscription arguments (every onEcho subscriber gets every "
        "echo; see argument_filter_probe.non_matching_subscriber_received) and publishes the "
        "resolver result rather than the mutation's selection set. It runs with API-key auth; "
        "the engine verifies an RS256 JWT on every request and subscription start.",
        "full mode: the local stack's default 120 sendMessage/minute/user rate limit stays on; "
        f"members take turns sending, at most {SENDS_PER_USER} sends each.",
    ]
    emit(report, args.output)
    return 0 if all(("error" not in m) for m in modes_out.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
