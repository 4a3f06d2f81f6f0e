"""``cloudchat delete-conversation`` (the console script, as a subprocess) and the library's
``CloudChat.delete_conversation`` against a running local stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudchat_cli.delete_conversation import confirmed
from cloudchat_cli.errors import CliError
from cloudchat_client import CloudChat
from cloudchat_client.errors import Forbidden
from tests.cli.test_cli import PASSWORD, as_json, cli
from tests.e2e.conftest import DevStack, run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory, stack: DevStack) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli-delete-homes")
    homes = {name: base / name for name in ("alice", "bob")}
    for name, home in homes.items():
        done = cli(stack.outputs_path, home, "login", name, "--password-stdin", stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    return homes


def new_group(stack: DevStack) -> str:
    async def go() -> str:
        async with CloudChat.from_outputs(stack.outputs_path) as chat:
            await chat.sign_in("alice", stack.user("alice")["password"])
            made = await chat.create_conversation([stack.user("bob")["sub"]], title="cli delete")
            await chat.send_message(made["id"], "soon gone")
            return str(made["id"])

    return str(run(go()))


def test_without_yes_nothing_is_deleted(stack: DevStack, homes: dict[str, Path]) -> None:
    cid = new_group(stack)
    done = cli(stack.outputs_path, homes["alice"], "delete-conversation", cid)
    assert done.returncode == 1 and "pass --yes" in done.stderr, done.stderr
    assert as_json(cli(stack.outputs_path, homes["alice"], "--json", "history", cid))


def test_a_member_is_refused_and_the_owner_deletes(stack: DevStack, homes: dict[str, Path]) -> None:
    cid = new_group(stack)
    refused = cli(stack.outputs_path, homes["bob"], "delete-conversation", cid, "--yes")
    assert refused.returncode == 1 and refused.stderr.startswith("cloudchat: error: Forbidden: ")
    done = as_json(cli(stack.outputs_path, homes["alice"], "--json", "delete-conversation", cid, "--yes"))
    assert done["conversationId"] == cid and done["kind"] == "GROUP" and done["memberCount"] == 2
    assert done["deletedBy"] == stack.user("alice")["sub"]
    after = cli(stack.outputs_path, homes["alice"], "history", cid)
    assert after.returncode == 1 and "Forbidden" in after.stderr
    text = cli(stack.outputs_path, homes["alice"], "delete-conversation", cid, "--yes")
    assert text.returncode == 1 and "Forbidden" in text.stderr  # deleted twice


def test_the_library_method_deletes_and_types_its_refusals(stack: DevStack) -> None:
    cid = new_group(stack)

    async def go() -> None:
        async with CloudChat.from_outputs(stack.outputs_path) as bob:
            await bob.sign_in("bob", stack.user("bob")["password"])
            with pytest.raises(Forbidden):
                await bob.delete_conversation(cid)
        async with CloudChat.from_outputs(stack.outputs_path) as alice:
            await alice.sign_in("alice", stack.user("alice")["password"])
            done = await alice.delete_conversation(cid)
            assert done["conversationId"] == cid and done["deletedAt"].endswith("Z")
            with pytest.raises(Forbidden):
                await alice.messages_since(cid, 0)

    run(go())


def test_confirmation_at_a_terminal_wants_the_id_typed_back() -> None:
    assert confirmed("C1", True, interactive=False)
    assert confirmed("C1", False, interactive=True, ask=lambda _: " C1\n")
    assert not confirmed("C1", False, interactive=True, ask=lambda _: "yes")
    with pytest.raises(CliError, match="--yes"):
        confirmed("C1", False, interactive=False)
