"""``python -m bench.handler``: see the package's docstring (``--help``)."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from bench import handler as package
from bench.harness import argument_parser, emit, load_average, machine_info, say, utc_now

from ._measure import floor_clients, floor_handler, measure, profile
from ._replay import Replayer
from ._scenarios import OPERATIONS, TARGETED, record

TARGET_RATIO = 1.5


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in OPERATIONS]
    if unknown or not names:
        raise ValueError(f"unknown operations {unknown}; known: {', '.join(OPERATIONS)}")
    return names


def run(selected: list[str], *, iterations: int, warmup: int,
        profiled: str | None = None, profile_iterations: int = 200) -> dict[str, Any]:
    """The document's figures (without the machine section)."""
    from cloudchat import aws

    out: dict[str, Any] = {}
    prof = None
    # Powertools' metrics go to stdout (EMF lines, as in Lambda); stdout is the JSON's.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        ops = record(sorted({*selected, *([profiled] if profiled else [])},
                            key=list(OPERATIONS).index))
        ours = {s: aws.client(s) for s in ("dynamodb", "kms", "s3", "sns")}
        bare = floor_clients(ours)
        # A client made from here on (none should be) would talk to a closed loopback port.
        os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
        replayer = Replayer([])
        for client in [*ours.values(), *bare.values()]:
            replayer.attach(client)
        try:
            for op in ops:
                if op.name not in selected:
                    continue
                say(f"{op.name}: {warmup} + {iterations} invocations each", "handler")
                figures = measure(op, floor_handler(op, bare), replayer,
                                  iterations=iterations, warmup=warmup)
                figures["what"] = OPERATIONS[op.name]
                if op.name in TARGETED:
                    figures["meets_target"] = (figures["ratio"] is not None
                                               and figures["ratio"] <= TARGET_RATIO)
                out[op.name] = figures
            if profiled:
                say(f"{profiled}: cProfile, {profile_iterations} invocations", "handler")
                target = next(o for o in ops if o.name == profiled)
                prof = profile(target, floor_handler(target, bare), replayer,
                               iterations=profile_iterations)
        finally:
            replayer.detach()
    doc: dict[str, Any] = {"operations": out}
    targeted = [out[n]["meets_target"] for n in TARGETED if n in out]
    doc["targets_met"] = all(targeted) if targeted else None
    if prof is not None:
        doc["profile"] = prof
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser("bench.handler", package.__doc__)
    parser.add_argument("--operations", default=",".join(OPERATIONS),
                        help=f"comma-separated, of: {', '.join(OPERATIONS)} (default: all)")
    parser.add_argument("--iterations", type=int, default=300, help="measured invocations of each side")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured invocations first")
    parser.add_argument("--profile", choices=list(OPERATIONS), metavar="OPERATION",
                        help="also run this operation's handler under cProfile")
    parser.add_argument("--profile-iterations", type=int, default=200,
                        help="invocations under cProfile, of the handler and of its floor (200)")
    parser.add_argument("--output", type=Path, help="also write the JSON document here")
    args = parser.parse_args(argv)
    try:
        selected = _names(args.operations)
    except ValueError as exc:
        parser.error(str(exc))
    if args.iterations < 1 or args.warmup < 0 or args.profile_iterations < 1:
        parser.error("--iterations and --profile-iterations must be at least 1, --warmup at least 0")
    started, machine = utc_now(), machine_info()  # its load average is the one at the start
    figures = run(selected, iterations=args.iterations, warmup=args.warmup, profiled=args.profile,
                  profile_iterations=args.profile_iterations)
    emit({"benchmark": "handler",
          "command": shlex.join(["python", "-m", "bench.handler", *(sys.argv[1:] if argv is None else argv)]),
          "started": started, "machine": machine, "load_average_at_end": load_average(),
          "iterations": args.iterations, "warmup": args.warmup,
          "target_ratio": TARGET_RATIO, **figures}, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
