"""`pip install '.[cli]'` in a fresh virtualenv is enough for a working `cloudchat`.

The checkout is installed (not editable) into a new venv with pip's cache, then the installed
script signs in and lists conversations against a fake Cognito and GraphQL endpoint on loopback,
and every third-party module the CLI's code imports (tests/template/test_dependencies.py finds
them) imports in that venv. About 30 s on a warm pip cache.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
import venv
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.template.test_dependencies import ROOT, third_party

INSTALL_TIMEOUT_S = 240


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}.c2ln"


class _FakeStack(BaseHTTPRequestHandler):
    """Cognito's InitiateAuth and one GraphQL query, the two calls `login` + `conversations` make."""

    calls: list[str] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith(".InitiateAuth"):
            self.calls.append(f"InitiateAuth {body['AuthParameters']['USERNAME']}")
            token = _jwt({"sub": "u-alice", "exp": int(time.time()) + 3600})
            answer: dict[str, Any] = {"AuthenticationResult": {
                "IdToken": token, "AccessToken": token, "RefreshToken": "refresh",
                "ExpiresIn": 3600, "TokenType": "Bearer"}}
            content_type = "application/x-amz-json-1.1"
        elif self.path == "/graphql":
            self.calls.append(f"graphql {self.headers.get('Authorization', '')[:8]}")
            answer = {"data": {"conversations": {"items": [], "nextToken": None}}}
            content_type = "application/json"
        else:
            self.send_error(404)
            return
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_stack(tmp_path: Path) -> Iterator[Path]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeStack)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({
        "GraphQLApiUrl": f"{base}/graphql", "UserPoolId": "us-east-1_fake", "UserPoolClientId": "fakeclient",
        "Region": "us-east-1", "CognitoEndpoint": base}))
    _FakeStack.calls = []
    try:
        yield outputs
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def cli_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env_dir = tmp_path_factory.mktemp("cli-venv")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    started = time.monotonic()
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           f"{ROOT}[cli]"], capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                          cwd=env_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"pip install .[cli]: {time.monotonic() - started:.1f}s", file=sys.stderr)
    return env_dir


def _run(env_dir: Path, home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON", "VIRTUAL_ENV"))}
    env |= {"HOME": str(home), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60, env=env, cwd=home)


def test_the_installed_script_signs_in_and_lists_conversations(cli_venv: Path, fake_stack: Path,
                                                                 tmp_path: Path) -> None:
    cloudchat = str(cli_venv / "bin" / "cloudchat")
    home = tmp_path / "home"
    home.mkdir()
    assert "CloudChat from the command line" in _run(cli_venv, home, cloudchat, "--help").stdout
    login = _run(cli_venv, home, cloudchat, "--outputs", str(fake_stack), "login", "alice",
                 "--password-stdin", stdin="a password\n")
    assert login.returncode == 0, login.stderr
    listed = _run(cli_venv, home, cloudchat, "--outputs", str(fake_stack), "--json", "conversations")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["items"] == []
    assert _FakeStack.calls == ["InitiateAuth alice", "graphql eyJhbGci"]


def test_every_module_the_cli_imports_is_installed(cli_venv: Path, tmp_path: Path) -> None:
    """Including those imported lazily (``seed`` on a local stack reads the template: yaml)."""
    modules = sorted(third_party(["cloudchat_cli"]))
    script = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint('ok')"
    done = _run(cli_venv, tmp_path, str(cli_venv / "bin" / "python"), "-c", script, *modules)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (modules, done.stderr[-2000:])
