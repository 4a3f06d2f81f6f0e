"""AppSync's quotas, enforced by the emulator (see cloudchat_local.emulator._quotas)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudchat_local.emulator import (
    ConfigError,
    EmulatorConfig,
    LambdaResolver,
    RunningEmulator,
    run_in_thread,
)
from cloudchat_local.emulator._quotas import InvalidationBudget

from .conftest import FIXTURE_SCHEMA, Cognito, Recorder, make_config
from .helpers import gql_execute, jwt_auth, post_raw, run
from .test_realtime import _post, raw_client

LIMIT = 240 * 1024


def test_the_defaults_are_appsyncs() -> None:
    config = EmulatorConfig(schema_path=FIXTURE_SCHEMA)
    assert config.request_timeout_s == 30.0
    assert config.subscription_payload_limit_bytes == 240 * 1024
    assert config.max_subscriptions_per_connection == 100
    assert config.max_invalidations_per_request == 5
    assert config.resolver_result_limit_bytes == 5 * 1024 * 1024
    assert (config.query_depth_limit, config.resolver_count_limit) == (0, 0)  # AppSync's "unset"


@pytest.mark.parametrize(
    "override",
    [{"request_timeout_s": 0}, {"subscription_payload_limit_bytes": -1},
     {"max_subscriptions_per_connection": -1}, {"max_invalidations_per_request": -1},
     {"resolver_result_limit_bytes": -1}, {"query_depth_limit": 76}, {"query_depth_limit": -1},
     {"resolver_count_limit": 10_001}],
)
def test_bad_quota_settings(override: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        EmulatorConfig(schema_path=FIXTURE_SCHEMA, **override)


# --- subscription payload size -------------------------------------------------------------

BIG_POST = "mutation($t: String) { postItem(roomId: \"room-big\", text: $t) { roomId text } }"
#: the published payload is {"roomId":"room-big","text":"<text>"}
OVERHEAD = len('{"roomId":"room-big","text":""}')


def test_a_payload_over_240_kb_reaches_no_subscriber(emulator: RunningEmulator, cognito: Cognito) -> None:
    token = cognito.tokens["alice"]["access"]

    async def scenario() -> tuple[list[str], dict[str, Any]]:
        async with raw_client(emulator, token) as client:
            await client.init()
            await client.start("big", 'subscription { onItem(roomId: "room-big") { text } }')
            assert (await client.frame())["type"] == "start_ack"
            over = await gql_execute(emulator, jwt_auth(emulator, token), BIG_POST,
                                     {"t": "o" * (LIMIT - OVERHEAD + 1)})
            await gql_execute(emulator, jwt_auth(emulator, token), BIG_POST,
                              {"t": "a" * (LIMIT - OVERHEAD)})
            await _post(emulator, token, "room-big", "marker")
            texts = [(await client.frame())["payload"]["data"]["onItem"]["text"] for _ in range(2)]
            return texts, over

    oversized = emulator.engine.broker.oversized
    texts, over = run(scenario())
    # The mutation succeeded and answered in full; only the subscribers missed it.
    assert len(over["postItem"]["text"]) == LIMIT - OVERHEAD + 1
    assert [len(t) for t in texts] == [LIMIT - OVERHEAD, len("marker")]
    assert emulator.engine.broker.oversized == oversized + 1


# --- evaluated resolver result size ---------------------------------------------------------

ECHO = "query($t: String!) { echo(text: $t) { text } }"
#: echo's result is {"id":"item-0","roomId":"room-0","text":"<text>",...}: about 120 bytes more
ECHO_OVERHEAD = 200


def test_a_resolver_result_over_5_mb_is_a_mapping_template_error(
    emulator: RunningEmulator, cognito: Cognito
) -> None:
    token = cognito.tokens["alice"]["access"]
    limit = 5 * 1024 * 1024
    _, over, _ = run(post_raw(emulator, {"query": ECHO, "variables": {"t": "x" * limit}},
                              {"Authorization": token}))
    assert over == {"data": {"echo": None}, "errors": [{
        "path": ["echo"], "data": None, "errorType": "MappingTemplate", "errorInfo": None,
        "locations": [{"line": 1, "column": 22, "sourceName": None}],
        "message": "Transformation too large"}]}
    _, under, _ = run(post_raw(emulator, {"query": ECHO, "variables": {"t": "x" * (limit - ECHO_OVERHEAD)}},
                               {"Authorization": token}))
    assert "errors" not in under and len(under["data"]["echo"]["text"]) == limit - ECHO_OVERHEAD


# --- subscriptions per connection ----------------------------------------------------------

def test_at_most_100_subscriptions_per_connection(emulator: RunningEmulator, cognito: Cognito) -> None:
    token = cognito.tokens["alice"]["access"]

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with raw_client(emulator, token) as client:
            await client.init()
            for n in range(100):
                await client.start(f"s{n}", f'subscription {{ onItem(roomId: "room-{n}") {{ id }} }}')
            acks = [await client.frame() for _ in range(100)]
            assert {a["type"] for a in acks} == {"start_ack"}
            await client.start("s100", 'subscription { onItem(roomId: "room-x") { id } }')
            refused = await client.frame()
            await client.send({"type": "stop", "id": "s0"})
            assert await client.frame() == {"type": "complete", "id": "s0"}
            await client.start("s101", 'subscription { onItem(roomId: "room-x") { id } }')
            return refused, await client.frame()

    refused, accepted = run(scenario())
    assert refused == {
        "type": "error",
        "id": "s100",
        "payload": {"errors": [{"errorType": "MaxSubscriptionsReachedError",
                                "message": "Max number of 100 subscriptions reached"}]},
    }
    assert accepted == {"type": "start_ack", "id": "s101"}


# --- request execution time ----------------------------------------------------------------

@pytest.fixture(scope="module")
def slow_emulator(cognito: Cognito, recorder: Recorder) -> Iterator[RunningEmulator]:
    resolvers = recorder.resolvers()

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        time.sleep(float(event["arguments"]["text"]))
        return {"id": "slow", "roomId": "r", "text": "late", "createdAt": "2024-05-01T12:00:00.000Z"}

    def slow_guard(event: dict[str, Any], context: Any) -> None:
        time.sleep(1.5)

    resolvers[("Query", "echo")] = slow
    resolvers[("Subscription", "onGuardedItem")] = slow_guard
    with run_in_thread(make_config(cognito, recorder, resolvers=resolvers, request_timeout_s=0.5)) as running:
        yield running


def test_a_request_over_the_execution_time_times_out(slow_emulator: RunningEmulator, cognito: Cognito) -> None:
    token = cognito.tokens["alice"]["access"]
    query = {"query": "query($t: String!) { echo(text: $t) { text } }"}
    status, body, _ = run(post_raw(slow_emulator, {**query, "variables": {"t": "1.5"}},
                                   {"Authorization": token}))
    assert status == 200
    assert body == {"data": None, "errors": [{
        "path": None, "data": None, "errorType": "ExecutionTimeout", "errorInfo": None,
        "locations": None, "message": "Execution timed out."}]}
    status, body, _ = run(post_raw(slow_emulator, {**query, "variables": {"t": "0"}},
                                   {"Authorization": token}))
    assert body == {"data": {"echo": {"text": "late"}}}


def test_a_subscription_start_over_the_execution_time_is_refused(
    slow_emulator: RunningEmulator, cognito: Cognito
) -> None:
    async def scenario() -> dict[str, Any]:
        async with raw_client(slow_emulator, cognito.tokens["alice"]["access"]) as client:
            await client.init()
            await client.start("slow", 'subscription { onGuardedItem(roomId: "r") { id } }')
            return await client.frame()

    assert run(scenario()) == {"type": "error", "id": "slow", "payload": {"errors": [
        {"errorType": "ExecutionTimeout", "message": "Execution timed out."}]}}
    assert slow_emulator.engine.broker.count("onGuardedItem") == 0


# --- the API's query depth and resolver count limits ----------------------------------------

@pytest.fixture(scope="module")
def limited_emulator(cognito: Cognito, recorder: Recorder) -> Iterator[RunningEmulator]:
    config = make_config(cognito, recorder, query_depth_limit=2, resolver_count_limit=2)
    with run_in_thread(config) as running:
        yield running


def _limit_error(path: list[str], line: int, column: int, message: str) -> dict[str, Any]:
    return {"path": path, "data": None, "errorType": "LimitExceededError", "errorInfo": None,
            "locations": [{"line": line, "column": column, "sourceName": None}], "message": message}


def test_fields_deeper_than_the_query_depth_limit_are_errors(
    limited_emulator: RunningEmulator, cognito: Cognito
) -> None:
    query = '{ echo(text: "a") { id owner { name } } }'
    _, body, _ = run(post_raw(limited_emulator, {"query": query},
                              {"Authorization": cognito.tokens["alice"]["access"]}))
    assert body == {
        "data": {"echo": {"id": "item-0", "owner": {"name": None}}},
        "errors": [_limit_error(["echo", "owner", "name"], 1, 32,
                                "The query exceeds the API's maximum depth of 2.")],
    }


def test_resolvers_past_the_resolver_count_limit_are_errors(
    limited_emulator: RunningEmulator, cognito: Cognito, recorder: Recorder
) -> None:
    query = '{ a: echo(text: "1") { id } b: echo(text: "2") { id } c: echo(text: "3") { id } }'
    _, body, _ = run(post_raw(limited_emulator, {"query": query},
                              {"Authorization": cognito.tokens["alice"]["access"]}))
    assert body == {
        "data": {"a": {"id": "item-0"}, "b": {"id": "item-0"}, "c": None},
        "errors": [_limit_error(["c"], 1, 55, "The request exceeds the API's limit of 2 resolvers.")],
    }
    assert [e["arguments"]["text"] for e in recorder.events("echo")] == ["1", "2"]


# --- invalidateSubscriptions per request ---------------------------------------------------

REVOKE_SCHEMA = """
type Change { conversationId: ID! action: String! userIds: [ID!]! }
type Note { conversationId: ID! text: String }
type Query { x: String }
type Mutation {
  removeMember(conversationId: ID!, userId: ID!): Change!
  note(conversationId: ID!, text: String): Note
}
type Subscription { onMessage(conversationId: ID!): Note @aws_subscribe(mutations: ["note"]) }
"""
REMOVE = "{conversationId action userIds}"
#: the users removeMember removed, in order
REMOVED: list[str] = []


@pytest.fixture(scope="module")
def revoke_emulator(cognito: Cognito, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """removeMember's resolver is revoke.js; each onMessage subscriber's invalidation filter
    is {conversationId, userId: the subscriber's username} (as subscribe.js sets it)."""
    schema = tmp_path_factory.mktemp("revoke") / "schema.graphql"
    schema.write_text(REVOKE_SCHEMA)

    def remove(event: dict[str, Any], context: Any) -> dict[str, Any]:
        args = event["arguments"]
        REMOVED.append(args["userId"])  # the write is made before the invalidations
        return {"conversationId": args["conversationId"], "action": "REMOVED", "userIds": [args["userId"]]}

    def subscribe(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"invalidation": {"conversationId": {"eq": event["arguments"]["conversationId"]},
                                 "userId": {"eq": event["identity"]["username"]}}}

    resolvers: dict[tuple[str, str], Any] = {
        ("Mutation", "removeMember"): LambdaResolver(remove, revokes_subscriptions=True),
        ("Mutation", "note"): lambda event, context: dict(event["arguments"]),
        ("Subscription", "onMessage"): LambdaResolver(subscribe, sets_subscription_filter=True),
    }
    config = EmulatorConfig(schema_path=Path(schema), resolvers=resolvers, cognito=cognito.config())
    REMOVED.clear()
    with run_in_thread(config) as running:
        yield running


def _revoke_scenario(running: RunningEmulator, cognito: Cognito, conversation: str,
                     mutation: str) -> tuple[dict[str, Any], dict[str, str]]:
    """alice and bob subscribe to onMessage(conversation); ``mutation`` runs, then a note is
    posted: returns the mutation's body and, per user, the first frame type they get."""
    alice, bob = (cognito.tokens[u]["access"] for u in ("alice", "bob"))
    subscription = f'subscription {{ onMessage(conversationId: "{conversation}") {{ text }} }}'

    async def scenario() -> tuple[dict[str, Any], dict[str, str]]:
        async with raw_client(running, alice) as a, raw_client(running, bob) as b:
            for client in (a, b):
                await client.init()
                await client.start("s", subscription)
                assert (await client.frame())["type"] == "start_ack"
            _, body, _ = await post_raw(running, {"query": mutation}, {"Authorization": alice})
            await gql_execute(running, jwt_auth(running, alice),
                              f'mutation {{ note(conversationId: "{conversation}", text: "after") '
                              f'{{ conversationId text }} }}')
            return body, {"alice": (await a.frame())["type"], "bob": (await b.frame())["type"]}

    result: tuple[dict[str, Any], dict[str, str]] = run(scenario())
    return result


def test_invalidations_within_the_limit_close_the_subscriptions(
    revoke_emulator: RunningEmulator, cognito: Cognito
) -> None:
    body, first = _revoke_scenario(
        revoke_emulator, cognito, "c1",
        f'mutation {{ removeMember(conversationId: "c1", userId: "alice") {REMOVE} }}')
    assert body == {"data": {"removeMember": {"conversationId": "c1", "action": "REMOVED",
                                              "userIds": ["alice"]}}}
    assert first == {"alice": "complete", "bob": "data"}


def test_more_than_five_invalidations_in_a_request_are_an_error(
    revoke_emulator: RunningEmulator, cognito: Cognito
) -> None:
    """Two aliased removeMember fields make 4 + 4 unique invalidateSubscriptions calls."""
    before = len(REMOVED)
    body, first = _revoke_scenario(
        revoke_emulator, cognito, "c2",
        f'mutation {{ a: removeMember(conversationId: "c2", userId: "alice") {REMOVE} '
        f'b: removeMember(conversationId: "c2", userId: "bob") {REMOVE} }}')
    assert body["data"] is None
    assert body["errors"] == [{
        "path": ["b"], "data": None, "errorType": "InvalidationLimitExceeded", "errorInfo": None,
        "locations": [{"line": 1, "column": 99, "sourceName": None}],
        "message": "A request may make at most 5 unique invalidateSubscriptions calls; this one would make 8.",
    }]
    # Both writes were made; the second field's invalidations were not.
    assert REMOVED[before:] == ["alice", "bob"]
    assert first == {"alice": "complete", "bob": "data"}


def test_repeated_invalidations_count_once(revoke_emulator: RunningEmulator, cognito: Cognito) -> None:
    body, first = _revoke_scenario(
        revoke_emulator, cognito, "c3",
        f'mutation {{ a: removeMember(conversationId: "c3", userId: "bob") {REMOVE} '
        f'b: removeMember(conversationId: "c3", userId: "bob") {REMOVE} }}')
    assert "errors" not in body
    assert first == {"alice": "data", "bob": "complete"}


def test_the_budget() -> None:
    budget = InvalidationBudget(5)
    four = [(f"f{n}", {"u": 1}) for n in range(4)]
    assert budget.admit(four) is None and len(budget) == 4
    assert budget.admit(four) is None and len(budget) == 4
    assert budget.admit([("f9", {"u": 1}), ("f9", {"u": 2})]) == (
        "A request may make at most 5 unique invalidateSubscriptions calls; this one would make 6.")
    assert len(budget) == 4
    assert budget.admit([("f9", {"u": 1})]) is None and len(budget) == 5
