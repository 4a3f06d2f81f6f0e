"""The engine-only server of ``python -m bench.realtime``: the CloudChat AppSync emulator alone,
serving echo.graphql (next to this file) with ``Mutation.echo`` on a NONE data source (no Lambda, no moto).

Auth is the emulator's real Cognito path (RS256 JWT verified against a JWKS fetched over
HTTP): this process makes an RSA key, serves its JWKS on 127.0.0.1 from a thread and mints
access tokens for the benchmark's users. Started by the engine mode as::

    python -m bench.realtime._echo_server --users 11

It prints one JSON line ``{"graphql_url", "realtime_url", "tokens": [...]}`` once
listening, and serves until SIGTERM/SIGINT or until its stdin closes (so it never outlives
the benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from cloudchat_local.emulator import NONE_DATA_SOURCE, CognitoConfig, EmulatorConfig, RunningEmulator, serve

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "echo.graphql"
REGION = "us-east-1"
POOL_ID = f"{REGION}_bench"
CLIENT_ID = "benchclient"
KID = "bench-key"


def _jwks_server(jwks: dict[str, Any]) -> ThreadingHTTPServer:
    body = json.dumps(jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, name="jwks", daemon=True).start()
    return server


def _watch_stdin() -> None:
    """Stop when the parent goes away (its end of our stdin closes)."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os.kill(os.getpid(), signal.SIGTERM)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.realtime._echo_server")
    parser.add_argument("--users", type=int, default=11)
    args = parser.parse_args()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": KID, "alg": "RS256", "use": "sig"})
    jwks_server = _jwks_server({"keys": [public]})
    jwks_url = f"http://127.0.0.1:{jwks_server.server_address[1]}/{POOL_ID}/.well-known/jwks.json"

    now = int(time.time())
    tokens = []
    for i in range(args.users):
        sub = str(uuid.uuid4())
        claims = {
            "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{POOL_ID}",
            "sub": sub,
            "client_id": CLIENT_ID,
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "iat": now,
            "auth_time": now,
            "exp": now + 3600,
            "username": f"bench{i:02d}",
            "jti": str(uuid.uuid4()),
        }
        tokens.append(jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID}))

    config = EmulatorConfig(
        schema_path=SCHEMA,
        resolvers={("Mutation", "echo"): NONE_DATA_SOURCE},
        cognito=CognitoConfig(user_pool_id=POOL_ID, jwks_url=jwks_url, client_ids=frozenset({CLIENT_ID})),
        host="127.0.0.1",
        port=0,
    )

    def ready(running: RunningEmulator) -> None:
        line = {
            "graphql_url": running.graphql_url,
            "realtime_url": running.realtime_url,
            "tokens": tokens,
        }
        print(json.dumps(line), flush=True)

    threading.Thread(target=_watch_stdin, name="stdin-watch", daemon=True).start()
    try:
        serve(config, on_ready=ready)
    finally:
        jwks_server.shutdown()


if __name__ == "__main__":
    main()
