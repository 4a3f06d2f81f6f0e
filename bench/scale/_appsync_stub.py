"""A loopback stand-in for AppSync's ``publishUserEvent`` (``python -m bench.scale._appsync_stub``):
answers every POST with a GraphQL success, counts requests and user events, and tells the
counts on ``GET /count``. Listens on 127.0.0.1 (an ephemeral port, announced as one JSON line
on stdout); keep-alive, as the publisher's pooled connections expect. Stops on SIGTERM or
when its stdin closes (the benchmark went away)."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_lock = threading.Lock()
_counts = {"requests": 0, "events": 0}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        event = ((request.get("variables") or {}).get("input")) or {}
        with _lock:
            _counts["requests"] += 1
            _counts["events"] += 1 if event else 0
        self._answer({"data": {"publishUserEvent": event}})

    def do_GET(self) -> None:
        with _lock:
            self._answer(dict(_counts))

    def log_message(self, format: str, *args: Any) -> None:
        return


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    sys.stdin.read()  # returns when the benchmark closes our stdin (or dies)
    server.shutdown()


if __name__ == "__main__":
    main()
