"""A message item near DynamoDB's 400 KB item limit (issue 12): 20 body versions of 4,000
four-byte characters plus 20 reaction kinds of 100 users do not fit. The edit or reaction
that would grow the item past the limit is a clear BadRequest that writes nothing (before:
DynamoDB's ValidationException, answered as InternalFailure), and the message still reads."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from cloudchat import api
from cloudchat.store import ITEM_SIZE_BUDGET
from resolvers import messages
from tests.integration.conftest import ITEM_SIZE_AS_LEFT, TABLE, Stack, error_type
from tests.integration.test_integrity import item
from tests.integration.test_messages import new_conversation, send, since

KINDS = ["👍", "❤️", "😂", "🎉", "🔥", "🙏", "😍", "🤔", "👀", "✅",
         "💯", "🚀", "⭐", "☕", "⚽", "😀", "😎", "🥳", "🤝", "👏"]


def raw_size(raw: dict[str, Any]) -> int:
    """DynamoDB's count for a low-level item, as moto computes it."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    return sum(len(k.encode()) + DynamoType(v).size() for k, v in raw.items())


@pytest.mark.moto_fidelity(ITEM_SIZE_AS_LEFT)
def test_growing_past_400_kb_is_a_bad_request_not_an_internal_failure(stack: Stack) -> None:
    cid = new_conversation(stack)
    big = "😀" * 4000  # 4,000 characters, 16,000 bytes of UTF-8
    msg = send(stack, cid, big, "cmid-itemsize-1")
    # 20 reaction kinds of 100 users each (written as earlier reactions would have been)
    users = {f"user-{i:03d}-0000-4000-8000-000000000000" for i in range(100)}
    boto3.client("dynamodb").update_item(
        TableName=TABLE, Key={"PK": {"S": f"CONV#{cid}"}, "SK": {"S": f"MSG#{1:012d}"}},
        UpdateExpression="SET " + ", ".join(f"#r{i} = :u" for i in range(20)) + ", reactionKinds = :k",
        ExpressionAttributeNames={f"#r{i}": f"rx#{e}" for i, e in enumerate(KINDS)},
        ExpressionAttributeValues={":u": {"SS": sorted(users)}, ":k": {"SS": KINDS}})
    api.reset()
    answers = []
    for version in range(1, 21):
        out = stack.invoke(messages, "Mutation.editMessage.ok", "alice", {"input": {
            "conversationId": cid, "messageId": msg["id"], "body": chr(0x1F600 + version) * 4000,
            "expectedVersion": version}})
        answers.append(error_type(out))
        if error_type(out):
            break
    assert answers[-1] == "BadRequest" and set(answers[:-1]) == {None}, answers
    stored = item(cid, 1)
    assert raw_size(stored) <= 400 * 1024
    before = len(stored["bodies"]["L"])
    refused = stack.invoke(messages, "Mutation.editMessage.ok", "alice", {"input": {
        "conversationId": cid, "messageId": msg["id"], "body": "x" * 4000,
        "expectedVersion": before}})
    assert error_type(refused) == "BadRequest" and "400 KB" in refused["error"]["message"]
    # reactions: more users on the kinds in use, until the item is full
    for who in ("bob", "alice"):
        out = stack.invoke(messages, "Mutation.addReaction.ok", who, {
            "conversationId": cid, "messageId": msg["id"], "emoji": "👍"})
        assert error_type(out) in (None, "BadRequest"), out
    assert raw_size(item(cid, 1)) <= 400 * 1024
    assert len(item(cid, 1)["bodies"]["L"]) == before  # nothing written by the refusals
    (read,) = since(stack, cid, 0, "bob")["items"]
    assert read["version"] == before and len(read["body"]) == 4000
    # removing a reaction always works (the item shrinks)
    out = stack.invoke(messages, "Mutation.removeReaction.ok", "alice", {
        "conversationId": cid, "messageId": msg["id"], "emoji": "👍"})
    assert error_type(out) is None, out


def test_the_budget_is_under_dynamodbs_limit_as_moto_counts_it(stack: Stack) -> None:
    """The store's estimate is an upper bound of DynamoDB's count (as moto makes it)."""
    from cloudchat.store import item_size

    cid = new_conversation(stack)
    send(stack, cid, "é😀" * 1000, "cmid-itemsize-2")
    store = api.service().store
    image = store.images.get(cid, 1)
    assert image is not None
    assert item_size(image) >= raw_size(item(cid, 1))
    assert ITEM_SIZE_BUDGET < 400 * 1024


@pytest.mark.moto_fidelity(ITEM_SIZE_AS_LEFT)
def test_moto_still_refuses_an_item_past_the_limit(stack: Stack) -> None:
    """(The moto patch counts a replaced attribute once; a real excess is still refused.)"""
    import pytest
    from botocore.exceptions import ClientError

    ddb = boto3.client("dynamodb")
    key = {"PK": {"S": "TEST#size"}, "SK": {"S": "X"}}
    ddb.put_item(TableName=TABLE, Item={**key, "a": {"B": b"x" * 300_000}})
    ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="SET a = :b",
                    ExpressionAttributeValues={":b": {"B": b"y" * 390_000}})  # replaced: fits
    with pytest.raises(ClientError, match="ValidationException"):
        ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="SET c = :b",
                        ExpressionAttributeValues={":b": {"B": b"z" * 20_000}})


def test_a_reaction_that_would_grow_the_item_past_the_budget_is_refused(
        stack: Stack, monkeypatch: Any) -> None:
    from cloudchat.store import _codec as store_module  # where the budget is read

    cid = new_conversation(stack)
    msg = send(stack, cid, "hello", "cmid-itemsize-3")
    image = api.service().store.images.get(cid, 1)
    assert image is not None
    monkeypatch.setattr(store_module, "ITEM_SIZE_BUDGET", store_module.item_size(image) + 10)
    out = stack.invoke(messages, "Mutation.addReaction.ok", "bob", {
        "conversationId": cid, "messageId": msg["id"], "emoji": "👍"})
    assert error_type(out) == "BadRequest" and "400 KB" in out["error"]["message"], out
    assert not any(k.startswith("rx#") for k in item(cid, 1))
