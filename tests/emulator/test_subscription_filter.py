"""Enhanced subscription and invalidation filters: appsync/subscribe.js and appsync/revoke.js
(run by Node with a stub ``@aws-appsync/utils`` that records the extensions calls) do what the
emulator does, and the emulator's evaluator follows AppSync's operators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloudchat_local.emulator._pubsub import check_filter, filter_matches

from .appsync_js import run_appsync_js

REPO = Path(__file__).resolve().parents[2]
SUBSCRIBE_JS = REPO / "appsync" / "subscribe.js"

STUB = """
export const recorded = [];
export const util = { transform: { toSubscriptionFilter(f) { return { transformed: f }; } } };
export const extensions = {
  setSubscriptionFilter(f) { recorded.push(['filter', f]); },
  setSubscriptionInvalidationFilter(f) { recorded.push(['invalidation', f]); },
  invalidateSubscriptions(o) { recorded.push(['invalidate', o]); },
};
"""

RUNNER = """
import fs from 'node:fs';
import * as subscribe from './subscribe.mjs';
import * as revoke from './revoke.mjs';
import { recorded } from '@aws-appsync/utils';

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const run = (module, cases) => cases.map((result) => {
  recorded.length = 0;
  const value = module.response({ prev: { result } });
  return { value: value === undefined ? 'undefined' : value, set: recorded.slice() };
});
console.log(JSON.stringify({
  subscribe: run(subscribe, input.subscribe), revoke: run(revoke, input.revoke),
  request: [subscribe.request({}), revoke.request({})],
}));
"""

REVOKE_JS = REPO / "appsync" / "revoke.js"
SEQ_FILTER = {"conversationId": {"eq": "C"}, "seq": {"gt": 3}}
MINE = {"conversationId": {"eq": "C"}, "userId": {"eq": "u1"}}
CASES: list[Any] = [{"filter": SEQ_FILTER, "invalidation": MINE}, {"invalidation": MINE},
                    None, {}, {"filter": None}, {"other": 1}]
CHANGES: list[Any] = [
    {"conversationId": "C", "action": "REMOVED", "userIds": ["u1"]},
    {"conversationId": "C", "action": "LEFT", "userIds": ["u2"]},
    {"conversationId": "C", "action": "ADDED", "userIds": ["u3"]},
    {"conversationId": "C", "action": "ROLE_CHANGED", "userIds": ["u1"]},
    {"conversationId": "C", "action": "DELETED", "deletedBy": "u1", "memberCount": 3},
    {"action": "DELETED"},
    None,
]


@pytest.fixture(scope="module")
def js_out(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result: dict[str, Any] = run_appsync_js(
        tmp_path_factory.mktemp("subscribe-js"), stub=STUB,
        modules={"subscribe": SUBSCRIBE_JS, "revoke": REVOKE_JS}, runner=RUNNER,
        payload={"subscribe": CASES, "revoke": CHANGES})
    return result


def test_subscribe_js_sets_the_lambdas_filters_and_returns_null(js_out: dict[str, Any]) -> None:
    out = js_out["subscribe"]
    assert out[0] == {"value": None, "set": [["filter", {"transformed": SEQ_FILTER}],
                                             ["invalidation", {"transformed": MINE}]]}
    assert out[1] == {"value": None, "set": [["invalidation", {"transformed": MINE}]]}
    for case in out[2:]:  # no rules: none set, as the emulator does
        assert case == {"value": None, "set": []}
    assert js_out["request"] == [{}, {}]


def test_revoke_js_invalidates_what_the_emulator_invalidates(js_out: dict[str, Any]) -> None:
    from cloudchat_local.emulator._execute import Engine

    out = js_out["revoke"]
    for change, case in zip(CHANGES, out, strict=True):
        assert case["value"] == change  # the mutation's result is unchanged
        expected = []
        if change and change["action"] in ("REMOVED", "LEFT"):
            expected = [["invalidate", {"subscriptionField": name,
                                        "payload": {"conversationId": "C", "userId": user}}]
                        for user in change["userIds"] for name in Engine.REVOKED_FIELDS]
        if change and change["action"] == "DELETED" and change.get("conversationId"):
            expected = [["invalidate", {"subscriptionField": name, "payload": {
                "conversationId": "C", "userId": Engine.EVERYONE}}] for name in Engine.REVOKED_FIELDS]
        assert case["set"] == expected
        assert len(case["set"]) <= 5  # AppSync's limit of invalidations per request


def test_the_emulator_closes_every_members_subscriptions_of_a_deleted_conversation() -> None:
    """What the emulator's revoke does with a DELETED result: the members' invalidation
    filters (``userId in [me, EVERYONE]``, as the Lambda sets them) all match it; another
    conversation's do not; a removal still closes only the removed member's."""
    from cloudchat_local.emulator._execute import Engine
    from cloudchat_local.emulator._quotas import InvalidationBudget

    class Broker:
        def __init__(self) -> None:
            self.calls: list[tuple[str, dict[str, Any]]] = []

        def invalidate(self, name: str, payload: dict[str, Any]) -> int:
            self.calls.append((name, payload))
            return sum(filter_matches(f, payload) for f in FILTERS)

    def mine(cid: str, user: str) -> dict[str, Any]:
        return {"conversationId": {"eq": cid}, "userId": {"in": [user, Engine.EVERYONE]}}

    FILTERS = [mine("C", "u1"), mine("C", "u2"), mine("D", "u1")]
    engine = Engine.__new__(Engine)
    engine.broker = Broker()  # type: ignore[assignment]
    closed = engine._revoke({"conversationId": "C", "action": "DELETED"}, InvalidationBudget(5))
    assert closed == 2 * len(Engine.REVOKED_FIELDS)  # u1's and u2's on C, on each field
    assert engine._revoke({"conversationId": "C", "action": "REMOVED", "userIds": ["u2"]},
                          InvalidationBudget(5)) == len(Engine.REVOKED_FIELDS)


@pytest.mark.parametrize(("spec", "payload", "expected"), [
    (SEQ_FILTER, {"conversationId": "C", "seq": 4}, True),
    (SEQ_FILTER, {"conversationId": "C", "seq": 3}, False),
    (SEQ_FILTER, {"conversationId": "D", "seq": 9}, False),
    (SEQ_FILTER, {"conversationId": "C"}, False),  # seq not selected by the mutation
    ({"seq": {"ge": 3, "le": 5}}, {"seq": 5}, True),
    ({"seq": {"between": [1, 2]}}, {"seq": 3}, False),
    ({"seq": {"lt": 2}}, {"seq": "1"}, False),  # type mismatch never delivers
    ({"kind": {"in": ["TEXT", "IMAGE"]}}, {"kind": "IMAGE"}, True),
    ({"kind": {"notIn": ["SYSTEM"]}}, {"kind": "SYSTEM"}, False),
    ({"kind": {"ne": "SYSTEM"}}, {}, True),
    ({"body": {"beginsWith": "he"}}, {"body": "hello"}, True),
    ({"body": {"contains": "ll"}}, {"body": "hello"}, True),
    ({"body": {"notContains": "ll"}}, {"body": "hello"}, False),
    ({"editedAt": {"attributeExists": False}}, {"editedAt": None}, True),
    ({"or": [{"seq": {"eq": 1}}, {"seq": {"eq": 2}}]}, {"seq": 2}, True),
    ({"and": [{"seq": {"gt": 1}}, {"seq": {"lt": 2}}]}, {"seq": 2}, False),
])
def test_filter_operators(spec: dict[str, Any], payload: dict[str, Any], expected: bool) -> None:
    check_filter(spec)
    assert filter_matches(spec, payload) is expected


@pytest.mark.parametrize("spec", [{}, {"seq": {"greater": 1}}, {"seq": 1}, {"or": []}, "seq > 1"])
def test_invalid_filters_are_refused(spec: Any) -> None:
    with pytest.raises(ValueError, match=r"filter|operator"):
        check_filter(spec)
