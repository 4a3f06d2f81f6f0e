"""Messages through the real handlers under moto: seq, idempotency, encryption, pagination."""

import base64
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from resolvers import conversations, messages
from tests.integration.conftest import ISOLATED_TRANSACTIONS, TABLE, USERS, Stack, error_type

BOB, CAROL = USERS["bob"], USERS["carol"]


def new_conversation(stack: Stack, who: str = "alice", members: list[str] | None = None,
                     title: str | None = None) -> str:
    args = {"input": {"memberIds": members or [BOB], **({"title": title} if title else {})}}
    return stack.invoke(conversations, "Mutation.createConversation.direct", who, args,
                        replace_args=True)["id"]


def send(stack: Stack, cid: str, body: str, cmid: str, who: str = "alice") -> dict:
    return stack.invoke(messages, "Mutation.sendMessage.ok", who,
                        {"input": {"conversationId": cid, "body": body, "clientMessageId": cmid}})


def page(stack: Stack, cid: str, who: str = "alice", limit: int = 50, token: str | None = None) -> dict:
    return stack.invoke(messages, "Query.messages.first-page", who,
                        {"conversationId": cid, "limit": limit, "nextToken": token})


def since(stack: Stack, cid: str, after: int, who: str = "alice", limit: int = 50) -> dict:
    return stack.invoke(messages, "Query.messagesSince.ok", who,
                        {"conversationId": cid, "afterSeq": after, "limit": limit})


def test_send_and_read_back(stack: Stack) -> None:
    cid = new_conversation(stack)
    msg = send(stack, cid, "Hello, Bob!", "cmid-00000001")
    assert msg["seq"] == 1 and msg["body"] == "Hello, Bob!" and msg["senderId"] == USERS["alice"]
    assert msg["conversationId"] == cid and msg["kind"] == "TEXT" and msg["version"] == 1
    assert msg["clientMessageId"] == "cmid-00000001" and msg["createdAt"].endswith("Z")
    got = page(stack, cid, "bob")
    assert [m["body"] for m in got["items"]] == ["Hello, Bob!"]
    assert got["items"][0]["id"] == msg["id"] and got["nextToken"] is None
    conv = stack.invoke(conversations, "Query.conversation.ok", "bob", {"id": cid})
    assert conv["lastMessage"]["body"] == "Hello, Bob!" and conv["lastSeq"] == 1


def test_unread_count_follows_seq_and_own_sends(stack: Stack) -> None:
    cid = new_conversation(stack)
    for i in range(3):
        send(stack, cid, f"m{i}", f"cmid-0000000{i}")
    get = lambda who: stack.invoke(conversations, "Query.conversation.ok", who, {"id": cid})
    assert get("bob")["unreadCount"] == 3
    assert get("alice")["unreadCount"] == 0
    send(stack, cid, "reply", "cmid-bob-0001", who="bob")
    assert get("bob")["unreadCount"] == 0
    assert get("alice")["unreadCount"] == 1


@pytest.mark.moto_fidelity(ISOLATED_TRANSACTIONS)
def test_twenty_concurrent_senders_get_seq_1_to_20_exactly_once(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL])

    def one(i: int) -> dict:
        return send(stack, cid, f"concurrent {i}", f"cmid-conc-{i:04d}", who=("alice", "bob", "carol")[i % 3])

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    assert all("error" not in r for r in results), results
    assert sorted(r["seq"] for r in results) == list(range(1, 21))
    stored = since(stack, cid, 0)["items"]
    assert [m["seq"] for m in stored] == list(range(1, 21))
    assert sorted(m["body"] for m in stored) == sorted(f"concurrent {i}" for i in range(20))


def test_same_client_message_id_twice_gives_one_message(stack: Stack) -> None:
    cid = new_conversation(stack)
    first = send(stack, cid, "only once", "cmid-retry-0001")
    again = send(stack, cid, "only once", "cmid-retry-0001")
    assert again["id"] == first["id"] and again["seq"] == 1 and again["body"] == "only once"
    assert [m["seq"] for m in since(stack, cid, 0)["items"]] == [1]
    # Another sender may use the same clientMessageId: it is scoped to the sender.
    assert send(stack, cid, "bob's", "cmid-retry-0001", who="bob")["seq"] == 2


@pytest.mark.moto_fidelity(ISOLATED_TRANSACTIONS)
def test_concurrent_retries_of_one_send_store_it_once(stack: Stack) -> None:
    cid = new_conversation(stack)
    send(stack, cid, "only once", "cmid-retry-0001")
    with ThreadPoolExecutor(max_workers=8) as pool:
        dup = list(pool.map(lambda _: send(stack, cid, "burst", "cmid-burst-0001"), range(8)))
    assert len({d["id"] for d in dup}) == 1
    assert [m["seq"] for m in since(stack, cid, 0)["items"]] == [1, 2]


def test_raw_items_hold_no_plaintext(stack: Stack) -> None:
    cid = new_conversation(stack)
    secret = "the eagle lands at midnight"
    send(stack, cid, secret, "cmid-secret-01")
    blob = repr(stack.raw_items())
    assert secret not in blob
    assert "eagle" not in blob
    enc = next(i for i in stack.raw_items() if i["SK"]["S"].startswith("MSG#"))
    body = enc["bodies"]["L"][0]["M"]
    assert set(body) >= {"ct", "nonce", "kv", "v"} and "body" not in enc


def test_ciphertext_copied_onto_another_message_fails_to_open(stack: Stack) -> None:
    cid = new_conversation(stack)
    send(stack, cid, "first", "cmid-move-0001")
    send(stack, cid, "second", "cmid-move-0002")
    ddb = boto3.client("dynamodb")
    key = lambda seq: {"PK": {"S": f"CONV#{cid}"}, "SK": {"S": f"MSG#{seq:012d}"}}
    one = ddb.get_item(TableName=TABLE, Key=key(1))["Item"]
    ddb.update_item(TableName=TABLE, Key=key(2), UpdateExpression="SET bodies = :b",
                    ExpressionAttributeValues={":b": one["bodies"]})
    result = since(stack, cid, 1)
    assert error_type(result) == "IntegrityError"
    assert "integrity" in result["error"]["message"]
    assert since(stack, cid, 0, limit=1)["items"][0]["body"] == "first"  # others still open


def test_bad_send_inputs_change_nothing(stack: Stack) -> None:
    cid = new_conversation(stack)
    before = stack.raw_items()
    for case in ("empty-body", "too-long", "bad-client-message-id"):
        result = stack.invoke(messages, f"Mutation.sendMessage.{case}", "alice",
                              {"input": {"conversationId": cid}})
        assert error_type(result) == "BadRequest", case
    bad_conv = send(stack, "not-an-id", "hi", "cmid-00000009")
    assert error_type(bad_conv) == "BadRequest"
    assert "4000" in stack.invoke(messages, "Mutation.sendMessage.too-long", "alice",
                                  {"input": {"conversationId": cid}})["error"]["message"]
    assert stack.raw_items() == before


def test_non_member_is_denied_every_operation(stack: Stack) -> None:
    cid = new_conversation(stack)
    send(stack, cid, "private", "cmid-priv-0001")
    before = stack.raw_items()
    args = {"conversationId": cid}
    assert error_type(stack.invoke(messages, "Mutation.sendMessage.non-member", "mallory",
                                   {"input": args})) == "Forbidden"
    for event in ("Query.messages.non-member", "Query.messagesSince.non-member",
                  "Subscription.onMessage.non-member"):
        assert error_type(stack.invoke(messages, event, "mallory", args)) == "Forbidden", event
    assert error_type(stack.invoke(conversations, "Query.conversation.non-member", "mallory",
                                   {"id": cid})) == "Forbidden"
    listing = stack.invoke(conversations, "Query.conversations.first-page", "mallory")
    assert listing["items"] == []
    # A token minted for alice cannot be replayed by mallory either.
    token = page(stack, cid, "alice", limit=1)
    send(stack, cid, "more", "cmid-priv-0002")
    token = page(stack, cid, "alice", limit=1)["nextToken"]
    assert error_type(page(stack, cid, "mallory", limit=1, token=token)) == "BadRequest"
    assert stack.invoke(messages, "Subscription.onMessage.member", "alice", args) == {
        "filter": {"conversationId": {"eq": cid}, "seq": {"gt": 0}},
        "invalidation": {"conversationId": {"eq": cid}, "userId": {"in": [USERS["alice"], "*"]}}}
    # only alice's second send (+ its guard and its search postings p:mor, p:more)
    assert len(stack.raw_items()) == len(before) + 4


def test_messages_paginate_newest_first_without_empty_pages(stack: Stack) -> None:
    cid = new_conversation(stack)
    for i in range(1, 121):
        send(stack, cid, f"n{i}", f"cmid-page-{i:04d}")
    seen, token, pages = [], None, 0
    while True:
        got = page(stack, cid, "bob", limit=50, token=token)
        assert got["items"], "no empty pages"
        seen += [m["seq"] for m in got["items"]]
        pages += 1
        token = got["nextToken"]
        if token is None:
            break
    assert seen == list(range(120, 0, -1)) and pages == 3
    assert [m["seq"] for m in since(stack, cid, 100, "bob")["items"]] == list(range(101, 121))
    assert since(stack, cid, 120, "bob")["items"] == []
    assert [m["seq"] for m in since(stack, cid, 0, "bob", limit=5)["items"]] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("mutate", ["flip", "other-user", "other-conversation", "garbage"])
def test_tampered_or_replayed_next_token_is_rejected(stack: Stack, mutate: str) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL])
    other = new_conversation(stack, members=[BOB], title="other")
    for i in range(3):
        send(stack, cid, f"t{i}", f"cmid-tok-{i:04d}")
        send(stack, other, f"o{i}", f"cmid-oth-{i:04d}")
    token = page(stack, cid, "alice", limit=1)["nextToken"]
    assert token
    if mutate == "flip":
        raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        raw[20] ^= 1
        bad = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
        result = page(stack, cid, "alice", limit=1, token=bad)
    elif mutate == "other-user":
        result = page(stack, cid, "bob", limit=1, token=token)
    elif mutate == "other-conversation":
        result = page(stack, other, "alice", limit=1, token=token)
    else:
        result = page(stack, cid, "alice", limit=1, token="not-a-token")
    assert error_type(result) == "BadRequest"
    assert "nextToken" in result["error"]["message"]


def test_conversations_are_ordered_by_activity_and_paginated(stack: Stack) -> None:
    ids = [new_conversation(stack, members=[BOB], title=f"c{i}") for i in range(25)]
    send(stack, ids[0], "bump", "cmid-bump-0001")  # the oldest becomes the most recent
    first = stack.invoke(conversations, "Query.conversations.first-page", "alice", {"limit": 20})
    assert len(first["items"]) == 20 and first["nextToken"]
    assert first["items"][0]["id"] == ids[0]
    assert [c["id"] for c in first["items"][1:]] == ids[24:5:-1]
    second = stack.invoke(conversations, "Query.conversations.first-page", "alice",
                          {"limit": 20, "nextToken": first["nextToken"]})
    assert [c["id"] for c in second["items"]] == ids[5:0:-1]
    assert second["nextToken"] is None
    exact = stack.invoke(conversations, "Query.conversations.first-page", "alice", {"limit": 25})
    assert len(exact["items"]) == 25 and exact["nextToken"] is None  # no trailing empty page
    bad = stack.invoke(conversations, "Query.conversations.first-page", "bob",
                       {"limit": 20, "nextToken": first["nextToken"]})
    assert error_type(bad) == "BadRequest"


def test_unexpected_errors_are_masked(stack: Stack, monkeypatch) -> None:
    from cloudchat import api

    cid = new_conversation(stack)
    monkeypatch.setattr(api.service().store, "append_message",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("db password is hunter2")))
    result = send(stack, cid, "boom", "cmid-boom-0001")
    assert error_type(result) == "InternalFailure"
    assert "hunter2" not in result["error"]["message"]
    assert "request" in result["error"]["message"]
