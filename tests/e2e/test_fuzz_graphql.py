"""Schema-driven fuzzing of the local stack's /graphql with schemathesis in GraphQL mode.

The schema is loaded the way schemathesis loads any GraphQL API: by introspection of the
running emulator, signed in as a demo user (alice, a Cognito access token). Every query and
mutation of schema.graphql gets a bounded number of generated operations (positive: valid
GraphQL with arbitrary argument values, ids mixed with real ones so the resolvers get past
"not a valid id"; negative: invalid arguments the emulator must refuse), derandomized.

A case fails on: any 5xx; a response that is not AppSync-shaped (a JSON object with
``data``, and ``errors`` each with ``message`` and ``errorType``); a crash (``InternalFailure``,
``Lambda:Unhandled``, a non-null violation, a traceback in a message); a domain error type
outside the documented set; or any change to the table made by a request that was refused.
"""

from __future__ import annotations

import json
import random
import string
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cloudchat.errors import ERROR_TYPES, INTERNAL_FAILURE
from cloudchat_local.emulator._schema import load_schema
from tests.e2e.conftest import DevStack

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
POSITIVE_EXAMPLES = 6  # per operation
NEGATIVE_EXAMPLES = 2  # per operation
_SERVED = load_schema(REPO / "schema.graphql")
OPERATIONS = [("Query", f) for f in _SERVED.query_type.fields] + [  # type: ignore[union-attr]
    ("Mutation", f) for f in _SERVED.mutation_type.fields]  # type: ignore[union-attr]

DOMAIN_ERRORS = set(ERROR_TYPES) - {INTERNAL_FAILURE}
# What the emulator itself answers (as AppSync does) before any resolver runs.
REQUEST_ERRORS = {"ValidationError", "Unauthorized", "UnsupportedOperation"}
CRASHES = {INTERNAL_FAILURE, "Lambda:Unhandled"}
# Written by the stream consumer (activity order, notification claims), asynchronously
# after earlier accepted requests: not the doing of the request under test.
CONSUMER_ATTRIBUTES = {"lastActivity", "GSI1SK", "notifiedAt", "mentionSeqs"}
# Fields that delete the caller's own account: each case runs as a user made for it, not alice.
SELF_DELETING = {"deleteAccount"}
STATS: Counter[str] = Counter()
# Fields that destroy the conversation they name get a new one per case (tests/e2e/test_shred.py).
DISPOSABLE = {"deleteConversation"}


class Fuzz:
    """The stack, alice's token, ids worth using, and the loaded schemathesis schema."""

    def __init__(self, stack: DevStack) -> None:
        import schemathesis

        self.stack = stack
        self.token = stack.token("alice")
        self.headers = {"Authorization": self.token}
        self.http = requests.Session()
        self.ddb = boto3.client(
            "dynamodb", endpoint_url=stack.outputs["AwsEndpointUrl"], region_name=stack.outputs["Region"],
            aws_access_key_id="testing", aws_secret_access_key="testing")
        self.ids = self._known_ids()
        _register_scalars(self.ids)
        self.schema = schemathesis.graphql.from_url(stack.url, headers=self.headers, timeout=30)

    def gql(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
        resp = self.http.post(self.stack.url, json={"query": query, "variables": variables or {}},
                              headers={"Authorization": token or self.token}, timeout=30)
        body = resp.json()
        assert not body.get("errors"), body
        return body["data"]

    def _known_ids(self) -> list[str]:
        """Real ids: users, the demo conversation and its messages, a group alice owns, a
        conversation she is not in, an upload."""
        users = [self.stack.user(n)["sub"] for n in ("alice", "bob", "carol", "mod")]
        demo = self.stack.outputs["DemoConversationId"]
        group = self.gql("mutation($m: [ID!]!) { createConversation(input: {memberIds: $m, title: \"fuzz\"}) { id } }",
                         {"m": users[1:3]})["createConversation"]["id"]
        sent = self.gql("mutation($c: ID!) { sendMessage(input: {conversationId: $c, body: \"fuzz me\", "
                        "clientMessageId: \"fuzz-seed-0001\"}) { id } }", {"c": group})["sendMessage"]["id"]
        bob = self.stack.token("bob")
        elsewhere = self.gql("mutation($m: [ID!]!) { createConversation(input: {memberIds: $m, title: \"not alice\"}) { id } }",
                             {"m": [users[2]]}, token=bob)["createConversation"]["id"]
        demo_msgs = [m["id"] for m in self.gql(
            "query($c: ID!) { messagesSince(conversationId: $c, afterSeq: 0, limit: 5) { items { id } } }",
            {"c": demo})["messagesSince"]["items"]]
        upload = self.gql("mutation($c: ID!) { requestUpload(conversationId: $c, fileName: \"a.png\", "
                          "contentType: \"image/png\", size: 10) { uploadId } }", {"c": group})["requestUpload"]["uploadId"]
        self.pools = {"conversation": [demo, group, elsewhere], "message": [sent, *demo_msgs],
                      "user": users, "upload": [upload]}
        return [*users, demo, group, sent, elsewhere, *demo_msgs, upload]

    def settle(self, cid: str) -> None:
        """Waits for the purge a deletion of ``cid`` started, if it was deleted (the stream
        consumer writes in the background; the next case compares the table before and
        after itself)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            item = self.ddb.get_item(TableName=self.stack.outputs["TableName"], ConsistentRead=True,
                                     Key={"PK": {"S": f"DELETED#{cid}"}, "SK": {"S": "DELETION"}}).get("Item")
            if item is None or "purgedAt" in item:
                return
            time.sleep(0.2)
        raise AssertionError(f"the purge of {cid} did not finish")

    def settle_accounts(self) -> None:
        """Waits until every account deletion job has finished its background steps (the
        stream consumer writes them; the next case compares the table before and after)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            jobs = [item for pk, sk, item in self.state()
                    if pk.startswith("USER#") and sk == "DELETION"]
            if all('"completedAt"' in item for item in jobs):
                return
            time.sleep(0.2)
        raise AssertionError("an account deletion did not finish")

    def stand_in(self) -> str:
        """A new user's token (the user has a profile): for SELF_DELETING fields."""
        from tests.e2e._matrix import create_user, sign_in

        user = create_user(self.stack, "fuzzed")
        token = sign_in(self.stack, user.username)
        self.gql("{ me { id } }", token=token)
        return token

    def state(self) -> list[tuple[str, str, str]]:
        """The whole table (test inspection only: a Scan), less the consumer's attributes."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.stack.outputs["TableName"], "ConsistentRead": True}
        while True:
            resp = self.ddb.scan(**kwargs)
            items += resp["Items"]
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return sorted((i["PK"]["S"], i["SK"]["S"], json.dumps(
            {k: v for k, v in i.items() if k not in CONSUMER_ATTRIBUTES}, sort_keys=True, default=str))
            for i in items)

    def check(self, case: Any, field: str, rnd: random.Random | None = None) -> None:
        pools = self.pools
        if field in DISPOSABLE:  # never the shared conversations: a new one alice owns
            fresh = self.gql("mutation($m: [ID!]!) { createConversation(input: {memberIds: $m, title: \"doomed\"}) { id } }",
                             {"m": self.pools["user"][1:3]})["createConversation"]["id"]
            pools = {**self.pools, "conversation": [fresh, self.pools["conversation"][2]]}
            for shared in self.pools["conversation"][:2]:
                case.body = case.body.replace(shared, fresh)
        if rnd is not None:
            case.body = aim(case.body, rnd, pools)
        headers = self.headers
        if field in SELF_DELETING:
            headers = {"Authorization": self.stand_in()}
            self.settle_accounts()  # (an earlier case's deletion finishes in the background)
        before = self.state()
        response = case.call(base_url=self.stack.url, session=self.http, headers=headers, timeout=30)
        if field in DISPOSABLE:
            self.settle(fresh)
        if field in SELF_DELETING:
            self.settle_accounts()
        after = self.state()
        where = f"{case.body}\n-> {response.status_code} {response.text[:1500]}"
        assert response.status_code < 500, where
        assert response.request.url == self.stack.url, response.request.url
        body = response.json()
        assert isinstance(body, dict) and set(body) <= {"data", "errors"}, where
        errors = body.get("errors") or []
        if response.status_code != 200:  # refused before execution: auth, malformed request
            assert response.status_code in (400, 401, 403) and errors and "data" not in body, where
        else:
            assert "data" in body, where
        for error in errors:
            assert isinstance(error, dict) and isinstance(error.get("message"), str), where
            kind = error.get("errorType")
            assert kind not in CRASHES, where
            assert kind in DOMAIN_ERRORS | REQUEST_ERRORS, where
            assert "Traceback" not in error["message"] and "Cannot return null" not in error["message"], where
            if error.get("path") is not None:
                assert error["path"][0] == field, where
        data = body.get("data")
        value = data.get(field) if isinstance(data, dict) else None
        refused = bool(errors) and value is None
        if refused or case.operation.definition.is_query:
            assert after == before, f"the table changed:\n{where}\n" + "\n".join(
                str(x) for x in sorted(set(after) ^ set(before)))
        STATS["cases"] += 1
        STATS["refused" if refused else "answered"] += 1
        for error in errors:
            STATS[f"errorType:{error.get('errorType')}"] += 1


# Arguments (and input fields) that name a thing, and which kind of thing.
ROLES = {"conversationId": "conversation", "id": "conversation", "messageId": "message",
         "rootId": "message", "parentId": "message", "userId": "user", "userIds": "user",
         "memberIds": "user", "attachments": "upload", "mentions": "user"}


def aim(query: str, rnd: random.Random, pools: dict[str, list[str]]) -> str:
    """Points two thirds of the id arguments of a generated operation at real ids of the
    right kind (like schemathesis' per-argument dictionaries), so resolvers get past
    "not a valid id" and "not a member"; the rest stay as generated."""
    from graphql import ListValueNode, StringValueNode, Visitor, parse, print_ast, visit

    def value(node: Any, role: str) -> Any:
        if isinstance(node, StringValueNode) and rnd.random() < 2 / 3:
            return StringValueNode(value=rnd.choice(pools[role]))
        if isinstance(node, ListValueNode):
            return ListValueNode(values=tuple(value(v, role) for v in node.values))
        return node

    class Aim(Visitor):
        def swap(self, node: Any, *_: Any) -> Any:
            role = ROLES.get(node.name.value)
            if role is None:
                return None
            return node.__class__(name=node.name, value=value(node.value, role))

        enter_argument = swap
        enter_object_field = swap

    return print_ast(visit(parse(query), Aim()))


def _register_scalars(known_ids: list[str]) -> None:
    """Strategies for AppSync's scalars, and ids that are sometimes real."""
    import schemathesis
    from schemathesis.graphql import nodes

    text = st.text(max_size=40)
    stamps = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1),
                          timezones=st.just(UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z"))
    ulid_like = st.text("0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=26, max_size=26)
    scalars = {
        "ID": st.one_of(st.sampled_from(known_ids), st.sampled_from(known_ids), ulid_like,
                        st.text(string.ascii_letters + string.digits + "-_", max_size=40), text),
        "AWSDateTime": stamps | text,
        "AWSDate": st.dates().map(str) | text,
        "AWSTime": st.times().map(lambda t: t.isoformat() + "Z") | text,
        "AWSEmail": st.emails() | text,
        "AWSJSON": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).map(json.dumps) | text,
        "AWSURL": st.just("https://example.com/x") | text,
        "AWSPhone": st.just("+12065550100") | text,
        "AWSIPAddress": st.ip_addresses().map(str) | text,
    }
    # Strings and ints that mean something here half of the time (client message ids,
    # emoji, names, MIME types, seqs, limits), anything the other half.
    scalars["String"] = st.one_of(
        st.from_regex(r"\A[A-Za-z0-9_-]{8,24}\Z"),
        st.sampled_from(["👍", "❤️", "🇺🇳", ":tada:", "👍👍", "hello", "image/png", "text/plain", "a.png",
                         "spam", "  ", "", "\n", "ALICE", "bob", "@example.com", "APNS"]),
        st.sampled_from(known_ids), text, st.text(max_size=300))
    for name, strategy in scalars.items():
        schemathesis.graphql.scalar(name, strategy.map(nodes.String))
    schemathesis.graphql.scalar("Int", st.one_of(st.integers(-1, 5), st.integers(-1, 120),
                                                 st.integers(-(2**31), 2**31 - 1)).map(nodes.Int))
    schemathesis.graphql.scalar("AWSTimestamp", st.integers(0, 2**31 - 1).map(nodes.Int))


@pytest.fixture(scope="module")
def fuzz(stack: DevStack) -> Fuzz:
    return Fuzz(stack)


def test_the_introspected_schema_is_schema_graphql(fuzz: Fuzz) -> None:
    loaded = {(op.ok().definition.root_type.name.title(), op.ok().definition.field_name)
              for op in fuzz.schema.get_all_operations()}
    assert loaded == set(OPERATIONS)


@pytest.mark.parametrize(("type_name", "field"), OPERATIONS, ids=[f"{t}.{f}" for t, f in OPERATIONS])
def test_fuzz_operation(fuzz: Fuzz, type_name: str, field: str) -> None:
    from schemathesis.generation import GenerationMode

    operation = fuzz.schema[type_name][field]
    _fuzz(fuzz, operation, field, GenerationMode.POSITIVE, POSITIVE_EXAMPLES)
    _fuzz(fuzz, operation, field, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)


def _fuzz(fuzz: Fuzz, operation: Any, field: str, mode: Any, n: int) -> None:
    from schemathesis.generation import GenerationMode

    aimed = mode == GenerationMode.POSITIVE  # negative cases keep their invalid arguments

    @settings(max_examples=n, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), rnd=st.randoms())
    def one(case: Any, rnd: random.Random) -> None:
        fuzz.check(case, field, rnd if aimed else None)

    try:
        one()
    except BaseException as exc:
        if "Impossible to generate negative test cases" not in str(exc):  # an argument-less field
            raise


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(body=st.one_of(
    st.binary(max_size=60),
    st.text(max_size=60).map(str.encode),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                 lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(
                     ["query", "variables", "operationName", "x"]), c, max_size=4),
                 max_leaves=8).map(lambda v: json.dumps(v).encode()),
))
def _garbage(fuzz: Fuzz, body: bytes) -> None:
    resp = fuzz.http.post(fuzz.stack.url, data=body, headers={**fuzz.headers, "content-type": "application/json"},
                          timeout=30)
    assert resp.status_code in (200, 400), (body, resp.status_code, resp.text[:300])
    got = resp.json()
    assert isinstance(got, dict) and got.get("errors"), got
    assert all(e.get("errorType") in REQUEST_ERRORS | {"MalformedHttpRequestException"} for e in got["errors"]), got
    STATS["garbage"] += 1


def test_request_bodies_that_are_not_graphql(fuzz: Fuzz) -> None:
    before = fuzz.state()
    _garbage(fuzz)
    assert fuzz.state() == before


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\udbff\udc00\ud800"])
def test_text_with_an_unpaired_surrogate_is_a_bad_request(fuzz: Fuzz, text: str) -> None:
    """JSON may carry "\\ud800" (json.dumps escapes it): BadRequest, nothing written."""
    group = fuzz.ids[5]
    before = fuzz.state()
    for query, variables in [
        ("mutation($i: SendMessageInput!) { sendMessage(input: $i) { id } }",
         {"i": {"conversationId": group, "body": text, "clientMessageId": "fuzz-surrogate-01"}}),
        ("mutation($c: ID!, $t: String!) { renameConversation(conversationId: $c, title: $t) { id } }",
         {"c": group, "t": text}),
        ("mutation($n: String) { updateProfile(displayName: $n) { id } }", {"n": text}),
        ("query($q: String) { users(query: $q) { items { id } } }", {"q": text}),
        ("query($q: String!) { searchMessages(query: $q) { items { id } } }", {"q": text}),
    ]:
        resp = fuzz.http.post(fuzz.stack.url, data=json.dumps({"query": query, "variables": variables}),
                              headers={**fuzz.headers, "content-type": "application/json"}, timeout=30)
        got = resp.json()
        assert resp.status_code == 200 and [e["errorType"] for e in got["errors"]] == ["BadRequest"], got
    assert fuzz.state() == before


def test_an_owner_can_step_down_when_another_owner_exists(fuzz: Fuzz) -> None:
    """Found by the fuzzer: an owner demoting themself put two operations on their member
    item into one transaction (DynamoDB refuses that): InternalFailure."""
    users = fuzz.pools["user"]
    cid = fuzz.gql('mutation($m: [ID!]!) { createConversation(input: {memberIds: $m, title: "step down"}) { id } }',
                   {"m": users[1:3]})["createConversation"]["id"]
    role = "mutation($c: ID!, $u: ID!, $r: MemberRole!) { setMemberRole(conversationId: $c, userId: $u, role: $r) " \
           "{ action role memberCount } }"
    fuzz.gql(role, {"c": cid, "u": users[1], "r": "OWNER"})
    got = fuzz.gql(role, {"c": cid, "u": users[0], "r": "MEMBER"})["setMemberRole"]
    assert got["action"] == "ROLE_CHANGED" and got["role"] == "MEMBER"
    page = fuzz.gql("query($c: ID!) { members(conversationId: $c, limit: 10) { items { userId role } } }",
                    {"c": cid})["members"]
    assert {m["userId"]: m["role"] for m in page["items"]} == {
        users[0]: "MEMBER", users[1]: "OWNER", users[2]: "MEMBER"} and got["memberCount"] == 3


def test_zz_report(fuzz: Fuzz) -> None:
    """Not a check: prints how much was fuzzed (shown with -s or -rA)."""
    print(f"\nGraphQL fuzzing: {dict(sorted(STATS.items()))}")
    assert STATS["cases"] >= len(OPERATIONS) * POSITIVE_EXAMPLES // 2
