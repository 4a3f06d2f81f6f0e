"""Authenticated ciphertexts (issue 12, defect 5): someone with write access to the table
tampers with raw message items in moto; every read of the tampered message is an
``IntegrityError`` (the documented errorType for stored data that fails its check), never
a wrong answer. Bodies are bound (AES-GCM associated data) to conversation, message id,
key version, body version, seq, sender, kind and a digest of the attachments; the store
checks that a message item sits at its own seq and that its versions are in order.

Old items (written before the bound format: no ``f`` on their bodies) still read."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from cloudchat import api
from cloudchat.crypto import seal
from resolvers import messages
from tests.integration.conftest import BUCKET, TABLE, USERS, Stack, error_type
from tests.integration.test_messages import new_conversation, send, since


def ddb() -> Any:
    return boto3.client("dynamodb")


def item(cid: str, seq: int) -> dict[str, Any]:
    return ddb().get_item(TableName=TABLE, Key={"PK": {"S": f"CONV#{cid}"},
                                                "SK": {"S": f"MSG#{seq:012d}"}})["Item"]


def put(raw: dict[str, Any]) -> None:
    ddb().put_item(TableName=TABLE, Item=raw)
    api.reset()  # a new container: nothing remembered from before the tampering


def edited(stack: Stack) -> tuple[str, dict[str, Any]]:
    """A conversation whose message 1 says "I will pay 10 EUR", edited to "I will pay 0 EUR"."""
    cid = new_conversation(stack)
    msg = send(stack, cid, "I will pay 10 EUR", "cmid-integrity-1")
    out = stack.invoke(messages, "Mutation.editMessage.ok", "alice", {"input": {
        "conversationId": cid, "messageId": msg["id"], "body": "I will pay 0 EUR",
        "expectedVersion": 1}})
    assert out["version"] == 2, out
    return cid, msg


def reads(stack: Stack, cid: str, mid: str) -> list[Any]:
    """Every way a member reads the message: catch-up, the newest page, edit history."""
    return [since(stack, cid, 0, "bob"),
            stack.invoke(messages, "Query.messages.first-page", "bob",
                         {"conversationId": cid, "limit": 50}),
            stack.invoke(messages, "Query.editHistory.ok", "alice",
                         {"conversationId": cid, "messageId": mid})]


def assert_integrity_errors(stack: Stack, cid: str, mid: str) -> None:
    for result in reads(stack, cid, mid):
        assert error_type(result) == "IntegrityError", result
        assert "10 EUR" not in repr(result)


def test_untampered_messages_read(stack: Stack) -> None:
    cid, msg = edited(stack)
    catch_up, newest, history = reads(stack, cid, msg["id"])
    assert [m["body"] for m in catch_up["items"]] == ["I will pay 0 EUR"]
    assert [m["body"] for m in newest["items"]] == ["I will pay 0 EUR"]
    assert [v["body"] for v in history] == ["I will pay 10 EUR", "I will pay 0 EUR"]
    assert all(b["M"]["f"]["N"] == "2" for b in item(cid, 1)["bodies"]["L"])


def test_rolling_an_edit_back_by_reordering_versions(stack: Stack) -> None:
    cid, msg = edited(stack)
    raw = item(cid, 1)
    raw["bodies"]["L"].reverse()  # the first version is now the "current" one
    put(raw)
    assert_integrity_errors(stack, cid, msg["id"])


def test_rolling_an_edit_back_by_swapping_ciphertexts_between_versions(stack: Stack) -> None:
    cid, msg = edited(stack)
    raw = item(cid, 1)
    first, second = (b["M"] for b in raw["bodies"]["L"])
    for name in ("ct", "nonce"):  # version labels stay; the ciphertexts trade places
        first[name], second[name] = second[name], first[name]
    put(raw)
    assert_integrity_errors(stack, cid, msg["id"])


def test_changing_the_sender(stack: Stack) -> None:
    cid, msg = edited(stack)
    raw = item(cid, 1)
    raw["senderId"] = {"S": USERS["bob"]}
    put(raw)
    assert_integrity_errors(stack, cid, msg["id"])


def test_changing_the_kind(stack: Stack) -> None:
    cid, msg = edited(stack)
    raw = item(cid, 1)
    raw["kind"] = {"S": "SYSTEM"}  # "alice removed carol" cannot be forged from a text
    put(raw)
    assert_integrity_errors(stack, cid, msg["id"])


def _copy_to_seq_2(cid: str, *, relabel: bool) -> None:
    raw = item(cid, 1)
    raw["SK"] = {"S": f"MSG#{2:012d}"}
    if relabel:
        raw["seq"] = {"N": "2"}
    put(raw)
    ddb().update_item(TableName=TABLE, Key={"PK": {"S": f"CONV#{cid}"}, "SK": {"S": "META"}},
                      UpdateExpression="SET lastSeq = :two",
                      ExpressionAttributeValues={":two": {"N": "2"}})


@pytest.mark.parametrize("relabel", [False, True], ids=["as-is", "seq-relabelled"])
def test_copying_a_message_to_another_seq(stack: Stack, relabel: bool) -> None:
    cid, _msg = edited(stack)
    _copy_to_seq_2(cid, relabel=relabel)
    for result in (since(stack, cid, 0, "bob"), since(stack, cid, 1, "bob")):
        assert error_type(result) == "IntegrityError", result


def test_pointing_an_attachment_at_another_conversations_object(stack: Stack) -> None:
    from tests.integration.test_media import grant, send_with, upload

    cid = new_conversation(stack)
    other = new_conversation(stack, who="carol", members=[USERS["alice"]])
    theirs = grant(stack, other, "carol")
    upload(theirs)
    ticket = grant(stack, cid)
    upload(ticket)
    msg = send_with(stack, cid, [ticket["uploadId"]], body="see attached")
    raw = item(cid, msg["seq"])
    raw["attachments"]["L"][0]["M"]["key"] = {"S": theirs["key"]}
    put(raw)
    result = since(stack, cid, 0, "bob")
    assert error_type(result) == "IntegrityError", result
    assert theirs["key"] not in repr(result)  # no download URL minted for their object
    assert boto3.client("s3").head_object(Bucket=BUCKET, Key=theirs["key"])  # (it exists)


def test_relabelling_a_bound_body_as_old_format_does_not_open(stack: Stack) -> None:
    cid, msg = edited(stack)
    raw = item(cid, 1)
    for body in raw["bodies"]["L"]:
        del body["M"]["f"]
    put(raw)
    assert_integrity_errors(stack, cid, msg["id"])


def test_items_written_before_the_bound_format_still_read(stack: Stack) -> None:
    """A body without ``f`` was sealed with the old AAD (conversation, message id, key
    version, body version) and opens with it."""
    cid = new_conversation(stack)
    msg = send(stack, cid, "written by the old code", "cmid-integrity-2")
    raw = item(cid, 1)
    conv = api.service().store.get_conversation(cid)
    assert conv is not None
    key = api.service().keys.key(cid, conv.key_version, conv.wrapped_key)
    old = seal(key, "written by the old code", conversation_id=cid, message_id=msg["id"],
               key_version=conv.key_version)
    body = raw["bodies"]["L"][0]["M"]
    body.pop("f")
    body["ct"], body["nonce"] = {"B": old.ciphertext}, {"B": old.nonce}
    put(raw)
    assert [m["body"] for m in since(stack, cid, 0, "bob")["items"]] == ["written by the old code"]
    history = stack.invoke(messages, "Query.editHistory.ok", "alice",
                           {"conversationId": cid, "messageId": msg["id"]})
    assert [v["body"] for v in history] == ["written by the old code"]
    out = stack.invoke(messages, "Mutation.editMessage.ok", "alice", {"input": {
        "conversationId": cid, "messageId": msg["id"], "body": "edited by the new code",
        "expectedVersion": 1}})
    assert out["body"] == "edited by the new code"
    fmts = [b["M"].get("f", {}).get("N") for b in item(cid, 1)["bodies"]["L"]]
    assert fmts == [None, "2"]  # the old version keeps its format; the new one is bound


def test_an_edit_does_not_vouch_for_a_tampered_message(stack: Stack) -> None:
    cid, msg = edited(stack)
    raw = item(cid, 1)
    raw["kind"] = {"S": "SYSTEM"}
    put(raw)
    out = stack.invoke(messages, "Mutation.editMessage.ok", "alice", {"input": {
        "conversationId": cid, "messageId": msg["id"], "body": "sealed as SYSTEM?",
        "expectedVersion": 2}})
    assert error_type(out) == "IntegrityError", out
    assert len(item(cid, 1)["bodies"]["L"]) == 2  # nothing appended
