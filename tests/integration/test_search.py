"""Encrypted search: the blind index stays exact through sends, edits and deletes; results
are members-only, from joining on, never deleted, newest first, with matched spans; bad
input changes nothing; long messages finish their index through the stream consumer."""

from typing import Any

import boto3
import pytest

from cloudchat import api
from cloudchat.crypto import blind_token, search_key
from cloudchat.searchtext import index_terms
from cloudchat.store import TX_INDEX_ACTIONS
from resolvers import messages
from tests.integration.conftest import TABLE, USERS, Stack, error_type
from tests.integration.test_fanout import Stream, captured, consume  # noqa: F401
from tests.integration.test_members import call
from tests.integration.test_messages import new_conversation, send

BOB, CAROL = USERS["bob"], USERS["carol"]


def search(stack: Stack, query: Any, cid: str | None = None, who: str = "alice",
           limit: int | None = None, token: str | None = None) -> Any:
    return stack.invoke(messages, "Query.searchMessages.ok", who,
                        {"query": query, "conversationId": cid, "limit": limit,
                         "nextToken": token}, replace_args=True)


def bodies(result: dict[str, Any]) -> list[str]:
    return [m["body"] for m in result["items"]]


def edit(stack: Stack, cid: str, mid: str, body: str, version: int = 1) -> Any:
    return stack.invoke(messages, "Mutation.editMessage.ok", "alice", {"input": {
        "conversationId": cid, "messageId": mid, "body": body, "expectedVersion": version}})


def delete(stack: Stack, cid: str, mid: str, who: str = "alice") -> Any:
    return stack.invoke(messages, "Mutation.deleteMessage.ok", who,
                        {"conversationId": cid, "messageId": mid})


def postings(cid: str, term: str) -> list[int]:
    """The seqs posted under an index term (read through the store, keyed as it is)."""
    svc = api.service()
    key, _ = svc._current_key(cid)
    return svc.store.posted_seqs(cid, blind_token(search_key(key), term))


def index_items(stack: Stack, cid: str) -> list[dict[str, Any]]:
    return [i for i in stack.raw_items()
            if i["PK"]["S"] == f"CONV#{cid}" and i["SK"]["S"].startswith("SX#")]


def test_search_finds_words_and_prefixes_newest_first_with_spans(stack: Stack) -> None:
    cid = new_conversation(stack)
    send(stack, cid, "Lunch at the Café?", "cmid-srch-0001")
    send(stack, cid, "Nothing to see", "cmid-srch-0002")
    send(stack, cid, "CAFE later, then lunch", "cmid-srch-0003", who="bob")
    got = search(stack, "cafe", cid)
    assert bodies(got) == ["CAFE later, then lunch", "Lunch at the Café?"]
    assert [m["matches"] for m in got["items"]] == [[{"start": 0, "end": 4}],
                                                    [{"start": 13, "end": 17}]]
    assert got["nextToken"] is None
    assert bodies(search(stack, "LUN", cid, who="bob")) == ["CAFE later, then lunch",
                                                            "Lunch at the Café?"]
    assert bodies(search(stack, "lunch café", cid)) == ["CAFE later, then lunch",
                                                        "Lunch at the Café?"]
    assert bodies(search(stack, "lunch see", cid)) == []  # every word must match
    assert bodies(search(stack, "to", cid)) == ["Nothing to see"]  # short: whole words
    assert bodies(search(stack, "th", cid)) == []  # ... never prefixes
    assert bodies(search(stack, "zebra", cid)) == []


def test_search_cjk_and_mixed_scripts(stack: Stack) -> None:
    cid = new_conversation(stack)
    send(stack, cid, "明日は東京タワーへ行きます 🗼", "cmid-srch-0101")
    send(stack, cid, "京都 is lovely", "cmid-srch-0102")
    assert bodies(search(stack, "東京", cid)) == ["明日は東京タワーへ行きます 🗼"]
    assert bodies(search(stack, "京", cid)) == ["京都 is lovely", "明日は東京タワーへ行きます 🗼"]
    assert bodies(search(stack, "タワー", cid)) == ["明日は東京タワーへ行きます 🗼"]
    assert bodies(search(stack, "京都 love", cid)) == ["京都 is lovely"]


def test_index_exact_through_edit_and_delete(stack: Stack) -> None:
    cid = new_conversation(stack)
    first = send(stack, cid, "meet at the harbour", "cmid-srch-0201")
    send(stack, cid, "harbour again", "cmid-srch-0202")
    assert postings(cid, "p:harbou") == [2, 1]
    edited = edit(stack, cid, first["id"], "meet at the station")
    assert edited["body"] == "meet at the station"
    assert postings(cid, "p:harbou") == [2]  # the edit's own transaction replaced them
    assert postings(cid, "p:statio") == [1]
    assert postings(cid, "p:meet") == [1]  # kept words stay posted
    assert bodies(search(stack, "harbour", cid)) == ["harbour again"]
    assert bodies(search(stack, "station", cid)) == ["meet at the station"]
    assert delete(stack, cid, first["id"])["deletedAt"]
    assert postings(cid, "p:statio") == [] and postings(cid, "p:meet") == []
    assert bodies(search(stack, "station", cid)) == []
    assert bodies(search(stack, "meet", cid)) == []
    # only the remaining message's postings are left, nothing else
    assert {int(i["SK"]["S"].rsplit("#", 1)[1]) for i in index_items(stack, cid)} == {2}


def test_stale_postings_are_never_returned(stack: Stack) -> None:
    """Verification by decryption: a posting left behind (e.g. a queue not yet applied)
    never returns a message that no longer has the word."""
    cid = new_conversation(stack)
    m = send(stack, cid, "secret plans", "cmid-srch-0301")
    svc = api.service()
    key, _ = svc._current_key(cid)
    stale = blind_token(search_key(key), "p:secret")
    edit(stack, cid, m["id"], "public plans")
    # put the old posting back, as a lagging writer could have
    svc.store._transact({"p": svc.store._posting_op(cid, 1, stale, True, m["createdAt"])})
    assert postings(cid, "p:secret") == [1]
    assert bodies(search(stack, "secret", cid)) == []
    assert bodies(search(stack, "public", cid)) == ["public plans"]


def test_members_only_and_from_joining_on(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB], title="team")
    send(stack, cid, "budget before carol", "cmid-srch-0401")
    call(stack, "addMembers", "alice", conversationId=cid, userIds=[CAROL])
    send(stack, cid, "budget after carol", "cmid-srch-0402")
    assert bodies(search(stack, "budget", cid, who="carol")) == ["budget after carol"]
    assert bodies(search(stack, "budget", cid, who="bob")) == ["budget after carol",
                                                               "budget before carol"]
    assert error_type(search(stack, "budget", cid, who="mallory")) == "Forbidden"
    assert error_type(search(stack, "nothing", cid, who="mallory")) == "Forbidden"
    assert error_type(search(stack, "budget", "01JD5Z8Q7M3V9K2X4N6P8R0T2W")) == "Forbidden"
    call(stack, "removeMember", "alice", conversationId=cid, userId=CAROL)
    assert error_type(search(stack, "budget", cid, who="carol")) == "Forbidden"
    # across conversations: a conversation she left is not searched
    assert bodies(search(stack, "budget", None, who="carol")) == []


@pytest.mark.parametrize(("query", "limit"), [
    ("", None), ("   ", None), ("🎉 !!", None), ("x" * 257, None),
    ("a b c d e f g h i", None), (42, None), (None, None), ("ok", 0), ("ok", 101),
    ("a\udfffb", None), ("ok", True),
])
def test_bad_input_is_bad_request(stack: Stack, query: Any, limit: int | None) -> None:
    cid = new_conversation(stack)
    assert error_type(search(stack, query, cid, limit=limit)) == "BadRequest"


def test_bad_conversation_id_and_tokens(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL])
    other = new_conversation(stack, members=[BOB, CAROL], title="other")
    for i in range(4):
        send(stack, cid, f"alpha {i}", f"cmid-srch-05{i:02d}")
    assert error_type(search(stack, "alpha", "not-an-id")) == "BadRequest"
    token = search(stack, "alpha", cid, limit=2)["nextToken"]
    assert token
    assert error_type(search(stack, "alpha", cid, limit=2, token=token[:-2] + "AA")) == "BadRequest"
    assert error_type(search(stack, "alphab", cid, limit=2, token=token)) == "BadRequest"
    assert error_type(search(stack, "alpha", other, limit=2, token=token)) == "BadRequest"
    assert error_type(search(stack, "alpha", None, limit=2, token=token)) == "BadRequest"
    assert error_type(search(stack, "alpha", cid, "bob", limit=2, token=token)) == "BadRequest"
    assert len(search(stack, "alpha", cid, limit=2, token=token)["items"]) == 2


def test_paging_newest_first_without_gaps_or_repeats(stack: Stack) -> None:
    cid = new_conversation(stack)
    for i in range(25):
        send(stack, cid, f"report {i}" if i % 2 == 0 else f"other {i}", f"cmid-srch-06{i:02d}")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        got = search(stack, "report", cid, limit=4, token=token)
        seen += bodies(got)
        pages += 1
        token = got["nextToken"]
        if token is None:
            break
    assert seen == [f"report {i}" for i in range(24, -1, -2)]
    assert pages == 4


def test_across_conversations_newest_first(stack: Stack) -> None:
    a = new_conversation(stack, members=[BOB], title="a")
    b = new_conversation(stack, members=[CAROL], title="b")
    c = new_conversation(stack, "bob", members=[CAROL], title="not alice's")
    send(stack, a, "deploy one", "cmid-srch-0701")
    send(stack, b, "deploy two", "cmid-srch-0702")
    send(stack, c, "deploy secret", "cmid-srch-0703", who="bob")
    send(stack, a, "deploy three", "cmid-srch-0704")
    got = search(stack, "deploy", None)
    assert bodies(got) == ["deploy three", "deploy two", "deploy one"]
    assert {m["conversationId"] for m in got["items"]} == {a, b}
    first = search(stack, "deploy", None, limit=2)
    assert bodies(first) == ["deploy three", "deploy two"]
    rest = search(stack, "deploy", None, limit=2, token=first["nextToken"])
    assert bodies(rest) == ["deploy one"] and rest["nextToken"] is None
    assert error_type(search(stack, "deploy", a, limit=2, token=first["nextToken"])) == "BadRequest"


def test_long_message_index_finished_by_the_stream_consumer(stack: Stack,
                                                           captured: Any) -> None:  # noqa: F811
    cid = new_conversation(stack)
    words = [f"w{i:03d}x{'abcdefgh'[i % 8]}" for i in range(60)]  # 60 words, 4 terms each
    stream = Stream()
    transactions: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        transactions.append(len(params["TransactItems"]))

    ddb = api.service().store._client()
    ddb.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", count)
    msg = send(stack, cid, " ".join(words), "cmid-srch-0801")
    assert msg["seq"] == 1
    assert transactions == [5 + TX_INDEX_ACTIONS]  # member, conversation, message, guard, rate
    assert len(index_items(stack, cid)) == TX_INDEX_ACTIONS
    # the most specific terms went first: every whole word of the first 40 is posted
    assert bodies(search(stack, words[0], cid)) == [msg["body"]]
    assert bodies(search(stack, words[59], cid)) == []  # not yet: queued for the consumer
    raw = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={"PK": {"S": f"CONV#{cid}"}, "SK": {"S": "MSG#000000000001"}})["Item"]
    assert raw["sxp"] == {"S": "1"}
    assert consume(stream.read()) == {"batchItemFailures": []}
    assert len(index_items(stack, cid)) == len(index_terms(msg["body"])) == 186
    assert bodies(search(stack, words[59], cid)) == [msg["body"]]
    raw = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={"PK": {"S": f"CONV#{cid}"}, "SK": {"S": "MSG#000000000001"}})["Item"]
    assert not {"sxp", "sxa", "sxd"} & set(raw)
    # an edit to a short body: its transaction deletes 40 postings, the consumer the rest
    transactions.clear()
    edit(stack, cid, msg["id"], "short now")
    assert max(transactions) <= 3 + TX_INDEX_ACTIONS
    assert consume(stream.read()) == {"batchItemFailures": []}
    assert sorted(i["SK"]["S"].split("#")[1] for i in index_items(stack, cid)) == sorted(
        blind_token(search_key(api.service()._current_key(cid)[0]), t).hex()
        for t in ("p:short", "p:sho", "p:shor", "p:now"))
    assert bodies(search(stack, words[59], cid)) == []
    assert bodies(search(stack, "short", cid)) == ["short now"]


def test_a_long_message_deleted_before_the_consumer_runs_leaves_no_posting(
        stack: Stack, captured: Any) -> None:  # noqa: F811
    cid = new_conversation(stack)
    stream = Stream()
    body = " ".join(f"{chr(97 + i // 26)}{chr(97 + i % 26)}qly" for i in range(60))
    msg = send(stack, cid, body, "cmid-srch-0901")
    assert len(index_items(stack, cid)) == TX_INDEX_ACTIONS  # the rest is queued
    assert delete(stack, cid, msg["id"])["deletedAt"]  # removes what was posted, queues nothing
    assert index_items(stack, cid) == []
    # the send's record (its queue long gone) and the delete's: nothing is put back
    assert consume(stream.read()) == {"batchItemFailures": []}
    assert index_items(stack, cid) == []
    assert bodies(search(stack, "aaqly", cid)) == []


def test_an_edit_before_the_consumer_runs_indexes_only_the_new_body(
        stack: Stack, captured: Any) -> None:  # noqa: F811
    cid = new_conversation(stack)
    stream = Stream()
    body = " ".join(f"{chr(97 + i // 26)}{chr(97 + i % 26)}qly" for i in range(60))
    msg = send(stack, cid, body, "cmid-srch-1001")
    edit(stack, cid, msg["id"], body.replace("aaqly", "zebra"))
    assert consume(stream.read()) == {"batchItemFailures": []}
    new_terms = index_terms(body.replace("aaqly", "zebra"))
    key, _ = api.service()._current_key(cid)
    assert sorted(i["SK"]["S"].split("#")[1] for i in index_items(stack, cid)) == sorted(
        blind_token(search_key(key), t).hex() for t in new_terms)
    assert bodies(search(stack, "zebra", cid)) == [body.replace("aaqly", "zebra")]
    assert bodies(search(stack, "aaqly", cid)) == []


def test_pages_follow_seq_when_writers_clocks_disagree(stack: Stack,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two containers' clocks may disagree: a later seq may carry an earlier createdAt. A
    conversation's hits still come in seq order, each once, across pages."""
    from datetime import UTC, datetime, timedelta

    cid = new_conversation(stack)
    base = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    svc = api.service()
    for i, skew in enumerate((0, -30, 5, -60)):
        monkeypatch.setattr(svc, "clock", lambda s=skew: base + timedelta(seconds=s))
        send(stack, cid, f"skewed clock {i}", f"cmid-srch-11{i:02d}")
    seen, token = [], None
    while True:
        got = search(stack, "skewed", cid, limit=1, token=token)
        seen += bodies(got)
        token = got["nextToken"]
        if token is None:
            break
    assert seen == [f"skewed clock {i}" for i in (3, 2, 1, 0)]
    assert bodies(search(stack, "skewed", None, limit=4)) == seen


def test_hits_from_a_blocked_sender_are_flagged_for_the_blocker_only(stack: Stack) -> None:
    """Search results carry senderBlocked as message pages do (the block set rides in the
    candidates' BatchGetItem), in one conversation and across conversations."""
    from tests.integration.test_blocks import block

    cid = new_conversation(stack, members=[BOB, CAROL])
    send(stack, cid, "picnic from alice", "cmid-srch-blk1")
    send(stack, cid, "picnic from bob", "cmid-srch-blk2", who="bob")
    assert error_type(block(stack, "alice", BOB)) is None
    for scope in (cid, None):
        mine = search(stack, "picnic", scope)
        assert [(m["body"], m["senderBlocked"]) for m in mine["items"]] == [
            ("picnic from bob", True), ("picnic from alice", False)]
        theirs = search(stack, "picnic", scope, who="carol")
        assert [m["senderBlocked"] for m in theirs["items"]] == [False, False]
