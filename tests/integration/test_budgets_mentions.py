"""Request budgets of mentions (next to test_budgets.py): a send with 50 mentions is still one
TransactWriteItems of the same five actions, and the stream consumer spends one UpdateItem
per mentioned member."""

from typing import Any

import pytest

from cloudchat import api
from cloudchat.models import User
from cloudchat.store import item_size
from cloudchat.validation import MAX_MENTIONS
from resolvers import conversations
from tests.integration.conftest import USERS, Stack
from tests.integration.test_fanout import STREAMED, Stream, captured, consume  # noqa: F401 (a fixture)
from tests.integration.test_mentions import events, send  # noqa: F401 (a fixture)
from tests.integration.test_messages import new_conversation


def crowd(stack: Stack, n: int) -> list[str]:
    store = api.service().store
    ids = [f"{i:08d}-aaaa-4aaa-8aaa-{i:012d}" for i in range(n)]
    for uid in ids:
        store.put_profile_if_absent(User(id=uid, display_name=f"user {uid[:8]}",
                                         created_at="2026-01-01T00:00:00.000Z", username=uid))
    return ids


def _is_posting(op: dict[str, Any]) -> bool:
    put = op.get("Put")
    return put is not None and put["Item"]["SK"]["S"].startswith("SX#")


def test_send_with_fifty_mentions_warm_is_one_request_with_a_check_per_mention(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    others = crowd(stack, MAX_MENTIONS)
    cid = new_conversation(stack, members=others, title="crowd")
    send(stack, cid, "warm up", "cmid-bm-0000")
    store = api.service().store
    actions: list[int] = []
    transact = store._transact

    def spy(ops: dict[str, dict[str, Any]]) -> Any:
        # the send's own actions; its search postings (cloudchat.store._search, at most
        # TX_INDEX_ACTIONS) ride after them and are budgeted in test_budgets_search.py
        actions.append(sum(1 for op in ops.values()
                           if not _is_posting(op)))
        return transact(ops)

    monkeypatch.setattr(store, "_transact", spy)
    counter = stack.counter()
    plain = send(stack, cid, "nobody", "cmid-bm-0001")
    assert (counter.dynamodb, counter.kms, actions) == (1, 0, [5]), counter.ops
    counter.reset()
    msg = send(stack, cid, "everyone", "cmid-bm-0002", others)
    assert len(msg["mentions"]) == MAX_MENTIONS and msg["seq"] == plain["seq"] + 1
    # still one request: the five actions (member, conversation, message, guard, rate log)
    # and a ConditionCheck per mentioned member item (members live only there)
    assert (counter.dynamodb, counter.kms, actions) == (1, 0, [5, 5 + MAX_MENTIONS]), counter.ops
    # write units: the message item and the conversation's lastMessage copy each carry the
    # 50 ids (~1.9 KB), so each of those two items costs 2 more transactional write units
    # per KB than without mentions (2 x 2 x 2 = 8 at most); plus the 50 member checks
    items = {i["SK"]["S"]: i for i in stack.raw_items() if i["PK"]["S"] == f"CONV#{cid}"}
    grown = item_size(api.service().store._py(items[f"MSG#{msg['seq']:012d}"])) - \
        item_size(api.service().store._py(items[f"MSG#{plain['seq']:012d}"]))
    assert 1800 < grown < 2048, grown


@STREAMED
@pytest.mark.usefixtures("events")
def test_the_consumer_spends_one_update_per_mentioned_member(stack: Stack) -> None:
    s = Stream()
    cid = new_conversation(stack, members=[USERS["bob"], USERS["carol"]], title="t")
    send(stack, cid, "plain", "cmid-bf-0001")
    records = s.read()
    counter = stack.counter()
    consume(records)
    baseline = counter.ops.count("dynamodb.UpdateItem")
    send(stack, cid, "@bob @carol", "cmid-bf-0002", [USERS["bob"], USERS["carol"]])
    records = s.read()
    counter.reset()
    consume(records)
    assert counter.ops.count("dynamodb.UpdateItem") == baseline + 2, counter.ops
    counter.reset()
    consume(records)  # repeated: the conditional adds refuse, nothing is notified
    assert counter.ops.count("dynamodb.UpdateItem") == 2, counter.ops
    view = stack.invoke(conversations, "Query.conversation.ok", "bob", {"id": cid},
                        replace_args=True)
    assert view["unreadMentionCount"] == 1
