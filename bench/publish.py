"""User-event publishing from the stream consumer: requests per stream batch and publish time,
one ``publishUserEvent`` per request (``cloudchat.publisher``, concurrent across users)
against the aliased batches it replaced (``e0: publishUserEvent(...) e1: ...``, 25 per
request, one request at a time), both signed and sent over kept-alive connections to a
loopback stand-in for AppSync that answers after a fixed delay (0 ms: the client's own cost;
20 ms: a modelled in-region AppSync round trip, an assumption, not a measurement).

    .venv/bin/python -m bench.publish [--reps 5] [--delays 0,20]

Prints one JSON document. Everything listens on 127.0.0.1 and stops on the way out.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.harness import argument_parser, emit, load_average
from cloudchat import aws
from cloudchat.fanout import PUBLISH_BATCH
from cloudchat.publisher import CONCURRENCY, EVENT_FIELDS, AppSyncPublisher

# A stream batch's user events (fanout.py: one event per member per run of a conversation).
WORKLOADS = {
    "1 message, 3 members": [3],
    "20 messages of one 3-member conversation (one run)": [3],
    "1 message, 100-member group": [100],
    "50 messages in 20 conversations of 5 members": [5] * 20,
    "50 messages in 50 direct conversations": [2] * 50,
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = delay
        self.requests = 0
        self.lock = threading.Lock()


def _serve(delay: float, conn: Any) -> None:
    """The stand-in's own process (so its CPU is not the client's): sends its port, serves
    until the pipe closes."""
    server = _Server(delay)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    conn.send(server.server_address[1])
    with contextlib.suppress(EOFError):
        conn.recv()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    body = b'{"data": {"publishUserEvent": {}}}'

    def do_GET(self) -> None:  # the request count, and reset it
        with self.server.lock:
            body, self.server.requests = str(self.server.requests).encode(), 0
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.server.delay:
            time.sleep(self.server.delay)
        with self.server.lock:
            self.server.requests += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: Any) -> None:
        pass


ALIASED_BATCH = 25  # events per call and per request before


class AliasedPublisher(AppSyncPublisher):
    """The replaced form, for comparison only: up to 25 events as aliased root fields of one
    mutation, one request at a time."""

    def publish_user_events(self, events: Any) -> None:
        credentials = self._credentials()
        for i in range(0, len(events), ALIASED_BATCH):
            chunk = events[i:i + ALIASED_BATCH]
            params = ", ".join(f"$e{n}: UserEventInput!" for n in range(len(chunk)))
            fields = " ".join(f"e{n}: publishUserEvent(input: $e{n}) {{ {EVENT_FIELDS} }}"
                              for n in range(len(chunk)))
            body = json.dumps({"query": f"mutation Publish({params}) {{ {fields} }}",
                               "variables": {f"e{n}": e for n, e in enumerate(chunk)}}).encode()
            resp = self._http().request("POST", self.url, body=body, headers=self._sign(body, credentials))
            assert resp.status == 200


def _events(members_per_run: list[int]) -> list[dict[str, Any]]:
    return [{"userId": f"user-{run}-{m}", "type": "MESSAGE", "conversationId": f"conv-{run}",
             "seq": 1, "senderId": f"user-{run}-0", "preview": "x" * 40, "unreadCount": 1,
             "at": "2026-12-06T07:00:00.000Z"}
            for run, members in enumerate(members_per_run) for m in range(members)]


def _calls(events: list[dict[str, Any]], batch: int) -> list[list[dict[str, Any]]]:
    """The fan-out's publish calls for a batch: up to ``batch`` events each."""
    return [events[i:i + batch] for i in range(0, len(events), batch)]


def _count(url: str) -> int:
    import urllib.request

    with urllib.request.urlopen(url) as resp:  # (loopback only)
        return int(resp.read())


def measure(publisher: AppSyncPublisher, url: str, events: list[dict[str, Any]],
            reps: int, batch: int) -> dict[str, Any]:
    for call in _calls(events, batch):  # warm: connections open, credentials resolved
        publisher.publish_user_events(call)
    walls, cpus = [], []
    _count(url)
    for _ in range(reps):
        cpu0, t0 = time.process_time(), time.perf_counter()
        for call in _calls(events, batch):
            publisher.publish_user_events(call)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - cpu0)
    return {"requests_per_batch": _count(url) // reps,
            "wall_ms_median": round(statistics.median(walls) * 1000, 2),
            "wall_ms_max": round(max(walls) * 1000, 2),
            "client_cpu_ms_median": round(statistics.median(cpus) * 1000, 2)}


def main() -> None:
    parser = argument_parser("bench.publish", __doc__)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--delays", default="0,20", help="server delay per request, ms")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--batch", type=int, default=PUBLISH_BATCH, help="events per publish call")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    aws.reset()
    load_before = load_average()
    started = time.time()
    results: dict[str, Any] = {}
    for delay_ms in (float(d) for d in args.delays.split(",")):
        parent, child = multiprocessing.Pipe()
        proc = multiprocessing.Process(target=_serve, args=(delay_ms / 1000, child), daemon=True)
        proc.start()
        url = f"http://127.0.0.1:{parent.recv()}/graphql"
        try:
            for name, runs in WORKLOADS.items():
                events = _events(runs)
                print(f"delay {delay_ms:g} ms: {name}", file=sys.stderr)
                results.setdefault(f"server delay {delay_ms:g} ms", {})[name] = {
                    "user_events": len(events),
                    "before_aliased_25_per_request": measure(
                        AliasedPublisher(url, "us-east-1"), url, events, args.reps, ALIASED_BATCH),
                    "after_one_per_request": measure(
                        AppSyncPublisher(url, "us-east-1", concurrency=args.concurrency), url,
                        events, args.reps, args.batch),
                }
        finally:
            parent.close()
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
    emit({
        "benchmark": "publish", "concurrency": args.concurrency, "publish_batch": args.batch,
        "reps": args.reps, "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "load_average_1_5_15_before": load_before, "load_average_1_5_15_after": load_average(),
        "seconds": round(time.time() - started, 1),
        "results": results,
    }, indent=1)


if __name__ == "__main__":
    main()
