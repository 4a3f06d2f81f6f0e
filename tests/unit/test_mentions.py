"""Mentions without AWS: input validation, the checks a send adds, the outsiders of a
refused send, the unread count of a member item, and the client library's variables."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from cloudchat import validation
from cloudchat.errors import BadRequest
from cloudchat.models import Member, Role
from cloudchat.store import _codec as codec
from cloudchat.store._mentions import mention_checks, outsiders
from cloudchat_client import _send


def test_mentions_collapse_duplicates_keeping_the_first_order() -> None:
    assert validation.mentions(None) == ()
    assert validation.mentions([]) == ()
    assert validation.mentions(["b", "a", "b", "c", "a"]) == ("b", "a", "c")
    assert validation.mentions(["u"] * 500) == ("u",)  # 500 entries, one member
    assert len(validation.mentions([f"u{i}" for i in range(50)])) == 50


@pytest.mark.parametrize("bad", ["u1", {"u1": True}, [""], ["a b"], [1], [None], [["u"]],
                                 ["x" * 129], [f"u{i}" for i in range(51)]])
def test_bad_mentions_are_bad_requests(bad: Any) -> None:
    with pytest.raises(BadRequest):
        validation.mentions(bad)


def test_the_send_checks_each_mentioned_member_item_but_the_senders() -> None:
    checks = mention_checks("T", "C1", "alice", ["bob", "alice", "carol", "bob"])
    assert list(checks) == ["mention:bob", "mention:carol"]  # once each, never the sender
    check = checks["mention:bob"]["ConditionCheck"]
    assert check["Key"] == {"PK": {"S": "CONV#C1"}, "SK": {"S": "MEMBER#bob"}}
    assert check["ConditionExpression"] == "attribute_exists(PK)"
    assert mention_checks("T", "C1", "alice", []) == {}


def test_outsiders_are_the_mentions_whose_check_failed() -> None:
    assert outsiders({"mention:c": {}, "conversation": {}, "mention:d": {}}) == ("c", "d")
    assert outsiders({"member": {}}) == ()


def test_unread_mentions_count_the_seqs_above_the_read_marker_and_joining() -> None:
    member = Member("c", "u", Role.MEMBER, "2026-01-01T00:00:00.000Z", joined_seq=2, read_seq=5,
                    mention_seqs=frozenset({1, 3, 5, 6, 9}))
    assert member.unread_mentions == 2
    member.read_seq = 0
    assert member.unread_mentions == 4  # 3, 5, 6, 9: nothing from before joining
    decoded = codec.member({**codec.member_item(member), "mentionSeqs": {6, 9}})
    assert decoded.mention_seqs == {6, 9} and decoded.unread_mentions == 2


class Recorder:
    def __init__(self) -> None:
        self.variables: list[Mapping[str, Any]] = []

    async def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        self.variables.append(dict(variables or {}))
        return {"sendMessage": {"id": "m"}}


def test_the_client_library_sends_mentions_only_when_there_are_some() -> None:
    api = Recorder()
    asyncio.run(_send.send_message(api, "c", "hi", client_message_id="cmid-0001", mentions=["a", "b"]))
    asyncio.run(_send.send_message(api, "c", "hi", client_message_id="cmid-0002", mentions=[]))
    asyncio.run(_send.send_message(api, "c", "hi", client_message_id="cmid-0003"))
    assert [v["input"].get("mentions") for v in api.variables] == [["a", "b"], None, None]
