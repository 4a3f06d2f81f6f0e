"""Issue 12, messages and media: idempotent sends that never answer a different payload,
edits and deletes that reach the conversation's copy of its last message in the same
transaction, SYSTEM messages nobody but a moderator may touch, deletes that destroy every
ciphertext of a message and schedule its objects for expiry, and refused sends that leave
their uploads pending. Each test failed before its fix."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from cloudchat import api
from cloudchat.ids import new_message_id
from cloudchat.models import Caller
from cloudchat.services import ChatService
from cloudchat_local.template import load_template
from resolvers import conversations, messages
from tests.integration.conftest import BUCKET, USERS, Stack, error_type
from tests.integration.test_faults import Faults, _tags, masked, table_state, unreachable, uploaded
from tests.integration.test_faults import faults as faults  # the fixture
from tests.integration.test_media import grant, send_with, upload
from tests.integration.test_messages import new_conversation, send, since

ALICE, BOB, CAROL = USERS["alice"], USERS["bob"], USERS["carol"]


def ids(cid: str, mid: str) -> dict[str, str]:
    return {"conversationId": cid, "messageId": mid}


def reply(stack: Stack, cid: str, parent: str, body: str, cmid: str, who: str = "alice") -> dict:
    return stack.invoke(messages, "Mutation.sendMessage.reply", who, {"input": {
        "conversationId": cid, "parentId": parent, "body": body, "clientMessageId": cmid}})


def edit(stack: Stack, cid: str, mid: str, body: str, version: int, who: str = "alice") -> dict:
    return stack.invoke(messages, "Mutation.editMessage.ok", who, {"input": {
        **ids(cid, mid), "body": body, "expectedVersion": version}})


def delete(stack: Stack, cid: str, mid: str, who: str = "alice") -> dict:
    return stack.invoke(messages, "Mutation.deleteMessage.ok", who, ids(cid, mid))


def view(stack: Stack, cid: str, who: str = "bob") -> dict:
    return stack.invoke(conversations, "Query.conversation.ok", who, {"id": cid})


def listing(stack: Stack, who: str = "bob") -> list[dict]:
    return stack.invoke(conversations, "Query.conversations.first-page", who)["items"]


def raw(stack: Stack, cid: str, sk: str) -> dict[str, Any]:
    return next(i for i in stack.raw_items() if i["PK"]["S"] == f"CONV#{cid}" and i["SK"]["S"] == sk)


# ------------------------------------------------------------------ 1. idempotency
def test_a_reused_client_message_id_with_another_body_is_a_conflict_and_writes_nothing(
        stack: Stack) -> None:
    cid = new_conversation(stack)
    first = send(stack, cid, "I will pay 10 EUR", "cmid-pay-0001")
    before = stack.raw_items()
    other = send(stack, cid, "Actually, cancel the payment!", "cmid-pay-0001")
    assert error_type(other) == "Conflict", other
    assert "clientMessageId" in other["error"]["message"]
    assert stack.raw_items() == before
    again = send(stack, cid, "I will pay 10 EUR", "cmid-pay-0001")  # a true retry
    assert (again["id"], again["seq"], again["body"]) == (first["id"], 1, "I will pay 10 EUR")
    assert [m["body"] for m in since(stack, cid, 0, "bob")["items"]] == ["I will pay 10 EUR"]


def test_a_reused_client_message_id_with_another_parent_is_a_conflict(stack: Stack) -> None:
    cid = new_conversation(stack)
    root = send(stack, cid, "root", "cmid-par-0001")
    r = reply(stack, cid, root["id"], "yes", "cmid-par-0002")
    before = stack.raw_items()
    assert error_type(send(stack, cid, "yes", "cmid-par-0002")) == "Conflict"  # no parent now
    other_root = send(stack, cid, "another root", "cmid-par-0003")
    before = stack.raw_items()
    assert error_type(reply(stack, cid, other_root["id"], "yes", "cmid-par-0002")) == "Conflict"
    assert stack.raw_items() == before
    assert reply(stack, cid, root["id"], "yes", "cmid-par-0002")["id"] == r["id"]


def test_a_reused_client_message_id_with_other_attachments_is_a_conflict(
        stack: Stack, faults: Faults) -> None:
    cid = new_conversation(stack)
    one, two = grant(stack, cid), grant(stack, cid)
    uploaded(one)
    uploaded(two)
    first = send_with(stack, cid, [one["uploadId"]], cmid="cmid-att-9001")
    before = table_state()
    # the same attachment with another body: the upload is taken, by this very send
    assert error_type(send_with(stack, cid, [one["uploadId"]], cmid="cmid-att-9001",
                                body="something else")) == "Conflict"
    # another attachment under the same key: refused, and the other upload stays pending
    assert error_type(send_with(stack, cid, [two["uploadId"]], cmid="cmid-att-9001")) == "Conflict"
    assert error_type(send_with(stack, cid, [], cmid="cmid-att-9001")) == "Conflict"
    assert table_state() == before
    assert _tags(two["key"]) == {"state": "pending"}
    assert send_with(stack, cid, [one["uploadId"]], cmid="cmid-att-9001")["id"] == first["id"]


# ------------------------------------------------------------------ 2. edit reaches lastMessage
def test_editing_the_newest_message_updates_the_last_message_in_the_same_transaction(
        stack: Stack) -> None:
    cid = new_conversation(stack)
    m = send(stack, cid, "my password is hunter2", "cmid-ed-9001")
    counter = stack.counter()
    edited = edit(stack, cid, m["id"], "[redacted]", 1)
    assert counter.ops == ["dynamodb.TransactWriteItems"], counter.ops
    assert edited["body"] == "[redacted]"
    last = view(stack, cid)["lastMessage"]
    assert (last["body"], last["version"], last["id"]) == ("[redacted]", 2, m["id"])
    assert last["editedAt"]
    assert listing(stack)[0]["lastMessage"]["body"] == "[redacted]"
    # the copy holds the current version only: the old ciphertext is not on the conversation
    copy = raw(stack, cid, "META")["lastMessage"]["M"]
    stored = raw(stack, cid, "MSG#000000000001")["bodies"]["L"]
    assert copy["bodies"]["L"] == stored[-1:] and len(stored) == 2


def test_editing_an_older_message_leaves_the_newer_last_message(stack: Stack) -> None:
    cid = new_conversation(stack)
    old = send(stack, cid, "older", "cmid-ed-9002")
    # another container sends the newest message: this one's seq hint still says seq 1
    svc = api.service()
    other = ChatService(svc.store, svc.keys, svc.tokens, svc.settings)
    other.send_message(Caller(BOB, BOB), cid, "newest", "cmid-ed-9003")
    assert edit(stack, cid, old["id"], "older, edited", 1)["version"] == 2
    assert view(stack, cid)["lastMessage"]["body"] == "newest"
    assert edit(stack, cid, old["id"], "older, edited twice", 2)["version"] == 3
    assert view(stack, cid)["lastMessage"]["body"] == "newest"


def test_a_cold_container_edits_an_older_message_without_a_refused_transaction(
        stack: Stack) -> None:
    """The key read of a cold container tells it the conversation's last seq, so the edit
    of an older message leaves the lastMessage copy out at once (no refused attempt)."""
    cid = new_conversation(stack)
    old = send(stack, cid, "older", "cmid-ed-9004")
    send(stack, cid, "newest", "cmid-ed-9005")
    api.reset()  # a new Lambda container
    counter = stack.counter()
    assert edit(stack, cid, old["id"], "older, edited", 1)["version"] == 2
    assert counter.ops == ["dynamodb.GetItem", "kms.Decrypt", "dynamodb.BatchGetItem",
                           "dynamodb.TransactWriteItems"], counter.ops
    assert view(stack, cid)["lastMessage"]["body"] == "newest"


# ------------------------------------------------------------------ 3. delete is one transaction
def test_delete_is_one_transaction_with_the_scrub_of_the_last_message(stack: Stack) -> None:
    cid = new_conversation(stack)
    m = send(stack, cid, "the last word", "cmid-del-9001")
    counter = stack.counter()
    gone = delete(stack, cid, m["id"])
    assert counter.ops == ["dynamodb.TransactWriteItems"], counter.ops
    assert gone["body"] is None and gone["deletedAt"]
    assert "bodies" not in raw(stack, cid, "META")["lastMessage"]["M"]
    assert view(stack, cid)["lastMessage"]["body"] is None


def test_a_failed_delete_writes_nothing_and_its_retry_scrubs_the_last_message(
        stack: Stack, faults: Faults) -> None:
    cid = new_conversation(stack)
    m = send(stack, cid, "delete me", "cmid-del-9002")
    # The old code tombstoned the message, then failed scrubbing the copy (UpdateItem): the
    # client got InternalFailure, its retry Conflict, and the text stayed in lastMessage.
    faults.fail("dynamodb", "UpdateItem", unreachable)
    assert error_type(delete(stack, cid, m["id"])) is None
    faults.clear()
    assert view(stack, cid)["lastMessage"]["body"] is None
    n = send(stack, cid, "delete me too", "cmid-del-9003")
    before = table_state()
    faults.fail("dynamodb", "TransactWriteItems", unreachable)
    masked(delete(stack, cid, n["id"]))
    faults.clear()
    assert table_state() == before  # nothing written
    assert view(stack, cid)["lastMessage"]["body"] == "delete me too"
    assert delete(stack, cid, n["id"])["deletedAt"]
    assert view(stack, cid)["lastMessage"]["body"] is None


def test_deleting_an_older_message_leaves_the_newer_last_message(stack: Stack) -> None:
    cid = new_conversation(stack)
    old = send(stack, cid, "older", "cmid-del-9004")
    svc = api.service()
    other = ChatService(svc.store, svc.keys, svc.tokens, svc.settings)
    other.send_message(Caller(BOB, BOB), cid, "newest", "cmid-del-9005")  # seq hint stale
    assert delete(stack, cid, old["id"])["deletedAt"]
    assert view(stack, cid)["lastMessage"]["body"] == "newest"


# ------------------------------------------------------------------ 4. SYSTEM messages
@pytest.fixture
def group(stack: Stack) -> str:
    return new_conversation(stack, members=[BOB, CAROL], title="team")  # alice OWNER


def _remove_carol(stack: Stack, cid: str) -> dict:
    change = stack.invoke(conversations, "Mutation.removeMember.ok", "alice",
                          {"conversationId": cid, "userId": CAROL}, replace_args=True)
    assert change["message"]["kind"] == "SYSTEM" and change["message"]["senderId"] == ALICE
    return change["message"]


def test_system_messages_cannot_be_edited_or_deleted_by_members(stack: Stack, group: str) -> None:
    system = _remove_carol(stack, group)
    assert system["body"] == "Alice removed Carol"
    before = stack.raw_items()
    refused = edit(stack, group, system["id"], "Carol left", 1)  # its actor, the owner
    assert error_type(refused) == "Forbidden" and "system" in refused["error"]["message"].lower()
    for who in ("alice", "bob"):
        out = delete(stack, group, system["id"], who)
        assert error_type(out) == "Forbidden" and "system" in out["error"]["message"].lower(), out
    assert stack.raw_items() == before
    assert since(stack, group, 0, "bob")["items"][-1]["body"] == "Alice removed Carol"


def test_moderators_may_delete_a_system_message_with_the_audit_record(
        stack: Stack, group: str) -> None:
    system = _remove_carol(stack, group)
    gone = delete(stack, group, system["id"], "mod")
    assert gone["deletedBy"] == USERS["mod"] and gone["body"] is None
    audit = [i for i in stack.raw_items()
             if i["SK"]["S"].startswith(f"AUDIT#{system['seq']:012d}#")]
    assert len(audit) == 1 and audit[0]["actorId"]["S"] == USERS["mod"]
    assert audit[0]["messageId"]["S"] == system["id"] and audit[0]["action"]["S"] == "DELETE"


# ------------------------------------------------------------------ 9. delete destroys attachments
def _ciphertexts(item: dict[str, Any]) -> list[str]:
    """Every attribute path under ``item`` that holds a ciphertext (bodies or file names)."""
    found: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k in ("nameCt", "ct", "bodies"):
                    found.append(f"{path}.{k}")
                walk(v, f"{path}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    walk(item, "")
    return found


def test_delete_destroys_every_ciphertext_and_schedules_the_objects(
        stack: Stack, faults: Faults) -> None:
    cid = new_conversation(stack)
    a, b = grant(stack, cid, fileName="invoice.pdf", contentType="application/pdf"), grant(stack, cid)
    upload(a, content_type="application/pdf")
    boto3.client("s3").put_object_tagging(Bucket=BUCKET, Key=a["key"], Tagging={
        "TagSet": [{"Key": "state", "Value": "pending"}]})
    uploaded(b)
    sent = send_with(stack, cid, [a["uploadId"], b["uploadId"]], cmid="cmid-del-9100",
                     body="the files")
    assert {_tags(a["key"])["state"], _tags(b["key"])["state"]} == {"attached"}
    gone = delete(stack, cid, sent["id"])
    assert gone["attachments"] == [] and gone["body"] is None
    message = raw(stack, cid, f"MSG#{sent['seq']:012d}")
    meta = raw(stack, cid, "META")
    uploads = [raw(stack, cid, f"UPLOAD#{t['uploadId']}") for t in (a, b)]
    assert _ciphertexts(message) == [] and _ciphertexts(meta) == []
    assert [_ciphertexts(u) for u in uploads] == [[], []]
    assert [u["status"]["S"] for u in uploads] == ["DELETED", "DELETED"]
    # the objects carry the tag the bucket's lifecycle rule expires
    assert _tags(a["key"]) == {"state": "pending"} and _tags(b["key"]) == {"state": "pending"}
    rules = load_template().resource("AttachmentsBucket").properties[
        "LifecycleConfiguration"]["Rules"]
    expire = next(r for r in rules if r["Id"] == "ExpireUnattachedUploads")
    assert expire["TagFilters"] == [{"Key": "state", "Value": "pending"}]
    # and no later message can claim them
    again = send_with(stack, cid, [a["uploadId"]], cmid="cmid-del-9101")
    assert error_type(again) == "BadRequest"


def test_a_delete_whose_retag_failed_is_repaired_by_its_retry(stack: Stack, faults: Faults) -> None:
    cid = new_conversation(stack)
    t = grant(stack, cid)
    uploaded(t)
    sent = send_with(stack, cid, [t["uploadId"]], cmid="cmid-del-9102")
    faults.fail("s3", "PutObjectTagging", unreachable)
    masked(delete(stack, cid, sent["id"]))  # committed, but S3 was down
    faults.clear()
    assert _ciphertexts(raw(stack, cid, f"MSG#{sent['seq']:012d}")) == []
    assert _tags(t["key"]) == {"state": "attached"}
    retry = delete(stack, cid, sent["id"])
    assert error_type(retry) == "Conflict"  # it is deleted ...
    assert _tags(t["key"]) == {"state": "pending"}  # ... and now its object is scheduled


# ------------------------------------------------------------------ 10. refused sends
def test_a_refused_send_leaves_its_uploads_pending(stack: Stack, faults: Faults,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cid = new_conversation(stack)
    monkeypatch.setenv("SEND_RATE_PER_MINUTE", "1")
    api.reset()
    send(stack, cid, "the one allowed", "cmid-rf-0001")
    t = grant(stack, cid)
    uploaded(t)
    limited = send_with(stack, cid, [t["uploadId"]], cmid="cmid-rf-0002")
    assert error_type(limited) == "RateLimited", limited
    assert _tags(t["key"]) == {"state": "pending"}
    monkeypatch.setenv("SEND_RATE_PER_MINUTE", "100")
    api.reset()
    # a reply to a message that does not exist: NotFound, still pending
    missing = stack.invoke(messages, "Mutation.sendMessage.with-attachment", "alice", {"input": {
        "conversationId": cid, "attachments": [t["uploadId"]], "body": "x",
        "clientMessageId": "cmid-rf-0003", "parentId": new_message_id(9)}})
    assert error_type(missing) == "NotFound", missing
    assert _tags(t["key"]) == {"state": "pending"}
    # DynamoDB unreachable: the send fails, still pending
    faults.fail("dynamodb", "TransactWriteItems", unreachable)
    masked(send_with(stack, cid, [t["uploadId"]], cmid="cmid-rf-0004"))
    faults.clear()
    assert _tags(t["key"]) == {"state": "pending"}
    ok = send_with(stack, cid, [t["uploadId"]], cmid="cmid-rf-0004")
    assert error_type(ok) is None and _tags(t["key"]) == {"state": "attached"}


def test_a_send_whose_tagging_failed_after_commit_is_repaired_by_its_retry(
        stack: Stack, faults: Faults) -> None:
    """The tag moves after the commit; if S3 fails then, the client's retry (same
    clientMessageId) answers the stored message and tags its objects."""
    cid = new_conversation(stack)
    t = grant(stack, cid)
    uploaded(t)
    faults.fail("s3", "PutObjectTagging", unreachable)
    masked(send_with(stack, cid, [t["uploadId"]], cmid="cmid-rf-0100"))
    faults.clear()
    assert _tags(t["key"]) == {"state": "pending"}
    again = send_with(stack, cid, [t["uploadId"]], cmid="cmid-rf-0100")
    assert error_type(again) is None and again["seq"] == 1
    assert _tags(t["key"]) == {"state": "attached"}
    assert boto3.client("s3").head_object(Bucket=BUCKET, Key=t["key"])["ContentLength"] > 0


def test_an_upload_grant_makes_the_object_pending(stack: Stack) -> None:
    """The presigned POST sets the `pending` tag, and its policy requires exactly that tag
    (AWS enforces the policy; moto does not), so an upload never attached expires."""
    import base64
    import json

    cid = new_conversation(stack)
    ticket = grant(stack, cid)
    fields = json.loads(ticket["fields"])
    pending = ("<Tagging><TagSet><Tag><Key>state</Key><Value>pending</Value></Tag>"
               "</TagSet></Tagging>")
    assert fields["tagging"] == pending
    policy = json.loads(base64.b64decode(fields.get("Policy") or fields["policy"]))
    assert {"tagging": pending} in policy["conditions"]
