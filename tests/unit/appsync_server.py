"""A loopback stand-in for AppSync's GraphQL endpoint, for publisher tests: records every
request (headers, JSON body), answers each with ``answer`` (or a GraphQL error for the events
of ``fail_user``), optionally after ``delay`` seconds, and counts connections and the most
requests it had in flight at once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class AppSyncServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        self.answer: tuple[int, bytes] = (200, b'{"data": {"publishUserEvent": {}}}')
        self.fail_user: str | None = None  # answer an error for this user's events
        self.delay = 0.0  # seconds per request
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/graphql"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # (headers and body are two writes)
    server: AppSyncServer

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_POST(self) -> None:
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with srv.lock:
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        time.sleep(srv.delay)
        with srv.lock:
            srv.in_flight -= 1
            srv.requests.append({"headers": dict(self.headers), "body": body,
                                 "thread": threading.get_ident()})
        status, payload = srv.answer
        if srv.fail_user and (body.get("variables") or {}).get("input", {}).get("userId") == srv.fail_user:
            status, payload = 200, b'{"data": null, "errors": [{"errorType": "Unauthorized"}]}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass



@contextmanager
def running() -> Iterator[AppSyncServer]:
    srv = AppSyncServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def published(srv: AppSyncServer) -> list[dict[str, Any]]:
    """The events the server received, in arrival order."""
    return [r["body"]["variables"]["input"] for r in srv.requests]
