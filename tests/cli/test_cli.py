"""`cloudchat` against a running local stack: the installed console script as a subprocess,
and the follower in-process where a test must cut its WebSocket."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import socket
import stat
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudchat_client import (
    Authenticator,
    Backoff,
    Delivery,
    TokenStore,
    document,
    endpoint_from_outputs,
    fragment_fields,
)
from cloudchat_client._follow import Follower
from cloudchat_client._transport import Api, RealtimeConnection
from tests.e2e.conftest import REPO, TIMEOUT, DevStack, run

pytestmark = pytest.mark.e2e

CLI = str(REPO / ".venv" / "bin" / "cloudchat")
PASSWORD = "CloudChat-demo-2024"
SEND_FULL = document("SendMessage")
#: A publisher that selects less than ``MessageFields``, on purpose (what the CLI used to send).
SEND = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { id conversationId seq senderId kind body createdAt clientMessageId version } }"


def cli(stack_outputs: Path, home: Path, *args: str, stdin: str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLOUDCHAT_HOME": str(home)}
    env.pop("CLOUDCHAT_PASSWORD", None)
    return subprocess.run([CLI, "--outputs", str(stack_outputs), *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=home.parent, check=False)


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli-homes")
    return {name: base / name for name in ("alice", "bob", "nobody")}


@pytest.fixture(scope="module")
def logged_in(stack: DevStack, homes: dict[str, Path]) -> dict[str, Path]:
    for name in ("alice", "bob"):
        done = cli(stack.outputs_path, homes[name], "login", name, "--password-stdin", stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    return homes


@pytest.fixture(scope="module")
def conversation(stack: DevStack) -> str:
    return str(stack.outputs["DemoConversationId"])


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _until_listed(outputs: Path, home: Path, conversation_id: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while conversation_id not in [c["id"] for c in as_json(cli(outputs, home, "--json", "conversations"))["items"]]:
        assert time.monotonic() < deadline, f"{conversation_id} never appeared in the conversation list"
        time.sleep(0.2)


# --------------------------------------------------------------------------- login


def test_login_with_a_bad_password_fails_clearly(stack: DevStack, homes: dict[str, Path]) -> None:
    done = cli(stack.outputs_path, homes["nobody"], "login", "alice", "--password-stdin", stdin="wrong\n")
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1, done.stderr
    assert "bad credentials" in done.stderr and "NotAuthorizedException" in done.stderr
    assert not (homes["nobody"] / "tokens.json").exists()


def test_login_stores_tokens_privately(stack: DevStack, logged_in: dict[str, Path]) -> None:
    path = logged_in["alice"] / "tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (session,) = json.loads(path.read_text()).values()
    assert session["username"] == "alice@example.com"
    assert session["sub"] == stack.user("alice")["sub"]
    assert session["refresh_token"]


def test_not_logged_in_is_a_clear_error(stack: DevStack, homes: dict[str, Path]) -> None:
    done = cli(stack.outputs_path, homes["nobody"], "conversations")
    assert done.returncode == 3
    assert "not logged in" in done.stderr and "cloudchat login" in done.stderr


def test_an_expiring_session_is_refreshed_against_cognito(stack: DevStack, logged_in: dict[str, Path],
                                                          tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    stored = json.loads((logged_in["alice"] / "tokens.json").read_text())
    for session in stored.values():
        session["expires_at"] = time.time() + 10  # within the refresh margin
    (home / "tokens.json").write_text(json.dumps(stored))
    done = cli(stack.outputs_path, home, "--json", "conversations")
    assert done.returncode == 0, done.stderr
    (fresh,) = json.loads((home / "tokens.json").read_text()).values()
    (old,) = stored.values()
    assert fresh["expires_at"] > time.time() + 600
    assert fresh["refresh_token"] == old["refresh_token"]
    assert stat.S_IMODE((home / "tokens.json").stat().st_mode) == 0o600


# --------------------------------------------------------------------------- reading and writing


def test_conversations_lists_the_demo_conversation(stack: DevStack, logged_in: dict[str, Path],
                                                   conversation: str) -> None:
    page = as_json(cli(stack.outputs_path, logged_in["alice"], "--json", "conversations"))
    assert conversation in [c["id"] for c in page["items"]]
    table = cli(stack.outputs_path, logged_in["alice"], "conversations")
    assert table.returncode == 0 and "Welcome" in table.stdout


def test_send_then_history(stack: DevStack, logged_in: dict[str, Path], conversation: str) -> None:
    text = f"hello from the cli {uuid.uuid4().hex[:6]}"
    sent = as_json(cli(stack.outputs_path, logged_in["alice"], "--json", "send", conversation, text))
    assert sent["body"] == text and sent["clientMessageId"].startswith("cli-")
    reply = as_json(cli(stack.outputs_path, logged_in["bob"], "send", conversation, "a reply",
                        "--reply-to", sent["id"], "--json"))
    assert reply["parentId"] == sent["id"]
    history = as_json(cli(stack.outputs_path, logged_in["bob"], "--json", "history", conversation,
                          "--limit", "2"))
    assert [m["id"] for m in history["items"]] == [sent["id"], reply["id"]]  # oldest first
    everything = as_json(cli(stack.outputs_path, logged_in["bob"], "--json", "history", conversation, "--all"))
    seqs = [m["seq"] for m in everything["items"]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and seqs[-1] == reply["seq"]
    table = cli(stack.outputs_path, logged_in["bob"], "history", conversation)
    assert table.returncode == 0 and text in table.stdout
    line = next(row for row in table.stdout.splitlines() if text in row)
    # the sender's display name (usersByIds), not the start of an id
    assert "alice" in line.lower() and stack.user("alice")["sub"][:8] not in line


def test_react_and_read(stack: DevStack, logged_in: dict[str, Path], conversation: str) -> None:
    sent = as_json(cli(stack.outputs_path, logged_in["alice"], "--json", "send", conversation, "react to me"))
    reacted = as_json(cli(stack.outputs_path, logged_in["bob"], "--json", "react", conversation, sent["id"], "🎉"))
    assert reacted["reactions"] == [{"emoji": "🎉", "count": 1, "userIds": [stack.user("bob")["sub"]],
                                   "reactedByMe": True}]
    removed = as_json(cli(stack.outputs_path, logged_in["bob"], "--json", "react", conversation, sent["id"],
                          "🎉", "--remove"))
    assert removed["reactions"] == []
    receipt = as_json(cli(stack.outputs_path, logged_in["bob"], "--json", "read", conversation))
    assert receipt["seq"] >= sent["seq"] and receipt["kind"] == "READ"


def test_a_message_the_cli_sends_reaches_a_web_style_subscriber_complete(
    stack: DevStack, logged_in: dict[str, Path], conversation: str
) -> None:
    """The CLI's ``sendMessage`` selects the whole ``MessageFields`` fragment: on AppSync a
    subscriber gets only the fields the publishing mutation selected, so a narrower CLI
    selection reaches the web client's ``onMessage ...MessageFields`` as an error event."""
    endpoint = endpoint_from_outputs(stack.outputs)
    fields = set(fragment_fields("MessageFields").replace("{", " ").replace("}", " ").split())

    async def scenario() -> tuple[dict[str, Any], list[Any]]:
        events: asyncio.Queue[Any] = asyncio.Queue()
        async with RealtimeConnection(endpoint, stack.token("bob")) as connection:
            await connection.subscribe("OnMessage", {"conversationId": conversation}, events.put_nowait)
            text = f"complete {uuid.uuid4().hex[:6]}"
            done = await asyncio.to_thread(cli, stack.outputs_path, logged_in["alice"], "--json", "send",
                                           conversation, text)
            sent = as_json(done)
            got = [await asyncio.wait_for(events.get(), TIMEOUT)]
            while isinstance(got[-1], dict) and got[-1]["onMessage"]["id"] != sent["id"]:
                got.append(await asyncio.wait_for(events.get(), TIMEOUT))
            return sent, got

    sent, got = run(scenario())
    assert isinstance(got[-1], dict), f"the subscriber got {got[-1]!r}, not the message"
    live = got[-1]["onMessage"]
    assert live == sent
    assert set(live) == {"id", "conversationId", "seq", "senderId", "kind", "body", "createdAt",
                         "clientMessageId", "version", "parentId", "replyCount", "lastReplyAt",
                         "replyUserIds", "reactions", "attachments", "editedAt", "deletedAt", "deletedBy",
                         "mentions", "senderBlocked", "erased"}
    assert set(live) <= fields


# --------------------------------------------------------------------------- errors


def test_a_conversation_that_is_not_yours_shows_the_error_type(
    stack: DevStack, logged_in: dict[str, Path]
) -> None:
    missing = "01JZZZZZZZZZZZZZZZZZZZZZZZ"
    for args in (("history", missing), ("send", missing, "hi"), ("tail", missing)):
        done = cli(stack.outputs_path, logged_in["alice"], *args)
        assert done.returncode == 1, (args, done.stderr)
        assert done.stderr.startswith("cloudchat: error: Forbidden: "), done.stderr
        assert done.stderr.count("\n") == 1


def test_a_stopped_stack_is_reported_as_unreachable(stack: DevStack, logged_in: dict[str, Path],
                                                    tmp_path: Path, conversation: str) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outputs = dict(stack.outputs)
    dead = f"127.0.0.1:{port}"
    for key in ("GraphQLApiUrl", "GraphQLRealtimeUrl"):
        outputs[key] = outputs[key].replace(stack.host, dead)
    outputs["CognitoEndpoint"] = outputs["AwsEndpointUrl"] = f"http://{dead}"
    path = tmp_path / "dead.json"
    path.write_text(json.dumps(outputs))
    home = tmp_path / "home"
    login = cli(path, home, "login", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert login.returncode == 4
    assert f"the stack at http://{dead} is not reachable; is `make dev` running?" in login.stderr
    # logged in (tokens copied), but the API is down
    home.mkdir(exist_ok=True)
    (session,) = json.loads((logged_in["alice"] / "tokens.json").read_text()).values()
    key = f"{outputs['GraphQLApiUrl']}#{outputs['UserPoolClientId']}"
    (home / "tokens.json").write_text(json.dumps({key: session}))
    for args in (("conversations",), ("send", conversation, "hi"), ("tail", conversation)):
        done = cli(path, home, *args)
        assert done.returncode == 4, (args, done.stderr)
        assert done.stderr == f"cloudchat: error: the stack at http://{dead}/graphql is not reachable; " \
                              "is `make dev` running?\n"


# --------------------------------------------------------------------------- live


class Lines:
    """A subprocess's output, line by line, with timeouts."""

    def __init__(self, stream: Any) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._drain, args=(stream,), daemon=True).start()

    def _drain(self, stream: Any) -> None:
        for line in stream:
            self.queue.put(line)
        self.queue.put(None)

    def next(self, timeout: float = 20) -> str:
        line = self.queue.get(timeout=timeout)
        if line is None:
            raise EOFError
        return line


@pytest.fixture
def tail_process(stack: DevStack, logged_in: dict[str, Path], conversation: str) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "CLOUDCHAT_HOME": str(logged_in["alice"])}
    process = subprocess.Popen([CLI, "--outputs", str(stack.outputs_path), "--json", "tail", conversation,
                                "--last", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_tail_shows_a_message_another_user_sends(stack: DevStack, tail_process: subprocess.Popen[str],
                                                 conversation: str) -> None:
    errors, out = Lines(tail_process.stderr), Lines(tail_process.stdout)
    assert errors.next().startswith("following Welcome")  # subscribed and caught up
    bob = stack.token("bob")

    def send(body: str, query: str) -> dict[str, Any]:
        variables = {"input": {"conversationId": conversation, "body": body, "clientMessageId": uuid.uuid4().hex}}
        return dict(run(stack.execute(bob, query, variables))["sendMessage"])

    sent = [send(f"live {i}", SEND_FULL) for i in range(2)]
    got = [json.loads(out.next()) for _ in sent]
    assert [g["message"] for g in got] == sent
    assert [(g["type"], g["source"]) for g in got] == [("message", "live")] * 2
    assert got[0]["message"]["senderId"] == stack.user("bob")["sub"]
    # A publisher that selects less than the full fragment: subscribers get an error instead
    # of the event (non-null fields would be null); tail catches up and shows it anyway.
    narrow = send("narrow selection", SEND)
    line = json.loads(out.next())
    assert (line["source"], line["message"]["seq"], line["message"]["body"]) == \
        ("catch-up", narrow["seq"], "narrow selection")
    assert "a live event had errors" in errors.next()
    # a reaction is a change to a message already shown: an update, not a new message
    run(stack.execute(bob, document("AddReaction"),
                      {"conversationId": conversation, "messageId": sent[0]["id"], "emoji": "👍"}))
    update = json.loads(out.next())
    assert (update["type"], update["message"]["seq"]) == ("update", sent[0]["seq"])
    assert update["message"]["reactions"][0]["emoji"] == "👍"
    with pytest.raises(queue.Empty):
        out.next(timeout=1.0)  # nothing twice


def test_the_follower_never_duplicates_or_skips_across_a_forced_reconnect(
    stack: DevStack, logged_in: dict[str, Path], conversation: str
) -> None:
    endpoint = endpoint_from_outputs(stack.outputs)
    auth = Authenticator(endpoint, TokenStore(logged_in["alice"]))
    bob = stack.token("bob")

    async def send(body: str) -> int:
        data = await stack.execute(bob, SEND, {"input": {"conversationId": conversation, "body": body,
                                                         "clientMessageId": uuid.uuid4().hex}})
        return int(data["sendMessage"]["seq"])

    async def scenario() -> tuple[list[Delivery], list[int], int]:
        deliveries: list[Delivery] = []
        async with Api(endpoint, lambda: auth.current().id_token) as api:
            start = int((await api.execute("query($c: ID!) { conversation(id: $c) { lastSeq } }",
                                           {"c": conversation}))["conversation"]["lastSeq"])
            follower = Follower(api, conversation, after_seq=start, on_delivery=deliveries.append,
                                backoff=Backoff(initial=0.1, maximum=0.5))
            task = asyncio.create_task(follower.run())
            await asyncio.wait_for(follower.connected.wait(), 15)
            sent = [await send(f"before {i}") for i in range(5)]
            follower.drop()  # mid-stream, and reconnecting on its own with backoff
            sent += [await send(f"during {i}") for i in range(5)]
            while follower.connections < 2:
                await asyncio.sleep(0.05)
            sent += [await send(f"after {i}") for i in range(5)]
            deadline = time.monotonic() + 15
            while follower.last_seq < sent[-1] and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # room for a late duplicate
            task.cancel()
            return deliveries, sent, follower.connections

    deliveries, sent, connections = run(scenario())
    seqs = [d.seq for d in deliveries if d.kind == "new"]
    assert connections >= 2
    assert seqs == sent == list(range(sent[0], sent[0] + 15))
    assert "catch-up" in {d.source for d in deliveries}


def test_doctor_reports_no_loss_repeat_or_disorder(stack: DevStack, logged_in: dict[str, Path],
                                                   conversation: str) -> None:
    report = as_json(cli(stack.outputs_path, logged_in["alice"], "--json", "doctor", conversation,
                         "--count", "24"))
    assert report["ok"] is True
    assert (report["missed"], report["duplicated"], report["out_of_order"]) == (0, 0, 0)
    assert report["sent"] == 24 and report["reconnections"] >= 1
    assert report["received_live"] + report["recovered_by_catch_up"] == 24
    assert report["recovered_by_catch_up"] >= 24 // 3  # everything sent while disconnected


# --------------------------------------------------------------------------- seed


def test_seed_creates_users_conversations_threads_and_reactions_idempotently(
    stack: DevStack, logged_in: dict[str, Path]
) -> None:
    args = ("--json", "seed", "--users", "3", "--conversations", "2", "--messages", "4", "--prefix", "T")
    first = as_json(cli(stack.outputs_path, logged_in["alice"], *args))
    assert first["mode"] == "local"
    assert len(first["users"]) == 3 and len(first["conversations"]) == 2 and first["messages"] == 8
    seeded = {c["id"] for c in first["conversations"]}
    # alice (logged in) is in the seeded groups; a seeded user can sign in
    page = as_json(cli(stack.outputs_path, logged_in["alice"], "--json", "conversations", "--limit", "50"))
    mine = {c["id"]: c for c in page["items"]}
    assert seeded <= set(mine)
    assert all(mine[c]["lastSeq"] == 4 for c in seeded)
    second = as_json(cli(stack.outputs_path, logged_in["alice"], *args))
    assert {c["id"] for c in second["conversations"]} == seeded
    page = as_json(cli(stack.outputs_path, logged_in["alice"], "--json", "conversations", "--limit", "50"))
    assert all(c["lastSeq"] == 4 for c in page["items"] if c["id"] in seeded)  # no duplicates
    login = cli(stack.outputs_path, logged_in["nobody"].parent / "seeded", "login",
                first["users"][0]["username"], "--password-stdin", stdin=PASSWORD + "\n")
    assert login.returncode == 0, login.stderr


def test_seed_says_when_it_cannot_create_users(stack: DevStack, logged_in: dict[str, Path],
                                               tmp_path: Path) -> None:
    """A stack that is not local (no AwsEndpointUrl) needs an admin for adminCreateUser."""
    outputs = {k: v for k, v in stack.outputs.items() if k not in ("AwsEndpointUrl", "IamAccessKeyId",
                                                                   "IamSecretAccessKey")}
    path = tmp_path / "deployed.json"
    path.write_text(json.dumps(outputs))
    anonymous = cli(path, tmp_path / "nobody", "seed")
    assert anonymous.returncode == 1
    assert "cannot seed this stack" in anonymous.stderr and "not logged in" in anonymous.stderr
    not_admin = cli(path, logged_in["alice"], "seed")
    assert not_admin.returncode == 1
    assert "not in the admin group" in not_admin.stderr


def test_seed_on_a_deployed_stack_uses_admin_create_user(stack: DevStack, tmp_path: Path) -> None:
    """The deployed path, run against the local stack with its moto endpoint hidden: an admin
    creates the users with the adminCreateUser mutation and writes every message."""
    from cloudchat_local.provision import create_demo_users

    create_demo_users(stack.outputs["AwsEndpointUrl"], stack.outputs["UserPoolId"],
                      credentials=(stack.outputs["IamAccessKeyId"], stack.outputs["IamSecretAccessKey"]),
                      users={"root": ("admin",)}, password=PASSWORD, domain="ops.example.com")
    outputs = {k: v for k, v in stack.outputs.items() if k != "AwsEndpointUrl"}
    path = tmp_path / "deployed.json"
    path.write_text(json.dumps(outputs))
    home = tmp_path / "admin"
    login = cli(path, home, "login", "root@ops.example.com", "--password-stdin", stdin=PASSWORD + "\n")
    assert login.returncode == 0, login.stderr
    args = ("--json", "seed", "--users", "2", "--conversations", "1", "--messages", "2",
            "--email-domain", "invited.example.com", "--prefix", "Ops")
    result = as_json(cli(path, home, *args))
    assert result["mode"].startswith("deployed")
    assert [u["username"] for u in result["users"]] == ["maria@invited.example.com", "kenji@invited.example.com"]
    (conversation,) = result["conversations"]
    assert conversation["members"] == 3 and conversation["messages"] == 2
    # seed finds its groups by title in the conversation list, which is read from a GSI
    # (eventually consistent, as on AWS: the e2e stack lags it by 0.5 s): re-run once it shows
    _until_listed(path, home, conversation["id"])
    again = as_json(cli(path, home, *args))  # the users exist now (Conflict -> looked up)
    assert [u["id"] for u in again["users"]] == [u["id"] for u in result["users"]]
    assert again["conversations"][0]["id"] == conversation["id"]
