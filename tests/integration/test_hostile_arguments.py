"""Hostile arguments through the handlers (issue 12, defects 11-13 and the fuzzing): every
answer is a documented errorType, never InternalFailure, and a refused call writes nothing.

Seeds are the events in events/*.json, pointed at a real conversation and message so the
calls reach the domain code; each argument is replaced by boundary values (far past and
future dates, huge and negative integers, every Unicode category, nested lists)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudchat.errors import ERROR_TYPES, INTERNAL_FAILURE
from resolvers import conversations, messages, receipts, users
from tests.integration.conftest import EVENTS, USERS, LambdaContext, Stack, error_type, identity

FIELDS = {  # fieldName -> resolver module (as template.yaml wires them)
    **dict.fromkeys(["createConversation", "conversation", "conversations", "addMembers",
                     "removeMember", "leaveConversation", "setMemberRole",
                     "renameConversation", "muteConversation"], conversations),
    **dict.fromkeys(["sendMessage", "editMessage", "deleteMessage", "addReaction",
                     "removeReaction", "messages", "messagesSince", "thread", "editHistory",
                     "requestUpload", "reportMessage", "reportedMessages"], messages),
    **dict.fromkeys(["markRead", "markDelivered", "readReceipts", "sendTyping"], receipts),
    **dict.fromkeys(["me", "updateProfile", "users", "usersByIds", "heartbeat", "presence"],
                    users),
    **dict.fromkeys(["blockUser", "unblockUser", "blockedUsers"], users),
}
SEEDS = sorted(p.stem for p in EVENTS.glob("*.json")
               if p.stem.split(".")[0] in ("Query", "Mutation")
               and p.stem.split(".")[1] in FIELDS)

DATES = ["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00",
         "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z", "2030-02-30T00:00:00Z",
         "2030-01-01T00:00:00", "2030-01-01T24:00:00Z", "2030-01-01T00:00:00+25:00",
         "+2030-01-01T00:00:00Z", "2030-01-01T00:00:00.123456789Z", "", "now", "9" * 400]
INTS = [-(2**63), -(2**31), -1, 0, 1, 2**31 - 1, 2**31, 2**40, 2**53 + 1, 2**63, 10**40]
TEXTS = ["", " ", "\x00\x1b[31m", "a\u202eb\u2066\u200b\ufeff\U000e0041\u2028",
         "x" * 100_000, "\U0001F600" * 5000, "\u0301", "{\"$ne\": 1} ../../%00"]


def _arg_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every leaf argument (and every list) of an event's arguments."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _arg_paths(v, (*path, k))]
    if isinstance(value, list):
        return [path, *[p for i, v in enumerate(value) for p in _arg_paths(v, (*path, i))]]
    return [path]


def _set(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    holder: Any = event["arguments"]
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value


class World:
    """A conversation of alice and bob with one message, and the seeds pointed at them."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        conv = stack.invoke(conversations, "Mutation.createConversation.group", "alice",
                            {"input": {"memberIds": [USERS["bob"]], "title": "t"}})
        self.cid = conv["id"]
        msg = stack.invoke(messages, "Mutation.sendMessage.ok", "alice",
                           {"input": {"conversationId": self.cid, "body": "hello",
                                      "clientMessageId": "hostile-seed-1"}})
        self.mid = msg["id"]

    def event(self, seed: str) -> dict[str, Any]:
        event = copy.deepcopy(json.loads((EVENTS / f"{seed}.json").read_text()))
        event["identity"] = identity("alice")
        text = json.dumps(event["arguments"])
        seeded = json.loads((EVENTS / f"{seed}.json").read_text())["arguments"]
        for key in ("conversationId", "id", "messageId", "rootId"):
            for holder in (seeded, seeded.get("input") or {}):
                old = holder.get(key) if isinstance(holder, dict) else None
                if isinstance(old, str):
                    new = self.mid if key in ("messageId", "rootId") else self.cid
                    text = text.replace(old, new)
        event["arguments"] = json.loads(text)
        return event

    def call(self, seed: str, path: tuple[Any, ...], value: Any) -> tuple[Any, bool]:
        """(the answer, whether the table changed)."""
        event = self.event(seed)
        _set(event, path, value)
        before = self.stack.raw_items()
        module = FIELDS[seed.split(".")[1]]
        result = module.lambda_handler(event, LambdaContext())
        return result, self.stack.raw_items() != before


@pytest.fixture
def world(stack: Stack) -> World:
    return World(stack)


def _check(world: World, seed: str, path: tuple[Any, ...], value: Any) -> None:
    result, changed = world.call(seed, path, value)
    kind = error_type(result)
    assert kind != INTERNAL_FAILURE, (seed, path, repr(value)[:80], result)
    assert kind is None or kind in ERROR_TYPES, (seed, path, result)
    if kind == "BadRequest":
        assert not changed, (seed, path, repr(value)[:80], "a refused call wrote")


def _typed_paths(kind: type) -> list[tuple[str, tuple[Any, ...]]]:
    out = []
    for seed in SEEDS:
        args = json.loads((EVENTS / f"{seed}.json").read_text())["arguments"]
        for path in _arg_paths(args):
            holder: Any = args
            for step in path:
                holder = holder[step]
            if isinstance(holder, kind) and not isinstance(holder, bool):
                out.append((seed, path))
    return out


def test_a_valid_but_out_of_range_mute_time_is_a_bad_request(world: World) -> None:
    """Defect 12: 0001-01-01T00:00:00+01:00 is a valid AWSDateTime whose UTC time is before
    year 1: it crashed with OverflowError (InternalFailure)."""
    result, changed = world.call("Mutation.muteConversation.ok", ("until",),
                                 "0001-01-01T00:00:00+01:00")
    assert error_type(result) == "BadRequest" and not changed, result
    assert "between" in result["error"]["message"]


@pytest.mark.parametrize("value", DATES)
def test_every_date_argument_with_boundary_dates(world: World, value: str) -> None:
    _check(world, "Mutation.muteConversation.ok", ("until",), value)


@pytest.mark.parametrize("value", INTS)
def test_every_integer_argument_with_boundary_integers(world: World, value: int) -> None:
    for seed, path in _typed_paths(int):
        _check(world, seed, path, value)


@pytest.mark.parametrize("value", TEXTS, ids=range(len(TEXTS)))
def test_every_string_argument_with_hostile_text(world: World, value: str) -> None:
    for seed, path in _typed_paths(str):
        _check(world, seed, path, value)


@pytest.mark.parametrize("value", [[], [None], ["x"] * 1000, [[[]]], [{"a": 1}], {"a": []}])
def test_every_list_argument_with_boundary_lists(world: World, value: Any) -> None:
    for seed, path in _typed_paths(list):
        _check(world, seed, path, value)


def _hostile_values() -> st.SearchStrategy[Any]:
    return (st.text(st.characters(codec="utf-8"), max_size=40)
            | st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Co", "Mn", "So"]),
                      min_size=1, max_size=8)
            | st.integers() | st.sampled_from(DATES) | st.none()
            | st.lists(st.text(max_size=5), max_size=120))


@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_every_handler_from_its_seed(world: World, data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS))
    args = json.loads((EVENTS / f"{seed}.json").read_text())["arguments"]
    paths = _arg_paths(args)
    if not paths or paths == [()]:
        return
    path = data.draw(st.sampled_from(paths))
    if not path:
        return
    _check(world, seed, path, data.draw(_hostile_values()))


# ------------------------------------------------------- spoofable names, report reasons
def test_a_report_reason_with_control_characters_is_refused_and_not_stored(world: World) -> None:
    """Defect 13: NUL and escape sequences were stored and shown to moderators."""
    for reason in ["spam\x00hidden", "\x1b[2J\x1b[Hall clear"]:
        result, changed = world.call("Mutation.reportMessage.ok", ("reason",), reason)
        assert error_type(result) == "BadRequest" and not changed, result
    result, changed = world.call("Mutation.reportMessage.ok", ("reason",), "spam\nreally")
    assert result["reason"] == "spam\nreally" and changed


@pytest.mark.parametrize(("seed", "path"), [
    ("Mutation.requestUpload.ok", ("fileName",)),
    ("Mutation.renameConversation.ok", ("title",)),
    ("Mutation.updateProfile.ok", ("displayName",)),
    ("Mutation.createConversation.group", ("input", "title")),
])
@pytest.mark.parametrize("spoof", ["invoice\u202efdp.exe", "pay\u200bpal", "admin\u2066\u2069",
                                   "\ufeffbob", "x\U000e0041"])
def test_spoofable_names_are_refused(world: World, seed: str, path: tuple[str, ...],
                                     spoof: str) -> None:
    """Defect 11: "invoice\\u202efdp.exe" shows as "invoiceexe.pdf"; it reached
    Content-Disposition. Names a human reads refuse bidi controls and invisible characters."""
    result, changed = world.call(seed, path, spoof)
    assert error_type(result) == "BadRequest" and not changed, result
    assert "invisible or text-direction" in result["error"]["message"]


def test_download_urls_encode_the_file_name_per_rfc_6266(world: World) -> None:
    import urllib.parse

    import requests

    from tests.integration.test_media import PNG, send_with, upload

    ticket = world.stack.invoke(messages, "Mutation.requestUpload.ok", "alice", {
        "conversationId": world.cid, "fileName": 'Zoë\'s "plan";.png',
        "contentType": "image/png", "size": len(PNG)}, replace_args=True)
    upload(ticket)
    msg = send_with(world.stack, world.cid, [ticket["uploadId"]], body=None)
    (att,) = msg["attachments"]
    query = urllib.parse.parse_qs(urllib.parse.urlparse(att["url"]).query)
    header = query["response-content-disposition"][0]
    assert header == ("inline; filename=\"Zoe's _plan_;.png\"; "
                      "filename*=UTF-8''Zo%C3%AB%27s%20%22plan%22%3B.png")
    got = requests.get(att["url"], timeout=10)
    assert got.content == PNG and got.headers["Content-Disposition"] == header
