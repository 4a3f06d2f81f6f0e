"""`cloudchat members` against a running local stack (the console script as a subprocess):
a page, --all across pages, --next-token, and a non-member refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import PASSWORD, as_json, cli
from tests.e2e.conftest import DevStack, run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def homes(stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli-members-homes")
    homes = {name: base / name for name in ("alice", "carol")}
    for name, home in homes.items():
        done = cli(stack.outputs_path, home, "login", name, "--password-stdin", stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    return homes


def test_members_by_page_and_all(stack: DevStack, homes: dict[str, Path]) -> None:
    out, alice = stack.outputs_path, homes["alice"]
    demo = str(stack.outputs["DemoConversationId"])  # alice, bob, carol and mod are in it
    first = as_json(cli(out, alice, "--json", "members", demo, "--limit", "2"))
    assert len(first["items"]) == 2 and first["nextToken"]
    rest = as_json(cli(out, alice, "--json", "members", demo, "--limit", "2",
                       "--next-token", first["nextToken"]))
    everyone = as_json(cli(out, alice, "--json", "members", demo, "--limit", "1", "--all"))
    ids = [m["userId"] for m in everyone["items"]]
    assert ids == sorted(ids) and everyone["nextToken"] is None
    assert ids == [m["userId"] for m in first["items"] + rest["items"]]
    assert stack.user("alice")["sub"] in ids and len(ids) >= 4
    text = cli(out, alice, "members", demo)
    assert text.returncode == 0 and f"{len(ids)} member(s)" in text.stdout and "owner" in text.stdout
    pair = run(stack.execute(stack.token("alice"), "CreateConversation", {"input": {
        "memberIds": [stack.user("bob")["sub"]]}}))["createConversation"]["id"]
    refused = cli(out, homes["carol"], "members", pair)  # carol is not in alice and bob's
    assert refused.returncode != 0 and "not a member" in refused.stderr
