"""Starting and stopping the local stack: state kept across restarts, --fresh, busy ports."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO, DevStack, eventually, run

pytestmark = pytest.mark.e2e

#: operations.graphql's, by name (``DevStack.execute`` looks them up)
CONVERSATIONS, MESSAGES = "Conversations", "MessagesSince"


def titles(stack: DevStack, token: str) -> list[str]:
    """The titles of the conversation list, once it shows the demo conversation (the list
    is read through GSI1: a conversation seeded a moment ago may not be there yet)."""
    async def read() -> list[str]:
        items = (await stack.execute(token, CONVERSATIONS, {"limit": 50}))["conversations"]["items"]
        return sorted(c["title"] for c in items)

    return list(run(eventually(read, lambda got: "Welcome" in got)))


def refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_restart_keeps_data_and_fresh_starts_empty(state_dir: Path) -> None:
    first = DevStack(state_dir).start()
    try:
        alice = first.token("alice")
        created = run(first.execute(
            alice,
            "CreateConversation",
            {"input": {"memberIds": [first.user("bob")["sub"]], "title": "Persist me"}},
        ))["createConversation"]["id"]
        for body in ("first", "second"):
            run(first.execute(
                alice,
                "SendMessage",
                {"input": {"conversationId": created, "body": body, "clientMessageId": uuid.uuid4().hex}},
            ))
        # A second stack cannot share the state dir while this one runs.
        busy = subprocess.run(
            DevStack(state_dir).args, cwd=REPO, capture_output=True, text=True, timeout=60, check=False
        )
        assert busy.returncode == 2, busy.stderr
        assert "another local stack" in busy.stderr and "Traceback" not in busy.stderr
        moto_port = int(first.outputs["AwsEndpointUrl"].rsplit(":", 1)[1])
        api_port = int(first.url.split(":")[2].split("/")[0])
    finally:
        assert first.stop(signal.SIGTERM) == 0, first.log()
    # Stopped cleanly: neither moto nor the API is left listening.
    assert refused(moto_port) and refused(api_port)

    second = DevStack(state_dir).start()
    try:
        assert second.outputs["UserPoolId"] == first.outputs["UserPoolId"]
        assert second.outputs["DemoConversationId"] == first.outputs["DemoConversationId"]
        bob = second.token("bob")  # the same user, signing in again after the restart
        assert second.user("bob")["sub"] == first.user("bob")["sub"]
        assert titles(second, bob) == ["Persist me", "Welcome"]  # nothing duplicated
        messages = run(second.execute(bob, MESSAGES, {"conversationId": created, "afterSeq": 0}))
        assert [(m["seq"], m["body"]) for m in messages["messagesSince"]["items"]] == [(1, "first"), (2, "second")]
    finally:
        assert second.stop() == 0, second.log()

    fresh = DevStack(state_dir, "--fresh").start()
    try:
        assert fresh.outputs["UserPoolId"] != first.outputs["UserPoolId"]
        assert titles(fresh, fresh.token("bob")) == ["Welcome"]
    finally:
        assert fresh.stop() == 0, fresh.log()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("option", ["--port", "--tls-port", "--moto-port"])
def test_a_busy_port_is_a_one_line_error(option: str, busy_port: int, state_dir: Path) -> None:
    args = [sys.executable, "-m", "cloudchat_local.dev", "--port", "0", "--tls-port", "0",
            "--moto-port", "0", "--state-dir", str(state_dir), option, str(busy_port)]
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert str(busy_port) in errors[0] and "already in use" in errors[0] and option in errors[0]
    assert "Traceback" not in result.stdout + result.stderr
