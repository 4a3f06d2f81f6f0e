"""`cloudchat send --mention USER` and `@name` in the text (issue 14 part 6): resolution
against the conversation's members, then through a running local stack."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cloudchat_cli.errors import CliError
from cloudchat_cli.mentions import resolve
from tests.cli.test_cli import as_json, cli, homes, logged_in  # noqa: F401 (fixtures)
from tests.e2e.conftest import DevStack


@pytest.fixture
def sessions(request: pytest.FixtureRequest) -> dict[str, Path]:
    """test_cli's ``logged_in``: alice's and bob's CLI homes, logged in."""
    return request.getfixturevalue("logged_in")  # type: ignore[no-any-return]


MEMBERS = [
    {"id": "u-alice", "username": "alice@example.com", "displayName": "Alice Liddell"},
    {"id": "u-bob", "username": "bob@example.com", "displayName": "Bob"},
    {"id": "u-bobby", "username": "bobby@example.com", "displayName": "Bob Tables"},
]


def test_mention_flags_name_members_by_id_username_or_display_name() -> None:
    assert resolve("hi", ["u-bob"], MEMBERS) == ["u-bob"]
    assert resolve("hi", ["alice@example.com", "ALICE LIDDELL", "alice"], MEMBERS) == ["u-alice"]
    assert resolve("hi", ["bobtables", "bobby"], MEMBERS) == ["u-bobby"]


@pytest.mark.parametrize("asked", ["mallory", "u-mallory", "@"])
def test_a_mention_flag_naming_no_member_is_an_error(asked: str) -> None:
    with pytest.raises(CliError, match="no member"):
        resolve("hi", [asked], MEMBERS)


def test_an_ambiguous_mention_flag_is_an_error() -> None:
    with pytest.raises(CliError, match="several members"):
        resolve("hi", ["bob"], [*MEMBERS, {"id": "u-bob2", "username": "bob", "displayName": "Robert"}])


def test_at_names_in_the_text_mention_the_one_member_they_name() -> None:
    text = "@alice, ask @Bob. Mail carol@example.com, not @nobody (@bob again)"
    assert resolve(text, [], MEMBERS) == ["u-alice", "u-bob"]
    assert resolve("@bob", ["u-bobby"], MEMBERS) == ["u-bobby", "u-bob"]  # flags first


def test_send_with_mentions_through_the_stack(stack: DevStack, sessions: dict[str, Path]) -> None:
    conversation = str(stack.outputs["DemoConversationId"])
    bob = stack.user("bob")["sub"]
    carol = stack.user("carol")["sub"]
    sent = as_json(cli(stack.outputs_path, sessions["alice"], "--json", "send", conversation,
                       "ping @bob", "--mention", "carol"))
    assert sent["mentions"] == [carol, bob]
    table = cli(stack.outputs_path, sessions["alice"], "send", conversation, "again @bob")
    assert table.returncode == 0 and "mentions" in table.stdout, table.stdout
    refused = cli(stack.outputs_path, sessions["alice"], "send", conversation, "hi", "--mention", "mallory")
    assert refused.returncode != 0 and "no member" in refused.stderr
    # bob's list counts the unread mentions once the stream consumer has run
    deadline = time.monotonic() + 20
    while True:
        page = as_json(cli(stack.outputs_path, sessions["bob"], "--json", "conversations"))
        mine = next(c for c in page["items"] if c["id"] == conversation)
        if mine["unreadMentionCount"] >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert mine["unreadMentionCount"] >= 2, mine
    listed = cli(stack.outputs_path, sessions["bob"], "conversations")
    assert f"(@{mine['unreadMentionCount']})" in listed.stdout
