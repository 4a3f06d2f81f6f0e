"""Handlers invoked with events/*.json under moto (in-process), table built from template.yaml."""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cloudchat import api, aws
from cloudchat.models import User
from cloudchat_local import moto as moto_seam
from cloudchat_local.template import load_template

EVENTS = Path(__file__).resolve().parents[2] / "events"
TABLE = "cloudchat-test"
BUCKET = "cloudchat-test-attachments"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example01"

USERS = {
    "alice": "11111111-1111-4111-8111-111111111111",
    "bob": "22222222-2222-4222-8222-222222222222",
    "carol": "33333333-3333-4333-8333-333333333333",
    "mallory": "44444444-4444-4444-8444-444444444444",
    "mod": "55555555-5555-4555-8555-555555555555",
    "root": "66666666-6666-4666-8666-666666666666",
}
GROUPS = {"mod": ["moderator"], "root": ["admin"]}


@dataclass
class LambdaContext:
    function_name: str = "cloudchat-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:cloudchat-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def identity(who: str) -> dict[str, Any]:
    sub = USERS[who]
    groups = GROUPS.get(who)
    claims = {"sub": sub, "iss": ISSUER, "token_use": "access", "username": sub,
              "client_id": "exampleclientid0000000000", "email": f"{who}@example.com"}
    if groups:
        claims["cognito:groups"] = groups
    return {"sub": sub, "issuer": ISSUER, "username": sub, "claims": claims,
            "sourceIp": ["203.0.113.10"], "defaultAuthStrategy": "ALLOW", "groups": groups}


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


class RequestCounter:
    """Counts AWS API calls per service with botocore's before-call hook."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.ops: list[str] = []
        for service in ("dynamodb", "kms"):
            aws.client(service).meta.events.register(f"before-call.{service}", self._hook)

    def _hook(self, model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        self.calls[service] += 1
        self.ops.append(f"{service}.{model.name}")

    def reset(self) -> None:
        self.calls.clear()
        self.ops.clear()

    @property
    def dynamodb(self) -> int:
        return self.calls["dynamodb"]

    @property
    def kms(self) -> int:
        return self.calls["kms"]


@dataclass
class Stack:
    kms_key: str

    def invoke(self, module: ModuleType, event_name: str, who: str = "alice",
               args: dict[str, Any] | None = None, *, replace_args: bool = False) -> Any:
        event = copy.deepcopy(load_event(event_name))
        event["identity"] = identity(who) if who else None
        if args is not None:
            if replace_args:
                event["arguments"] = args
            else:
                for k, v in args.items():
                    if isinstance(v, dict) and isinstance(event["arguments"].get(k), dict):
                        event["arguments"][k].update(v)
                    else:
                        event["arguments"][k] = v
        return module.lambda_handler(event, LambdaContext())

    def raw_items(self) -> list[dict[str, Any]]:
        ddb = boto3.client("dynamodb")
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": TABLE}
        while True:
            resp = ddb.scan(**kwargs)  # test inspection only; never on a request path
            items += resp["Items"]
            if "LastEvaluatedKey" not in resp:
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def counter(self) -> RequestCounter:
        return RequestCounter()


#: AWS behaviours moto 5.2.5 lacks and cloudchat_local.moto restores: a test that relies on one
#: is marked ``@pytest.mark.moto_fidelity(<one of these>)`` and skipped on moto as released.
STREAMS_SURVIVE_CANCELLED_TRANSACTIONS = (
    "a cancelled transaction changes nothing on AWS; moto restores a copy of the whole table, so "
    "an open stream iterator reads the replaced shard and sees no later record "
    "(cloudchat_local.moto._locking restores items instead)")
ISOLATED_TRANSACTIONS = (
    "DynamoDB transactions are isolated from concurrent writes; moto interleaves them "
    "(cloudchat_local.moto._locking serializes its DynamoDB backend)")
ITEM_SIZE_AS_LEFT = (
    "DynamoDB sizes an updated item as the update leaves it; moto counts old and new values "
    "together and refuses items well under 400 KB (cloudchat_local.moto._locking)")

#: Modules that exist to test a moto patch (or need one: concurrent senders rely on
#: DynamoDB's isolation, which moto has only with serialize_dynamodb).
PATCH_TESTS = frozenset({"test_moto_patches", "test_gsi_consistency", "test_seq_properties"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``CLOUDCHAT_MOTO_PATCHES=off`` (``make test-unpatched``): the domain runs on moto as
    released; the tests of a patch are skipped."""
    if moto_seam.patches_enabled():
        return
    skip = pytest.mark.skip(reason="tests a cloudchat_local.moto patch (CLOUDCHAT_MOTO_PATCHES=off)")
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in PATCH_TESTS:
            item.add_marker(skip)
        elif (fidelity := item.get_closest_marker("moto_fidelity")) is not None:
            item.add_marker(pytest.mark.skip(
                reason=f"moto as released lacks what AWS does: {fidelity.args[0]}"))


@pytest.fixture(autouse=True)
def _no_patch_when_off() -> Iterator[None]:
    """With the patches off, nothing may apply one behind the switch's back."""
    yield
    if not moto_seam.patches_enabled():
        assert not moto_seam.applied(), f"moto patched with CLOUDCHAT_MOTO_PATCHES=off: {moto_seam.applied()}"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    if moto_seam.patches_enabled():
        moto_seam.serialize_dynamodb()
        # moto's answers, faster (each speed-up is compared with unpatched moto in tests/local):
        # the rate log's 122-action update alone costs unpatched moto ~0.4 s of CPU per write
        moto_seam.server_speedups()
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("TOKEN_SECRET", "integration-test-token-secret-0123456789abcdef")
    monkeypatch.setenv("ATTACHMENTS_BUCKET", BUCKET)
    with mock_aws():
        boto3.client("dynamodb").create_table(**load_template().table_create_kwargs(TABLE))
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        key = boto3.client("kms").create_key(Description="cloudchat test")["KeyMetadata"]["Arn"]
        monkeypatch.setenv("KMS_KEY_ID", key)
        api.reset()
        put_profiles()
        yield Stack(kms_key=key)
        api.reset()


def put_profiles() -> None:
    """The test users' profiles, through the service's store (as the users resolver would)."""
    store = api.service().store
    for who, sub in USERS.items():
        store.put_profile_if_absent(User(id=sub, display_name=who.title(),
                                         created_at="2026-01-01T00:00:00.000Z",
                                         username=sub, email=f"{who}@example.com"))


def error_type(result: Any) -> str | None:
    if isinstance(result, dict) and isinstance(result.get("error"), dict):
        return str(result["error"]["type"])
    return None


def jsonable(value: Any) -> Any:
    """``json.dumps`` default for stream records as Lambda delivers them (its event is JSON:
    binary attributes arrive base64-encoded, dates as numbers)."""
    import base64
    from datetime import datetime

    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(type(value))


def member_roles(stack: Stack, cid: str, who: str = "alice", limit: int = 100) -> dict[str, str]:
    """Every member of the conversation and their role, paged through Query.members."""
    from resolvers import conversations

    out: dict[str, str] = {}
    token = None
    while True:
        page = stack.invoke(conversations, "Query.members.ok", who,
                            {"conversationId": cid, "limit": limit, "nextToken": token},
                            replace_args=True)
        out.update((m["userId"], m["role"]) for m in page["items"])
        token = page["nextToken"]
        if token is None:
            return out
