"""deleteConversation: crypto-shredding in one transaction, then the purge by the stream
consumer. The headline: a copy of the table taken after the delete yields no plaintext."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import boto3
import pytest

from cloudchat import api, purge
from cloudchat.errors import Forbidden
from cloudchat.models import Caller
from cloudchat.store import _base, _deletion
from resolvers import conversations, messages
from tests.integration._table_copy import bucket_copy, plaintexts, table_copy, text_of
from tests.integration.conftest import TABLE, USERS, Stack, error_type
from tests.integration.test_fanout import Captured, Stream, consume
from tests.integration.test_media import grant, send_with, upload
from tests.integration.test_messages import new_conversation, page, send, since

BOB, CAROL = USERS["bob"], USERS["carol"]
SECRETS = ["the vault code is 4711", "meet at the old mill", "reply: bring the map",
           "edited: the password is swordfish"]
FILE_BYTES = b"\x89PNG\r\n\x1a\n" + b"TOP-SECRET-PIXELS" + b"\x00" * 2023


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Captured:
    from resolvers import stream

    cap = Captured()
    monkeypatch.setattr(stream, "_publisher", lambda: cap)
    return cap


@pytest.fixture
def records(stack: Stack) -> Stream:
    return Stream()


def delete(stack: Stack, cid: Any, who: str = "alice") -> Any:
    return stack.invoke(conversations, "Mutation.deleteConversation.ok", who,
                        {"conversationId": cid}, replace_args=True)


def busy_group(stack: Stack) -> str:
    """A group with every kind of item that can hold a secret: messages, an edit (and its
    history), a reaction, a thread reply, an upload with a sealed file name."""
    cid = new_conversation(stack, members=[BOB, CAROL], title="the heist")
    first = send(stack, cid, SECRETS[0], "cmid-shred-0001")
    send(stack, cid, SECRETS[1], "cmid-shred-0002", who="bob")
    stack.invoke(messages, "Mutation.sendMessage.ok", "carol", {"input": {
        "conversationId": cid, "body": SECRETS[2], "clientMessageId": "cmid-shred-0003",
        "parentId": first["id"]}})
    stack.invoke(messages, "Mutation.editMessage.ok", "alice", {"input": {
        "conversationId": cid, "messageId": first["id"], "body": SECRETS[3]}})
    stack.invoke(messages, "Mutation.addReaction.ok", "bob",
                 {"conversationId": cid, "messageId": first["id"], "emoji": "👍"})
    ticket = grant(stack, cid, fileName="vault-blueprint.png", size=len(FILE_BYTES))
    upload(ticket, data=FILE_BYTES)
    send_with(stack, cid, [ticket["uploadId"]], cmid="cmid-shred-0004", body="see attached")
    return cid


# ------------------------------------------------------------------ the headline
def test_a_copy_of_the_table_taken_after_the_delete_yields_no_plaintext(stack: Stack) -> None:
    doomed = busy_group(stack)
    kept = new_conversation(stack, members=[CAROL], title="kept")
    send(stack, kept, "this conversation stays readable", "cmid-shred-0100")
    before = table_copy(stack)
    # the harness finds what it should: before the delete, every secret opens (the first
    # one as the edit history's first version), and the file name
    opened = plaintexts(before)
    assert all(any(s in p for p in opened) for s in [*SECRETS, "vault-blueprint.png"]), opened

    assert delete(stack, doomed)["conversationId"] == doomed
    copy = table_copy(stack)  # right after the delete: the purge has not run
    found = plaintexts(copy)
    # only the kept conversation's message opens (as itself, and as its last-message preview)
    assert len(found) == 2 and all("this conversation stays readable" in p for p in found), found
    assert any(i.get("conversationId") == doomed and i.get("type") == "MSG" for i in copy)
    dump = text_of(copy, {})
    for secret in [*SECRETS, "vault-blueprint.png", "the heist"]:
        assert secret not in dump


def test_after_the_purge_nothing_of_the_conversation_is_left_but_its_audit_record(
        stack: Stack, captured: Captured, records: Stream) -> None:
    doomed = busy_group(stack)
    assert any(k.startswith(f"conversations/{doomed}/") for k in bucket_copy())
    records.read()
    delete(stack, doomed, "alice")
    for _ in range(20):
        batch = records.read()
        if not batch:
            break
        assert consume(batch) == {"batchItemFailures": []}
    copy, objects = table_copy(stack), bucket_copy()
    left = [i for i in copy if doomed in json.dumps(i, default=str)]
    assert [(i["PK"], i["SK"]) for i in left] == [(f"DELETED#{doomed}", "DELETION")]
    audit = left[0]
    assert audit["deletedBy"] == USERS["alice"] and audit["memberCount"] == 3
    assert audit["kind"] == "GROUP" and audit.get("purgedAt") and audit["purgedItems"] > 0
    assert set(audit) == {"PK", "SK", "type", "conversationId", "kind", "deletedBy", "deletedAt",
                          "memberCount", "purgeStep", "purgedItems", "purgedAt"}  # no content
    assert not [k for k in objects if doomed in k]
    dump = text_of(copy, objects)
    for secret in [*SECRETS, "vault-blueprint.png", "TOP-SECRET-PIXELS", "the heist"]:
        assert secret not in dump
    removed = sorted(e["userId"] for e in captured.events
                     if e["type"] == "REMOVED_FROM_CONVERSATION" and e["conversationId"] == doomed)
    assert removed == sorted([USERS["alice"], BOB, CAROL])


# ------------------------------------------------------------------ who may delete
def test_either_member_deletes_a_direct_conversation_for_both_and_the_pair_can_start_again(
        stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB])  # alice + bob: DIRECT
    send(stack, cid, "just us", "cmid-shred-0200")
    assert new_conversation(stack, members=[BOB]) == cid  # the pair guard holds
    done = delete(stack, cid, "bob")
    assert done["kind"] == "DIRECT" and done["deletedBy"] == BOB and done["memberCount"] == 2
    for who in ("alice", "bob"):
        assert error_type(page(stack, cid, who)) == "Forbidden"
    again = new_conversation(stack, members=[BOB])
    assert again != cid
    assert send(stack, again, "a fresh start", "cmid-shred-0201")["seq"] == 1


@pytest.mark.parametrize("who", ["bob", "carol", "mallory"])
def test_members_admins_and_strangers_cannot_delete_a_group(stack: Stack, who: str) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL], title="owners only")
    stack.invoke(conversations, "Mutation.setMemberRole.ok", "alice",
                 {"conversationId": cid, "userId": BOB, "role": "ADMIN"}, replace_args=True)
    before = table_copy(stack)
    assert error_type(delete(stack, cid, who)) == "Forbidden"
    assert table_copy(stack) == before  # nothing changed
    assert page(stack, cid, "carol")["items"]


def test_any_owner_of_a_group_deletes_it(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL], title="two owners")
    stack.invoke(conversations, "Mutation.setMemberRole.ok", "alice",
                 {"conversationId": cid, "userId": CAROL, "role": "OWNER"}, replace_args=True)
    assert delete(stack, cid, "carol")["deletedBy"] == CAROL


def test_deleting_twice_or_an_unknown_conversation_is_forbidden(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL], title="once")
    delete(stack, cid)
    assert error_type(delete(stack, cid)) == "Forbidden"
    assert error_type(delete(stack, "01JD5Z8Q7M3V9K2X4N6P8R0T2W")) == "Forbidden"


@pytest.mark.parametrize("bad", ["", "not-an-id", 42, None, ["01JD5Z8Q7M3V9K2X4N6P8R0T2W"],
                                 "01JD5Z8Q7M3V9K2X4N6P8R0T2W" * 2])
def test_bad_input_is_a_bad_request_and_changes_nothing(stack: Stack, bad: Any) -> None:
    new_conversation(stack, members=[BOB, CAROL], title="untouched")
    before = table_copy(stack)
    assert error_type(delete(stack, bad)) == "BadRequest"
    assert table_copy(stack) == before


def test_a_role_lost_between_the_read_and_the_write_is_checked_inside_the_write(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The owner check is a condition of the transaction, not only of the read before it."""
    cid = new_conversation(stack, members=[BOB, CAROL], title="race")
    stack.invoke(conversations, "Mutation.setMemberRole.ok", "alice",
                 {"conversationId": cid, "userId": BOB, "role": "OWNER"}, replace_args=True)
    svc = api.service()
    real = svc.store.conversation_and_member

    def stale_read(c: str, u: str) -> Any:
        got = real(c, u)  # bob reads himself as OWNER; alice demotes him before he writes
        stack.invoke(conversations, "Mutation.setMemberRole.ok", "alice",
                     {"conversationId": cid, "userId": BOB, "role": "MEMBER"}, replace_args=True)
        monkeypatch.setattr(svc.store, "conversation_and_member", real)
        return got

    monkeypatch.setattr(svc.store, "conversation_and_member", stale_read)
    assert error_type(delete(stack, cid, "bob")) == "Forbidden"
    assert page(stack, cid, "carol")["items"]


# ------------------------------------------------------------------ access ends at once
def test_no_read_path_decrypts_from_a_warm_cache_after_the_delete(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL], title="warm")
    root = send(stack, cid, "cached secret", "cmid-shred-0300")
    assert page(stack, cid, "bob")["items"]  # bob's container holds the plaintext key now
    svc = api.service()
    assert svc.keys.cached(cid, 1) is not None
    other = type(svc)(svc.store, svc.keys, svc.tokens, svc.settings)  # another warm container
    other.keys._put(cid, 1, svc.keys.cached(cid, 1) or b"")
    delete(stack, cid, "alice")
    assert svc.keys.cached(cid, 1) is None  # the deleting container forgot it
    bob = Caller(BOB, BOB)
    calls = {
        "messages": lambda: other.messages(bob, cid, 50, None),
        "messagesSince": lambda: other.messages_since(bob, cid, 0, 50),
        "thread": lambda: other.thread(bob, cid, root["id"], 50, None),
        "conversation": lambda: other.conversation(bob, cid),
        "send": lambda: other.send_message(bob, cid, "after", "cmid-shred-0301"),
        "subscribe": lambda: other.subscription_rules(bob, cid),
        "upload": lambda: other.request_upload(bob, cid, "a.png", "image/png", 10),
    }
    outcomes = {}
    for name, call in calls.items():
        try:
            call()
            outcomes[name] = "allowed"
        except Forbidden:
            outcomes[name] = "Forbidden"
    assert outcomes == dict.fromkeys(calls, "Forbidden")
    assert error_type(since(stack, cid, 0, "carol")) == "Forbidden"
    listed = stack.invoke(conversations, "Query.conversations.first-page", "bob", {"limit": 50})
    assert cid not in [c["id"] for c in listed["items"]]


# ------------------------------------------------------------------ the purge
def test_the_purge_is_bounded_resumable_and_idempotent(
        stack: Stack, captured: Captured, records: Stream, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(purge, "PURGE_PAGE", 7)
    cid = new_conversation(stack, members=[BOB, CAROL], title="many")
    for i in range(30):
        send(stack, cid, f"bulk {i}", f"cmid-shred-{400 + i:04d}")
    records.read()
    delete(stack, cid)
    left = len(api.service().store.purge_page(cid, 1000).keys)
    counter = stack.counter()
    batch = records.read()
    steps = 0
    seen: list[list[dict[str, Any]]] = []
    while batch:
        seen.append(batch)
        counter.reset()
        assert consume(batch) == {"batchItemFailures": []}
        writes = [op for op in counter.ops if op == "dynamodb.BatchWriteItem"]
        assert len(writes) <= 1 + 7 // 25  # one page of at most 7 items per step
        steps += 1
        assert consume(batch) == {"batchItemFailures": []}  # the same batch again: harmless
        batch = records.read()
    audit = api.service().store.deletion(cid)
    assert audit is not None and audit.purged_at is not None
    assert audit.purge_step >= 30 // 7 and steps >= 30 // 7
    assert audit.purged_items == left >= 60  # 30 messages and their 30 send guards
    # every record once more, in one batch: nothing happens, nothing fails
    total = audit
    assert consume([r for b in seen for r in b]) == {"batchItemFailures": []}
    assert api.service().store.deletion(cid) == total
    assert not [i for i in table_copy(stack) if i.get("PK") == f"CONV#{cid}"]


def test_unprocessed_items_are_sent_again(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    store = api.service().store
    cid = new_conversation(stack, members=[BOB], title="retry")
    for i in range(3):
        send(stack, cid, f"r{i}", f"cmid-shred-{500 + i:04d}")
    keys = store.purge_page(cid, 100).keys
    client = store._client()
    real = client.batch_write_item
    calls: list[int] = []

    def half(RequestItems: dict[str, Any]) -> Any:
        reqs = RequestItems[TABLE]
        calls.append(len(reqs))
        if len(reqs) > 1:  # DynamoDB may process part of a batch: here, half of it
            done = (len(reqs) + 1) // 2
            real(RequestItems={TABLE: reqs[:done]})
            return {"UnprocessedItems": {TABLE: reqs[done:]}}
        return real(RequestItems=RequestItems)

    monkeypatch.setattr(client, "batch_write_item", half)
    monkeypatch.setattr(_base.time, "sleep", lambda s: None)
    store.delete_keys(keys)
    assert store.purge_page(cid, 100).keys == []
    # every call resent exactly what the previous one left (the items, their postings included)
    assert calls[0] == len(keys) and all(b == a // 2 for a, b in pairwise(calls))
    assert calls[-1] == 1 and len(calls) > 2


def test_a_group_larger_than_one_transaction_leaves_members_to_the_purge_granting_nothing(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Members past the transaction (a group of 10,000) go with the background purge; until
    then their member items grant nothing: every member check also needs the conversation."""
    monkeypatch.setattr(_deletion, "TRANSACTION_MAX", 4)  # (DynamoDB's is 100)
    others = [USERS[u] for u in ("bob", "carol", "mallory", "mod")]
    cid = new_conversation(stack, members=others, title="big")
    first = send(stack, cid, "before", "cmid-big-0001")
    api.service().messages(Caller(user_id=BOB, username=BOB), cid, 10, None)  # a warm key
    # as in a warm container that did not run the deletion: it still holds the plaintext key
    monkeypatch.setattr(api.service().keys, "forget", lambda *_: None)
    counter = stack.counter()
    assert delete(stack, cid)["memberCount"] == 5
    assert counter.ops == ["dynamodb.BatchGetItem", "dynamodb.Query",
                           "dynamodb.TransactWriteItems"]
    left = {str(i["SK"]).removeprefix("MEMBER#") for i in table_copy(stack)
            if i.get("PK") == f"CONV#{cid}" and str(i.get("SK")).startswith("MEMBER#")}
    assert len(left) == 3  # 1 of the 4 others fitted next to the 3 fixed actions
    names = {v: k for k, v in USERS.items()}
    for uid in left:
        who = names[uid]
        assert error_type(page(stack, cid, who)) == "Forbidden"
        assert error_type(since(stack, cid, 0, who)) == "Forbidden"
        assert error_type(send(stack, cid, "still here?", f"cmid-big-{who}", who=who)) == "Forbidden"
        reacted = stack.invoke(messages, "Mutation.addReaction.ok", who,
                               {"conversationId": cid, "messageId": first["id"], "emoji": "👍"},
                               replace_args=True)
        assert error_type(reacted) == "Forbidden", reacted
        receipts = stack.invoke(receipts_resolver(), "Query.readReceipts.ok", who,
                                {"conversationId": cid}, replace_args=True)
        assert error_type(receipts) == "Forbidden", receipts
        members = stack.invoke(conversations, "Query.members.ok", who,
                               {"conversationId": cid}, replace_args=True)
        assert error_type(members) == "Forbidden"
        subscribed = stack.invoke(messages, "Subscription.onMessage.member", who,
                                  {"conversationId": cid})
        assert error_type(subscribed) == "Forbidden"


def receipts_resolver() -> Any:
    from resolvers import receipts

    return receipts


def test_a_stalled_purge_restarts_when_its_audit_record_is_touched(
        stack: Stack, captured: Captured, records: Stream) -> None:
    """docs/operations.md: a purge whose record was given up on (the failure queue) runs again
    from its step when the audit record is touched."""
    cid = new_conversation(stack, members=[BOB], title="stalled")
    send(stack, cid, "left behind", "cmid-shred-0600")
    records.read()
    delete(stack, cid)
    records.read()  # these records are lost (retries exhausted)
    store = api.service().store
    assert store.deletion(cid) is not None and store.purge_page(cid, 10).keys
    boto3.client("dynamodb").update_item(
        TableName=TABLE, Key={"PK": {"S": f"DELETED#{cid}"}, "SK": {"S": "DELETION"}},
        UpdateExpression="SET purgeKick = :t", ExpressionAttributeValues={":t": {"S": "now"}})
    for _ in range(10):
        batch = records.read()
        if not batch:
            break
        assert consume(batch) == {"batchItemFailures": []}
    audit = store.deletion(cid)
    assert audit is not None and audit.purged_at is not None
    assert store.purge_page(cid, 10).keys == []
