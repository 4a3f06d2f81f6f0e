"""``python -m bench.scale``: see the package's docstring (``--help``)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from bench import scale as package
from bench.harness import argument_parser, emit, load_average, machine_info, say, utc_now

from ._chart import markdown, svg
from ._run import measure
from ._summary import summary
from ._world import ENV, appsync_stub

DEFAULT_SIZES = (2, 10, 100, 1000, 10000)


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(s) for s in text.split(",") if s.strip()})
    if not sizes or sizes[0] < 2:
        raise ValueError("sizes are member counts of at least 2, e.g. 2,10,100")
    return sizes


def run(sizes: list[int], conversations: int, repeat: int, online: int = 0) -> dict[str, Any]:
    os.environ.update(ENV)  # before cloudchat is imported: Powertools reads it then
    from cloudchat_local import moto as moto_seam

    # Powertools warns on stderr for every invocation that published no metric
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    moto_seam.serialize_dynamodb()
    moto_seam.server_speedups()
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, appsync_stub(Path(tmp)) as stub, \
            open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        # (Powertools' log and metric lines go to stdout, as in Lambda; stdout is the JSON's)
        for n in sizes:
            say(f"{n} members ...", "scale")
            out.append(measure(n, conversations, stub, repeat, online))
            if "error" in out[-1]:
                say(f"{n} members: {out[-1]['error']}", "scale")
    return {"sizes": out, **summary(out)}


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser("bench.scale", package.__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="group sizes (members), comma-separated")
    parser.add_argument("--conversations", type=int, default=20,
                        help="conversations of each size the listing member belongs to")
    parser.add_argument("--repeat", type=int, default=3,
                        help="measured messages inside a notification window")
    parser.add_argument("--online", type=int, default=0,
                        help="members (the sender first) online by heartbeat while measured")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    parser.add_argument("--chart", type=Path, help="write an SVG chart of cost per message")
    parser.add_argument("--markdown", type=Path, help="write docs/performance.md's tables")
    args = parser.parse_args(argv)
    try:
        sizes = _sizes(args.sizes)
    except ValueError as exc:
        parser.error(str(exc))
    if args.conversations < 1 or args.repeat < 1:
        parser.error("--conversations and --repeat are at least 1")
    started = utc_now()
    machine = machine_info()
    figures = run(sizes, args.conversations, args.repeat, max(0, args.online))
    machine["load_average_at_end"] = load_average()
    machine["benchmark_process_cpu_s"] = round(time.process_time(), 1)
    document = {"benchmark": "scale", "started": started, "finished": utc_now(),
                "machine": machine, **figures}
    if args.chart is not None:
        args.chart.write_text(svg(document))
    if args.markdown is not None:
        args.markdown.write_text(markdown(document))
    emit(document, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
