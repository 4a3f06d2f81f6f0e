"""`cloudchat block|unblock|blocked` against a running local stack (the console script as a
subprocess): block by name or id, the list, a collapsed history, unblock, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import PASSWORD, as_json, cli
from tests.e2e.conftest import DevStack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def homes(stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli-block-homes")
    homes = {name: base / name for name in ("alice", "carol")}
    for name, home in homes.items():
        done = cli(stack.outputs_path, home, "login", name, "--password-stdin", stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    return homes


def test_block_list_history_and_unblock(stack: DevStack, homes: dict[str, Path]) -> None:
    out, carol = stack.outputs_path, homes["carol"]
    alice = stack.user("alice")["sub"]
    demo = str(stack.outputs["DemoConversationId"])  # alice, bob, carol and mod are in it
    sent = as_json(cli(out, homes["alice"], "--json", "send", demo, "from alice, to be hidden"))
    done = cli(out, carol, "block", "ALICE")  # by display name, in any case
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("blocked alice (since ")
    listed = as_json(cli(out, carol, "--json", "blocked"))["items"]
    assert [b["userId"] for b in listed] == [alice]
    assert "alice" in cli(out, carol, "blocked").stdout
    history = cli(out, carol, "history", demo, "--limit", "5")
    assert "(message from a blocked user)" in history.stdout
    assert "from alice, to be hidden" not in history.stdout
    raw = as_json(cli(out, carol, "--json", "history", demo, "--limit", "5"))["items"]
    mine = next(m for m in raw if m["id"] == sent["id"])
    assert mine["senderBlocked"] is True and mine["body"] == "from alice, to be hidden"
    again = as_json(cli(out, carol, "--json", "block", alice))  # by id: a no-op
    assert again == listed[0]
    assert cli(out, carol, "unblock", alice).stdout.startswith("unblocked alice")
    assert as_json(cli(out, carol, "--json", "unblock", alice)) == {"userId": alice, "wasBlocked": False}
    assert as_json(cli(out, carol, "--json", "blocked"))["items"] == []


def test_bad_input_is_a_clear_error(stack: DevStack, homes: dict[str, Path]) -> None:
    out, carol = stack.outputs_path, homes["carol"]
    itself = cli(out, carol, "block", stack.user("carol")["sub"])
    assert itself.returncode == 1 and "BadRequest" in itself.stderr and "yourself" in itself.stderr
    nobody = cli(out, carol, "block", "Nobody At All")
    assert nobody.returncode == 1 and "no user named" in nobody.stderr
    usage = cli(out, carol, "block")
    assert usage.returncode == 2
