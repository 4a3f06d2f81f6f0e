"""`cloudchat search` against a running local stack (the installed console script)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.cli.test_cli import PASSWORD, as_json, cli
from tests.e2e.conftest import DevStack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def homes(stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli-search-homes")
    out = {name: base / name for name in ("alice", "bob")}
    for name, home in out.items():
        done = cli(stack.outputs_path, home, "login", name, "--password-stdin", stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    return out


def test_search_finds_highlights_and_pages(stack: DevStack, homes: dict[str, Path]) -> None:
    conversation = str(stack.outputs["DemoConversationId"])
    word = f"kumquat{uuid.uuid4().hex[:4]}"
    sent = [as_json(cli(stack.outputs_path, homes["alice"], "--json", "send", conversation,
                        f"Fresh {word.upper()} number {i}")) for i in range(3)]
    found = as_json(cli(stack.outputs_path, homes["bob"], "--json", "search", word,
                        "--conversation", conversation))
    assert [m["id"] for m in found["items"]] == [m["id"] for m in reversed(sent)]
    hit = found["items"][0]
    assert [hit["body"][s["start"]:s["end"]] for s in hit["matches"]] == [word.upper()]
    # across all of bob's conversations, paged two at a time until --limit
    two = as_json(cli(stack.outputs_path, homes["bob"], "--json", "search", f"fresh {word[:5]}",
                      "--limit", "2"))
    assert [m["id"] for m in two["items"]] == [sent[2]["id"], sent[1]["id"]] and two["nextToken"]
    table = cli(stack.outputs_path, homes["bob"], "search", word)
    assert table.returncode == 0 and "3 message(s)" in table.stdout and word.upper() in table.stdout
    bad = cli(stack.outputs_path, homes["bob"], "search", "🎉")
    assert bad.returncode == 1 and "BadRequest" in bad.stderr
