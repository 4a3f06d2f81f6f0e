"""Serving: TLS with the generated certificate, busy ports, bounded subscriber queues."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from websockets.asyncio.client import connect

from cloudchat_local.emulator import PortInUse, ensure_self_signed_cert, run_in_thread, start
from cloudchat_local.emulator._pubsub import Outbox

from .conftest import Cognito, Recorder, make_config
from .helpers import header_blob, run


async def _https_query(url: str, cafile: Path, token: str) -> tuple[int, dict[str, object]]:
    context = ssl.create_default_context(cafile=str(cafile))
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            json={"query": '{ echo(text: "tls") { text } }'},
            headers={"Authorization": token},
            ssl=context,
        ) as resp,
    ):
        return resp.status, await resp.json()


async def _wss_handshake(url: str, cafile: Path, auth: dict[str, str]) -> dict[str, object]:
    context = ssl.create_default_context(cafile=str(cafile))
    subprotocols = ["graphql-ws", "header-" + header_blob(auth, urlsafe=True)]
    async with connect(url, subprotocols=subprotocols, ssl=context) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "connection_init"}))
        return json.loads(await asyncio.wait_for(ws.recv(), 5))


def test_tls_serving_with_generated_certificate(tmp_path: Path, cognito: Cognito) -> None:
    config = make_config(cognito, Recorder(), tls_port=0, state_dir=tmp_path)
    token = cognito.tokens["alice"]["access"]
    with run_in_thread(config) as running:
        assert running.https_port and running.cert_path is not None
        assert running.https_graphql_url == f"https://127.0.0.1:{running.https_port}/graphql"
        status, body = run(_https_query(running.https_graphql_url, running.cert_path, token))
        assert status == 200
        assert body == {"data": {"echo": {"text": "tls"}}}
        auth = {"host": f"127.0.0.1:{running.https_port}", "Authorization": token}
        assert running.wss_realtime_url is not None
        ack = run(_wss_handshake(running.wss_realtime_url, running.cert_path, auth))
        assert ack["type"] == "connection_ack"
        # Plain HTTP keeps working next to HTTPS.
        assert running.http_port != running.https_port

    cert = x509.load_pem_x509_certificate(running.cert_path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1"}
    # Reused on the next run rather than regenerated.
    before = running.cert_path.read_bytes()
    assert ensure_self_signed_cert(tmp_path).cert_path.read_bytes() == before
    assert (tmp_path / "tls" / "key.pem").stat().st_mode & 0o077 == 0


def test_busy_port_is_a_clear_error(cognito: Cognito) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        config = make_config(cognito, Recorder(), port=port)
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 \\(GraphQL API\\) is already in use"), run_in_thread(config):
            pass


def test_async_start_reports_the_bound_port(cognito: Cognito) -> None:
    async def scenario() -> int:
        async with start(make_config(cognito, Recorder())) as running:
            assert running.graphql_url == f"http://127.0.0.1:{running.http_port}/graphql"
            async with (
                aiohttp.ClientSession() as session,
                session.post(running.graphql_url, data=b"") as resp,
            ):
                assert resp.status == 401
            return running.http_port

    assert run(scenario()) > 0


def test_outbox_is_bounded_for_data_but_not_for_control() -> None:
    async def scenario() -> None:
        outbox = Outbox(limit=2)
        assert outbox.offer({"type": "data", "id": "1"})
        assert outbox.offer({"type": "data", "id": "2"})
        assert not outbox.offer({"type": "data", "id": "3"})
        outbox.control({"type": "ka"})
        assert outbox.dropped == 1
        assert (await outbox.next())["id"] == "1"  # type: ignore[index]
        assert outbox.offer({"type": "data", "id": "4"})
        frames = [await outbox.next() for _ in range(3)]
        assert [f["type"] if f else None for f in frames] == ["data", "ka", "data"]

    run(scenario())


def test_idle_keep_alive_connection_outlives_client_pools(cognito: Cognito) -> None:
    """A pooled HTTP connection idle for 6 s is still open (uvicorn's default closes it after
    5 s, and a client sending on it at that moment gets "Server disconnected": bench.soak
    saw it on 2 of 3,000 sends; aiohttp pools idle connections for 15 s)."""
    body = json.dumps({"query": '{ echo(text: "ka") { text } }'}).encode()

    def request(sock: socket.socket, port: int) -> bytes:
        sock.sendall(
            f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Authorization: {cognito.tokens['alice']['access']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
        answer = b""
        while b'"ka"' not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer

    with run_in_thread(make_config(cognito, Recorder())) as running, \
            socket.create_connection(("127.0.0.1", running.http_port), timeout=10) as sock:
        assert request(sock, running.http_port).startswith(b"HTTP/1.1 200")
        time.sleep(6)
        assert request(sock, running.http_port).startswith(b"HTTP/1.1 200")  # the same connection
