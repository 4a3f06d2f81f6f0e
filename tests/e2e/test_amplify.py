"""The real Amplify JS v6 client (tests/e2e/amplify/subscribe.mjs, run with Node) against the
local stack over HTTPS/WSS, with gql (Python) as the other user.

alice signs in with Amplify (USER_PASSWORD_AUTH against moto's Cognito), queries ``me`` over
HTTPS, is refused ``onMessage`` on a conversation she is not in, and subscribes to one she is
in (Amplify opens ``wss://.../graphql/realtime`` with a ``header-<base64url>`` subprotocol);
bob sends a message there with gql; what Amplify delivered must equal what bob got back.
The self-signed certificate of the stack is trusted through ``NODE_EXTRA_CA_CERTS``.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudchat_client import document

from .conftest import DevStack, run

pytestmark = pytest.mark.e2e

AMPLIFY_DIR = Path(__file__).resolve().parent / "amplify"
SCRIPT = AMPLIFY_DIR / "subscribe.mjs"
STEP_TIMEOUT = 40.0

SEND = document("SendMessage")
CREATE = document("CreateConversation")
#: What subscribe.mjs sends: operations.graphql's documents, as the web client loads them.
DOCUMENTS = {"me": document("Me"), "onMessage": document("OnMessage")}
FULL_FRAGMENT_KEYS = {
    "id", "conversationId", "seq", "senderId", "kind", "body", "createdAt", "clientMessageId", "version",
    "parentId", "replyCount", "lastReplyAt", "replyUserIds", "reactions", "attachments", "editedAt", "deletedAt",
    "deletedBy", "erased", "mentions",
    "senderBlocked",
}


@pytest.fixture(scope="module")
def amplify_project() -> Path:
    """tests/e2e/amplify with its node_modules (``npm ci`` from package-lock.json if missing)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the Amplify v6 client test (not on PATH)")
    if not (AMPLIFY_DIR / "node_modules" / "aws-amplify" / "package.json").exists():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=AMPLIFY_DIR, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return AMPLIFY_DIR


class NodeScript:
    """``node subscribe.mjs`` with its stdout read line by line as JSON events."""

    def __init__(self, config_path: Path, cert_path: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["NODE_EXTRA_CA_CERTS"] = cert_path
        env.pop("NODE_TLS_REJECT_UNAUTHORIZED", None)  # the certificate must really be trusted
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), str(config_path)], cwd=AMPLIFY_DIR, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout.append(line)
            text = line.strip()
            if text.startswith("{"):
                try:
                    event = json.loads(text)
                except ValueError:
                    continue
                if isinstance(event, dict) and "event" in event:
                    self.events.put(event)
        self.events.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    def log(self) -> str:
        return "stdout:\n" + "".join(self.stdout[-50:]) + "\nstderr:\n" + "".join(self.stderr[-50:])

    def expect(self, name: str, timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"Amplify did not report {name!r} in {timeout:.0f} s\n{self.log()}") from None
            if event is None:
                raise AssertionError(f"Amplify exited ({self.process.wait()}) before {name!r}\n{self.log()}")
            if event["event"] == "error":
                raise AssertionError(f"Amplify failed at {event.get('step')}: {event.get('error')}\n{self.log()}")
            if event["event"] == name:
                return event

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def node_script() -> Iterator[list[NodeScript]]:
    started: list[NodeScript] = []
    try:
        yield started
    finally:
        for script in started:
            script.stop()


def test_amplify_v6_subscribes_and_receives_a_gql_message(
    amplify_project: Path, stack: DevStack, node_script: list[NodeScript], tmp_path: Path
) -> None:
    outputs = stack.outputs
    https_url = outputs.get("GraphQLApiHttpsUrl")
    cert = outputs.get("TlsCertificate")
    assert https_url and cert, f"the local stack serves no HTTPS (outputs: {sorted(outputs)})"
    assert https_url.startswith("https://127.0.0.1:")
    alice, bob, carol = (stack.user(n) for n in ("alice", "bob", "carol"))
    bob_token = stack.token("bob", "IdToken")

    async def prepare() -> tuple[str, str]:
        for name in ("alice", "bob", "carol"):  # profiles exist even without the demo seed
            await stack.execute(stack.token(name, "IdToken"), "query { me { id } }")
        shared = await stack.execute(bob_token, CREATE, {"input": {"memberIds": [alice["sub"]],
                                                                   "title": "amplify e2e"}})
        private = await stack.execute(bob_token, CREATE, {"input": {"memberIds": [carol["sub"]],
                                                                    "title": "not alice's"}})
        return str(shared["createConversation"]["id"]), str(private["createConversation"]["id"])

    conversation_id, forbidden_id = run(prepare())
    config = tmp_path / "amplify-config.json"
    config.write_text(json.dumps({
        "graphqlUrl": https_url,
        "region": outputs["Region"],
        "userPoolId": outputs["UserPoolId"],
        "userPoolClientId": outputs["UserPoolClientId"],
        "cognitoEndpoint": outputs["CognitoEndpoint"],
        "username": alice["username"],
        "password": alice["password"],
        "conversationId": conversation_id,
        "forbiddenConversationId": forbidden_id,
        "timeoutMs": int(STEP_TIMEOUT * 1000),
        "documents": DOCUMENTS,
    }))
    script = NodeScript(config, str(cert))
    node_script.append(script)

    script.expect("signedIn")
    me = script.expect("me")["me"]
    assert me["id"] == alice["sub"]

    forbidden = script.expect("forbidden")["error"]
    assert "Forbidden" in json.dumps(forbidden), forbidden

    ready = script.expect("ready")
    assert ready["conversationId"] == conversation_id
    # How Amplify v6 connected: wss:// + /realtime appended to the GraphQL URL, auth in a
    # header-<base64url> subprotocol next to graphql-ws (one socket for both subscriptions).
    realtime = https_url.replace("https://", "wss://") + "/realtime"
    assert ready["sockets"], ready
    for socket in ready["sockets"]:
        assert socket["url"].split("?")[0] == realtime, socket
        assert socket["protocols"] == ["graphql-ws", "header-<base64url>"], socket
        assert {"Authorization", "host"} <= set(socket["headerKeys"] or ()), socket
    body = f"hello Amplify {uuid.uuid4().hex[:8]}"
    sent = run(stack.execute(bob_token, SEND, {"input": {
        "conversationId": conversation_id, "body": body, "clientMessageId": uuid.uuid4().hex[:16]}}))
    sent_message = sent["sendMessage"]

    received = script.expect("message")["message"]
    assert set(received) == FULL_FRAGMENT_KEYS
    assert received == sent_message
    assert received["body"] == body
    assert received["seq"] == sent_message["seq"] >= 1
    assert received["senderId"] == bob["sub"]
    assert received["conversationId"] == conversation_id
    assert received["reactions"] == [] and received["replyUserIds"] == []
    assert script.process.wait(timeout=STEP_TIMEOUT) == 0, script.log()
