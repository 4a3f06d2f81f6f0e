"""Warm CPU per invocation: the handler and its floor, interleaved (so load on the machine
falls on both alike), each invocation answered by the replayer; and one cProfile run."""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections.abc import Callable
from typing import Any

from botocore import xform_name

from bench.harness import REPO, LambdaContext, ms, percentile, ratio

from ._replay import Replayer
from ._scenarios import Operation

Handler = Callable[[dict[str, Any], Any], Any]


#: What cloudchat.aws sets on its clients (the rest is botocore's defaults, for both).
_SETTINGS = ("retries", "connect_timeout", "read_timeout", "tcp_keepalive")


def floor_clients(ours: dict[str, Any]) -> dict[str, Any]:
    """A new boto3 client per service with the settings of ours, from a session of their own
    (which loads the environment's credentials as ours did: botocore names that in each
    request's User-Agent). Not ``meta.config`` itself: it also carries the merged User-Agent
    string, and botocore would then send that fixed string instead of building one per
    request as ours do."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    out = {}
    for service, client in ours.items():
        c = client.meta.config
        extra = {"signature_version": c.signature_version, "s3": c.s3} if service == "s3" else {}
        config = Config(**{k: getattr(c, k) for k in _SETTINGS}, **extra)
        out[service] = session.client(service, config=config)  # type: ignore[call-overload]
    return out


def floor_handler(op: Operation, clients: dict[str, Any]) -> Handler:
    """The bare handler: the same AWS calls, with the same parameters, through boto3 clients
    with the same settings, and nothing else (no validation, crypto, Powertools, views)."""
    calls = [(getattr(clients[e.service], xform_name(e.operation)), e.params) for e in op.script]

    def handler(event: dict[str, Any], context: Any) -> Any:
        out = None
        for method, params in calls:
            out = method(**params)
        return out

    return handler


def _once(fn: Handler, op: Operation, replayer: Replayer, *,
          ours: bool) -> tuple[float, list[tuple[str, str | None]]]:
    """CPU seconds of one invocation (its event and context made beforehand, untimed) and
    the AWS calls it made (operation, User-Agent)."""
    if ours and op.prepare is not None:
        op.prepare()
    event, context = op.fresh_event(), LambdaContext()
    replayer.start()
    t = time.process_time()
    out = fn(event, context)
    cpu = time.process_time() - t
    replayer.done()
    if ours:
        op.check(out)
    return cpu, list(zip(replayer.calls, replayer.agents, strict=True))


def measure(op: Operation, floor: Handler, replayer: Replayer, *, iterations: int,
            warmup: int) -> dict[str, Any]:
    """The operation's figures: median and p90 CPU of handler and floor, their ratio, and the
    AWS calls each made per invocation (the same, or the replayer refuses)."""
    replayer.script = op.script
    ours: list[float] = []
    bare: list[float] = []
    calls: dict[str, list[tuple[str, str | None]]] = {}
    for i in range(warmup + iterations):
        a, calls["handler"] = _once(op.handler, op, replayer, ours=True)
        b, calls["floor"] = _once(floor, op, replayer, ours=False)
        if i >= warmup:
            ours.append(a)
            bare.append(b)
    h50, h90 = percentile(ours, 50), percentile(ours, 90)
    f50, f90 = percentile(bare, 50), percentile(bare, 90)
    return {
        "handler_cpu_ms": ms(h50), "handler_cpu_ms_p90": ms(h90),
        "floor_cpu_ms": ms(f50), "floor_cpu_ms_p90": ms(f90),
        "ratio": ratio(h50, f50), "ratio_p90": ratio(h90, f90),
        "aws_calls": len(calls["handler"]),
        "aws_operations": [name for name, _ in calls["handler"]],
        "floor_aws_operations": [name for name, _ in calls["floor"]],
        # the same User-Agent on every call: the clients are set up alike
        "same_client_settings": calls["handler"] == calls["floor"],
    }


def _where(filename: str) -> str:
    """A profile entry's file, short: the repository's path, or the path inside site-packages."""
    if filename.startswith(str(REPO)):
        return filename[len(str(REPO)) + 1:]
    return filename.split("site-packages/", 1)[-1]


def _profiled(fn: Handler, op: Operation, replayer: Replayer, iterations: int, *,
              ours: bool) -> dict[Any, Any]:
    """pstats' raw table of ``iterations`` warm invocations of ``fn`` (after 10 unprofiled)."""
    for _ in range(10):
        _once(fn, op, replayer, ours=ours)
    profiler = cProfile.Profile(time.process_time)
    for _ in range(iterations):
        if ours and op.prepare is not None:
            op.prepare()
        e, context = op.fresh_event(), LambdaContext()
        replayer.start()
        profiler.enable()
        fn(e, context)
        profiler.disable()
        replayer.done()
    raw: dict[Any, Any] = pstats.Stats(profiler, stream=io.StringIO()).stats  # type: ignore[attr-defined]
    return raw


def profile(op: Operation, floor: Handler, replayer: Replayer, *, iterations: int,
            top: int = 15) -> dict[str, Any]:
    """The handler and its floor under cProfile, ``iterations`` warm invocations each, in ms
    per invocation: the functions whose self time exceeds the floor's most (where the
    overhead goes), and our own functions by cumulative time. cProfile's own cost inflates
    every figure (most for functions called often): read the shares, not the milliseconds."""
    replayer.script = op.script
    mine = _profiled(op.handler, op, replayer, iterations, ours=True)
    bare = _profiled(floor, op, replayer, iterations, ours=False)

    def per_call(value: float) -> float:
        return round(value * 1000 / iterations, 3)

    def name(key: tuple[str, int, str]) -> str:
        return f"{_where(key[0])}:{key[1]}({key[2]})"

    excess = sorted(mine, key=lambda k: mine[k][2] - (bare[k][2] if k in bare else 0.0),
                    reverse=True)[:top]
    code = (str(REPO / "layers"), str(REPO / "resolvers"))  # the deployed code (not bench's)
    ours = sorted((k for k in mine if k[0].startswith(code)),
                  key=lambda k: mine[k][3], reverse=True)[:top]
    return {
        "operation": op.name, "iterations": iterations,
        "handler_profiled_ms": per_call(sum(v[2] for v in mine.values())),
        "floor_profiled_ms": per_call(sum(v[2] for v in bare.values())),
        "top_excess_self": [{
            "function": name(k), "excess_self_ms": per_call(mine[k][2] - (bare[k][2] if k in bare else 0)),
            "handler_self_ms": per_call(mine[k][2]),
            "floor_self_ms": per_call(bare[k][2] if k in bare else 0),
            "handler_calls": round(mine[k][1] / iterations, 1),
            "floor_calls": round(bare[k][1] / iterations, 1) if k in bare else 0} for k in excess],
        "top_cumulative_ours": [{"function": name(k), "cumulative_ms": per_call(mine[k][3]),
                                 "self_ms": per_call(mine[k][2])} for k in ours],
    }
