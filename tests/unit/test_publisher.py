"""AppSyncPublisher against a real HTTP server on loopback: signed, batched, one kept-alive
connection for many publishes, and failures raised (never silently dropped)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cloudchat import aws
from cloudchat.publisher import BATCH, AppSyncPublisher, PublishError


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        self.answer: tuple[int, bytes] = (200, b'{"data": {}}')


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append({"headers": dict(self.headers), "body": json.loads(body)})
        status, payload = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.reset()
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    aws.reset()


def _events(n: int) -> list[dict[str, Any]]:
    return [{"userId": f"u{i}", "type": "MESSAGE", "conversationId": "c", "seq": i}
            for i in range(n)]


def test_publishes_signed_batches_on_one_connection(server: _Server) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/graphql"
    pub = AppSyncPublisher(url, "us-east-1")
    pub.publish_user_events(_events(BATCH + 3))  # two requests
    pub.publish_user_events(_events(2))
    assert len(server.requests) == 3 and server.connections == 1
    first = server.requests[0]
    assert first["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-east-1/appsync/aws4_request" in first["headers"]["Authorization"]
    assert first["body"]["query"].count("publishUserEvent(") == BATCH
    assert first["body"]["variables"]["e0"]["userId"] == "u0"
    assert server.requests[1]["body"]["variables"]["e2"]["userId"] == f"u{BATCH + 2}"


@pytest.mark.parametrize("answer", [
    (200, b'{"data": null, "errors": [{"errorType": "Unauthorized"}]}'),
    (403, b'{"errors": [{"errorType": "UnauthorizedException"}]}'),
    (500, b"oops"),
])
def test_failures_are_raised(server: _Server, answer: tuple[int, bytes]) -> None:
    server.answer = answer
    pub = AppSyncPublisher(f"http://127.0.0.1:{server.server_address[1]}/graphql", "us-east-1")
    with pytest.raises(PublishError):
        pub.publish_user_events(_events(1))


def test_only_https_or_loopback() -> None:
    with pytest.raises(ValueError):
        AppSyncPublisher("http://example.com/graphql", "us-east-1")
