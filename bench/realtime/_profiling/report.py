"""Hotspot report from the cProfile files bench/realtime/_profiling/sitecustomize.py writes (one
``<pid>.json`` per profiled process, covering the measured phase only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]

_IDLE_BUILTINS = ("acquire", "select", "poll", "epoll", "sleep", "_wait", "accept",
                  "'get' of '_queue.SimpleQueue'", "getstats")
# Blocking socket reads in the local stack process: a resolver waiting for moto's answer.
_IO_WAIT_BUILTINS = ("recv_into",)
# Functions whose cumulative time tells where a request goes: (file suffix, function).
_LANDMARKS = (
    ("emulator/_http.py", "graphql_endpoint"), ("emulator/_auth.py", "authenticate"),
    ("graphql/language/parser.py", "parse"), ("graphql/validation/validate.py", "validate"),
    ("graphql/execution/execute.py", "execute"), ("emulator/_execute.py", "run_http"),
    ("emulator/_execute.py", "_publications"), ("emulator/_pubsub.py", "publish"),
    ("emulator/_selection.py", "project"), ("emulator/_realtime.py", "_write"),
    ("emulator/_events.py", "build_event"), ("emulator/_events.py", "invoke_handler"),
    ("cloudchat/api.py", "handler"), ("cloudchat/services/messages.py", "send_message"),
    ("cloudchat/crypto.py", "seal"), ("cloudchat/store/_messages.py", "append_message"),
    ("botocore/client.py", "_make_api_call"), ("botocore/endpoint.py", "_do_get_response"),
    ("botocore/validate.py", "validate"), ("botocore/serialize.py", "serialize_to_request"),
    ("botocore/auth.py", "add_auth"), ("botocore/parsers.py", "parse"),
    ("urllib3/connection.py", "connect"), ("json/__init__.py", "dumps"), ("json/__init__.py", "loads"),
    ("aws_lambda_powertools/event_handler/appsync.py", "resolve"),
    ("werkzeug/serving.py", "handle"), ("cloudchat_local/_moto_serve.py", "app"),
    ("cloudchat_local/_moto_serve.py", "save"), ("moto/core/responses.py", "dispatch"),
    ("moto/core/responses.py", "setup_class"), ("moto/core/parse.py", "parse"),
    ("moto/dynamodb/responses.py", "transact_write_items"),
    ("cloudchat_local/moto/_locking.py", "transact_write_items"),
    ("moto/dynamodb/models/__init__.py", "transact_write_items"),
    ("moto/dynamodb/models/__init__.py", "update_item"), ("moto/dynamodb/models/table.py", "put_item"),
    ("moto/dynamodb/parsing/expressions.py", "parse"), ("moto/dynamodb/parsing/executors.py", "execute"),
    ("moto/dynamodb/comparisons.py", "get_filter_expression"),
    ("moto/dynamodb/models/dynamo_type.py", "size"), ("copy.py", "deepcopy"),
)


def _short(filename: str) -> str:
    for marker in ("site-packages/", str(REPO) + "/", "/lib/python3."):
        if marker in filename:
            rest = filename.split(marker, 1)[1]
            return rest if marker != "/lib/python3." else "stdlib/" + rest.split("/", 1)[-1]
    return filename


def profile_report(folder: Path, pids: dict[str, int], top: int = 20) -> dict[str, Any]:
    """Hotspots per process (every thread), from bench/realtime/_profiling/sitecustomize.py files."""
    report: dict[str, Any] = {
        "how": "cProfile in every thread of each process (bench/realtime/_profiling/sitecustomize.py), "
               "measured phase only. 'busy' excludes idle waits (lock/select/epoll/sleep); "
               "percentages are of the process's busy thread time; cumulative times of "
               "functions that call out to moto include the wait for moto's answer. "
               "cProfile slows Python code down ~2x, so the throughput of a profiled run "
               "is not the benchmark result.",
    }
    for name, pid in pids.items():
        path = folder / f"{pid}.json"
        if not path.exists():
            report[name] = {"error": f"no profile from pid {pid}"}
            continue
        data = json.loads(path.read_text())
        entries = data["entries"]
        total = sum(e[4] for e in entries) or 1.0
        idle = sum(e[4] for e in entries if e[0] == "~" and any(w in e[2] for w in _IDLE_BUILTINS))
        io_wait = sum(e[4] for e in entries if e[0] == "~" and any(w in e[2] for w in _IO_WAIT_BUILTINS))
        busy = max(total - idle - io_wait, 1e-9)

        def label(e: list[Any]) -> str:
            return e[2] if e[0] == "~" else f"{_short(e[0])}:{e[1]}:{e[2]}"

        busy_entries = [e for e in entries if not (e[0] == "~" and any(
            w in e[2] for w in _IDLE_BUILTINS + _IO_WAIT_BUILTINS))]
        by_self = sorted(busy_entries, key=lambda e: e[4], reverse=True)[:top]
        skip = ("threading.py", "concurrent/futures/thread.py", "socketserver.py", "sitecustomize.py")
        by_cum = sorted(
            (e for e in entries if e[0] != "~" and not any(x in e[0] for x in skip)
             and e[2] not in {"run", "<module>"}),
            key=lambda e: e[5], reverse=True)[:top]
        areas: dict[str, float] = {}
        for e in busy_entries:
            group = _group(e[0], e[2])
            areas[group] = areas.get(group, 0.0) + e[4]
        landmarks: dict[str, dict[str, Any]] = {}
        for e in entries:
            for suffix, function in _LANDMARKS:
                if e[2] == function and e[0].endswith(suffix):
                    row = landmarks.setdefault(f"{suffix}:{function}", {"calls": 0, "cum_s": 0.0})
                    row["calls"] += e[3]
                    row["cum_s"] += e[5]
        report[name] = {
            "threads_seen": data["threads"],
            "thread_time_s": round(total, 2),
            "idle_wait_s": round(idle, 2),
            "socket_read_wait_s": round(io_wait, 2),
            "busy_s": round(busy, 2),
            "landmarks_cumulative": {
                k: {**v, "cum_s": round(v["cum_s"], 3), "pct_of_busy": round(100 * v["cum_s"] / busy, 1)}
                for k, v in sorted(landmarks.items(), key=lambda kv: -kv[1]["cum_s"]) if v["cum_s"] > 0
            },
            "busy_by_area_pct": {k: round(100 * v / busy, 1)
                                 for k, v in sorted(areas.items(), key=lambda kv: -kv[1])[:15]},
            "top_self": [{"function": label(e), "calls": e[3], "self_s": round(e[4], 3),
                          "pct_of_busy": round(100 * e[4] / busy, 1)} for e in by_self],
            "top_cumulative": [{"function": label(e), "calls": e[3], "cum_s": round(e[5], 3),
                                "pct_of_busy": round(100 * e[5] / busy, 1)} for e in by_cum],
        }
    return report


def _group(filename: str, function: str) -> str:
    for marker, label in (
        ("cloudchat_local/moto/", "cloudchat_local moto patches"),
        ("/moto/dynamodb/", "moto dynamodb"),
        ("/moto/core/", "moto core (request parsing/dispatch)"),
        ("/moto/", "moto other"),
        ("/werkzeug/", "werkzeug"),
        ("cloudchat_local/_moto_serve", "cloudchat_local moto server (gate, autosave)"),
        ("/botocore/", "botocore"),
        ("/boto3/", "boto3"),
        ("/urllib3/", "urllib3"),
        ("/graphql/", "graphql-core"),
        ("/cloudchat_local/emulator/", "cloudchat_local emulator"),
        ("/layers/shared/cloudchat/", "cloudchat domain package"),
        ("/resolvers/", "resolvers"),
        ("/aws_lambda_powertools/", "aws_lambda_powertools"),
        ("/uvicorn/", "uvicorn"),
        ("/starlette/", "starlette"),
        ("/websockets/", "websockets"),
        ("/cryptography/", "cryptography"),
        ("/jwt/", "pyjwt"),
        ("/json/", "json"),
        ("/pickle", "pickle"),
        ("/copy.py", "copy (deepcopy)"),
        ("/re/", "re"),
        ("/asyncio/", "asyncio"),
        ("/http/", "http (stdlib)"),
        ("/email/", "email (stdlib header parsing)"),
    ):
        if marker in filename:
            return label
    if filename == "~":
        return "builtin: " + function.strip("<>").replace("built-in method ", "")[:50]
    return "other: " + _short(filename)
