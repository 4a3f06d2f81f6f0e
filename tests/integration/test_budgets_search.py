"""Request budgets of encrypted search (DESIGN.md): the index rides in the writes' own
transactions (sendMessage stays one request warm), and a search page is a Query and a
BatchGetItem. Counted with botocore hooks; transaction sizes read from the request."""

from typing import Any

import pytest

from cloudchat import api
from cloudchat.store import TX_INDEX_ACTIONS
from resolvers import messages
from tests.integration.conftest import USERS, Stack
from tests.integration.test_messages import new_conversation, send
from tests.integration.test_search import bodies, delete, edit, search

# 120 words, 3 distinct index terms each (p:abazz p:abaz p:aba)
LONG = " ".join("".join(chr(97 + i // 26 ** k % 26) for k in (2, 1, 0)) + "zz"
                for i in range(120))


@pytest.fixture
def transactions() -> list[int]:
    """The number of actions of every TransactWriteItems request from here on."""
    sizes: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["TransactItems"]))

    api.service().store._client().meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems", count)
    return sizes


def test_send_warm_is_one_request_with_its_postings(stack: Stack, transactions: list[int]) -> None:
    cid = new_conversation(stack, members=[USERS["bob"]])
    send(stack, cid, "warm up", "cmid-bs-0000")
    counter = stack.counter()
    transactions.clear()
    send(stack, cid, "see you at the station at noon", "cmid-bs-0001")
    assert (counter.dynamodb, counter.kms) == (1, 0), counter.ops
    # member, conversation, message, guard, rate + 10 postings (p:see p:you w:at p:statio
    # p:noon, then p:stati p:stat p:sta p:noo)
    assert transactions == [5 + 10]
    counter.reset()
    transactions.clear()
    send(stack, cid, LONG, "cmid-bs-0002")
    assert (counter.dynamodb, counter.kms) == (1, 0), counter.ops
    assert transactions == [5 + TX_INDEX_ACTIONS]  # the rest is queued for the consumer


def test_edit_and_delete_of_a_seen_message_stay_one_request(stack: Stack,
                                                            transactions: list[int]) -> None:
    cid = new_conversation(stack)
    m = send(stack, cid, "lunch at noon", "cmid-bs-0101")
    counter = stack.counter()
    transactions.clear()
    assert edit(stack, cid, m["id"], "dinner at noon")["version"] == 2
    assert counter.ops == ["dynamodb.TransactWriteItems"]
    # member, message, the conversation's last message + 3 puts (p:din p:dinn p:dinne
    # p:dinner: 4) and 3 deletes (p:lun p:lunc p:lunch)
    assert transactions == [3 + 4 + 3]
    counter.reset()
    transactions.clear()
    assert delete(stack, cid, m["id"])["deletedAt"]
    assert counter.ops == ["dynamodb.TransactWriteItems"]
    # member, message, audit, last message + 4 + 2 (p:noo p:noon) + 1 (w:at) deletes
    assert transactions == [4 + 7]
    m = send(stack, cid, LONG, "cmid-bs-0102")
    transactions.clear()
    assert delete(stack, cid, m["id"])["deletedAt"]
    assert transactions == [4 + TX_INDEX_ACTIONS]


def test_search_page_warm_is_a_query_and_a_batch_get(stack: Stack) -> None:
    cid = new_conversation(stack)
    for i in range(30):
        send(stack, cid, f"status update {i}", f"cmid-bs-02{i:02d}")
    counter = stack.counter()
    got = search(stack, "status", cid, limit=20)
    assert len(got["items"]) == 20
    assert counter.ops == ["dynamodb.Query", "dynamodb.BatchGetItem"]
    counter.reset()
    got = search(stack, "status", cid, limit=20, token=got["nextToken"])
    assert bodies(got) == [f"status update {i}" for i in range(9, -1, -1)]
    assert counter.ops == ["dynamodb.Query", "dynamodb.BatchGetItem"]


def test_search_cold_reads_the_key_once(stack: Stack) -> None:
    cid = new_conversation(stack)
    send(stack, cid, "cold search", "cmid-bs-0301")
    api.reset()  # a new Lambda container
    counter = stack.counter()
    assert bodies(search(stack, "cold", cid, who="bob")) == ["cold search"]
    assert counter.ops == ["dynamodb.GetItem", "kms.Decrypt", "dynamodb.Query",
                           "dynamodb.BatchGetItem"]


def test_search_across_conversations(stack: Stack) -> None:
    cids = [new_conversation(stack, members=[USERS["bob"]], title=f"c{i}") for i in range(3)]
    for i, cid in enumerate(cids):
        send(stack, cid, f"invoice {i}", f"cmid-bs-04{i:02d}")
    counter = stack.counter()
    got = search(stack, "invoice", None)
    assert bodies(got) == ["invoice 2", "invoice 1", "invoice 0"]
    # GSI1 (most recent conversations), the large conversations' markers, their member
    # items and keys (one BatchGetItem), one Query per conversation, the candidates (one
    # BatchGetItem)
    assert counter.ops == ["dynamodb.Query", "dynamodb.Query", "dynamodb.BatchGetItem",
                           *["dynamodb.Query"] * 3, "dynamodb.BatchGetItem"]
    assert counter.kms == 0


def test_a_message_read_costs_no_more_for_its_index(stack: Stack) -> None:
    """The index state on a message item (its tokens, 8 bytes each) is read with it: a
    messages page stays one request."""
    cid = new_conversation(stack)
    send(stack, cid, LONG, "cmid-bs-0501")
    counter = stack.counter()
    got = stack.invoke(messages, "Query.messages.first-page", "alice",
                       {"conversationId": cid, "limit": 50})
    assert len(got["items"]) == 1 and "matches" not in got["items"][0]
    assert (counter.dynamodb, counter.kms) == (1, 0), counter.ops


def test_postings_take_only_the_room_the_send_leaves(stack: Stack, transactions: list[int],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A send's postings are its last actions, within what its other actions (attachments, a
    thread root, mentions) leave under DynamoDB's 100: with room for 15, 15 go in."""
    from cloudchat.store import _messages

    monkeypatch.setattr(_messages, "BATCH_MAX", 20)  # as if 95 - 20 other actions were there
    cid = new_conversation(stack)
    transactions.clear()
    send(stack, cid, LONG, "cmid-bs-0601")
    assert transactions == [20]  # 5 own actions + 15 postings; the rest queued
    assert bodies(search(stack, "aaazz", cid)) == [LONG]  # the first word went first
