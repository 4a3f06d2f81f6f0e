"""`cloudchat notifications` and `cloudchat mails` against a running local stack (the
installed console script as a subprocess)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cli.test_cli import PASSWORD, as_json, cli
from tests.e2e.conftest import DevStack, run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def homes(stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli-notices")
    homes = {name: base / name for name in ("alice", "bob")}
    for name, home in homes.items():
        done = cli(stack.outputs_path, home, "login", name, "--password-stdin", stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    return homes


def test_notifications_shows_and_changes_the_settings(stack: DevStack, homes: dict[str, Path]) -> None:
    bob = homes["bob"]
    shown = as_json(cli(stack.outputs_path, bob, "--json", "notifications"))
    assert (shown["email"], shown["push"], shown["emailAvailable"]) == (False, True, True)
    on = as_json(cli(stack.outputs_path, bob, "--json", "notifications", "--email", "on", "--push", "off"))
    assert (on["email"], on["push"], on["emailAddress"]) == (True, False, stack.user("bob")["username"])
    table = cli(stack.outputs_path, bob, "notifications")
    assert table.returncode == 0, table.stderr
    assert f"e-mail notices: on, to {stack.user('bob')['username']}" in table.stdout
    assert "push notices:   off" in table.stdout
    bad = cli(stack.outputs_path, bob, "notifications", "--email", "maybe")
    assert bad.returncode == 2 and "--email" in bad.stderr  # usage error, nothing sent
    off = as_json(cli(stack.outputs_path, bob, "--json", "notifications", "--email", "off"))
    assert (off["email"], off["push"], off["emailAddress"]) == (False, False, None)


def test_mails_lists_the_notices_the_stack_sent(stack: DevStack, homes: dict[str, Path]) -> None:
    bob = homes["bob"]
    address = stack.user("bob")["username"]
    as_json(cli(stack.outputs_path, bob, "--json", "notifications", "--email", "on"))
    # a new conversation: the demo one notified bob at start (one notice per window)
    made = run(stack.execute(stack.token("alice"), "mutation($i: CreateConversationInput!) { "
                             "createConversation(input: $i) { id } }",
                             {"i": {"memberIds": [stack.user("bob")["sub"]], "title": "CLI mail"}}))
    cid = made["createConversation"]["id"]
    as_json(cli(stack.outputs_path, homes["alice"], "--json", "send", cid, "cli mail check"))
    deadline = time.monotonic() + 20
    while True:
        mails = as_json(cli(stack.outputs_path, bob, "--json", "mails", "--to", address))
        if any(m["subject"].endswith(" in CLI mail") and "cli mail check" not in m["body"]
               for m in mails):
            break
        assert time.monotonic() < deadline, mails
        time.sleep(0.3)
    table = cli(stack.outputs_path, bob, "mails", "--to", address)
    assert table.returncode == 0 and f"--- to {address}" in table.stdout and "Subject:" in table.stdout
    nobody = as_json(cli(stack.outputs_path, bob, "--json", "mails", "--to", "nobody@example.com"))
    assert nobody == []
