"""``cloudchat verify`` against the local stack: the same black-box checks a user runs on a
deployed stack (``make verify STACK=...``), here against outputs.json, so they cannot rot.
A wrong client id or an endpoint that never answers must fail the right checks, in bounded
time, and still delete the temporary users."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cloudchat_cli import verify_users
from cloudchat_cli.render import Renderer
from cloudchat_cli.verify import render_report, verify
from cloudchat_cli.verify_run import Report
from cloudchat_cli.verify_target import target_from_file
from cloudchat_cli.verify_users import new_password

from .conftest import REPO, DevStack

pytestmark = pytest.mark.e2e

EVERY_CHECK = {
    "create temporary users", "sign in", "first request (profiles)", "createConversation GROUP + DIRECT",
    "conversations list (GSI)", "subscribe onMessage + onUserEvent", "sendMessage arrives live",
    "messages page + messagesSince", "retry with the same clientMessageId", "thread reply",
    "addReaction / removeReaction", "markRead, readReceipts, unreadCount", "DIRECT message",
    "upload, attach, download", "per-user channel (onUserEvent)", "non-member cannot read (Forbidden)",
    "non-member cannot send (Forbidden)", "non-member cannot subscribe (Forbidden)",
    "another user's channel refused (Forbidden)", "a block refuses a DIRECT conversation (Forbidden)",
    "no token refused (401)", "forged token refused (401)",
    "forged token refused (WebSocket)", "close connections", "leave the group conversation",
    "delete temporary users",
}


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


def assert_users_deleted(stack: DevStack, prefix: str) -> None:
    idp = boto3.client("cognito-idp", endpoint_url=stack.outputs["CognitoEndpoint"],
                       region_name=stack.outputs["Region"], aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    for label in "abc":
        with pytest.raises(idp.exceptions.UserNotFoundException):
            idp.admin_get_user(UserPoolId=stack.outputs["UserPoolId"], Username=f"{prefix}-{label}@example.com")


def test_verify_passes_every_check_on_the_local_stack(stack: DevStack, tmp_path: Path) -> None:
    saved = tmp_path / "verify.json"
    done = subprocess.run(
        [sys.executable, "-m", "cloudchat_cli", "--outputs", str(stack.outputs_path), "--json", "verify",
         "--report", str(saved)],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    report = json.loads(done.stdout)
    failed = {c["name"]: c["error"] for c in report["checks"] if c["status"] != "pass"}
    assert done.returncode == 0 and report["ok"], (failed, done.stderr[-3000:], stack.log()[-3000:])
    assert statuses(report) == dict.fromkeys(EVERY_CHECK, "pass")
    assert json.loads(saved.read_text()) == report
    target = report["target"]
    assert (target["graphqlUrl"], target["userPoolClientId"], target["local"]) == (
        stack.outputs["GraphQLApiUrl"], stack.outputs["UserPoolClientId"], True)
    assert any("DIRECT conversation" in item for item in report["leftBehind"])
    assert_users_deleted(stack, report["runPrefix"])


def test_the_table_names_each_check(stack: DevStack) -> None:
    """The human form: a table on stdout, progress on stderr, exit 0."""
    done = subprocess.run(
        [sys.executable, "-m", "cloudchat_cli", "--outputs", str(stack.outputs_path), "verify"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all checks passed: 26 passed, 0 failed, 0 skipped" in done.stdout
    assert "sendMessage arrives live" in done.stdout and "PASS" in done.stderr
    assert "left behind: DIRECT conversation" in done.stdout


def run_verify(outputs: dict[str, Any], tmp_path: Path, **options: Any) -> tuple[Report, float]:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    started = time.monotonic()
    report = asyncio.run(verify(target_from_file(path), **options))
    return report, time.monotonic() - started


def test_a_wrong_client_id_fails_sign_in_and_still_deletes_the_users(
    stack: DevStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passwords: list[str] = []

    def recorded() -> str:
        passwords.append(new_password())
        return passwords[-1]

    monkeypatch.setattr(verify_users, "new_password", recorded)
    outputs = {**stack.outputs, "UserPoolClientId": "0123456789abcdefghijklmnop"}
    report, seconds = run_verify(outputs, tmp_path, timeout=20)
    # The passwords are random, and never leave the process: not in the report, nor the table.
    out = io.StringIO()
    render_report(report, Renderer(as_json=False, out=out))
    render_report(report, Renderer(as_json=True, out=out))
    assert len(passwords) == 3 and not any(p in out.getvalue() for p in passwords)
    got = statuses(report.as_dict())
    assert not report.ok
    assert got["create temporary users"] == "pass"
    assert got["sign in"] == "fail"
    sign_in = next(c for c in report.checks if c.name == "sign in")
    assert sign_in.error is not None and "Cognito refused the sign-in" in sign_in.error
    assert got["first request (profiles)"] == "skip"
    assert got["sendMessage arrives live"] == "skip"
    # What needs no user still ran against the real API.
    assert got["no token refused (401)"] == got["forged token refused (401)"] == "pass"
    assert got["delete temporary users"] == "pass"
    assert_users_deleted(stack, report.prefix)
    assert seconds < 60


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A loopback port whose connections complete (the kernel's backlog) and never answer."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


def test_an_endpoint_that_never_answers_fails_in_bounded_time(
    stack: DevStack, tmp_path: Path, black_hole: str
) -> None:
    outputs = {**stack.outputs, "GraphQLApiUrl": f"http://{black_hole}/graphql",
               "GraphQLRealtimeUrl": f"ws://{black_hole}/graphql/realtime"}
    report, seconds = run_verify(outputs, tmp_path, timeout=2, channel_timeout=2)
    got = statuses(report.as_dict())
    assert not report.ok
    assert (got["create temporary users"], got["sign in"]) == ("pass", "pass")  # Cognito is fine
    profiles = next(c for c in report.checks if c.name == "first request (profiles)")
    assert profiles.status == "fail" and profiles.error == "no answer within 2 s"
    assert got["no token refused (401)"] == got["forged token refused (401)"] == "fail"
    assert got["forged token refused (WebSocket)"] == "fail"
    assert got["delete temporary users"] == "pass"
    assert_users_deleted(stack, report.prefix)
    assert seconds < 45, report.as_dict()
