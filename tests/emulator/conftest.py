"""Fixtures for the emulator tests: moto Cognito on loopback, real tokens, fake handlers and
a running emulator (each test module starts its own on an ephemeral 127.0.0.1 port)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from jwt import PyJWK
from moto.server import ThreadedMotoServer
from moto.utilities.utils import load_resource

from cloudchat_local.emulator import (
    NONE_DATA_SOURCE,
    CognitoConfig,
    EmulatorConfig,
    IamConfig,
    IamCredential,
    RunningEmulator,
    run_in_thread,
)

HERE = Path(__file__).parent
FIXTURE_SCHEMA = HERE / "fixture_schema.graphql"
REGION = "us-east-1"
PASSWORD = "Passw0rd!Passw0rd"
IAM_KEY = "AKIDEMULATORTEST"
IAM_SECRET = "emulator-test-secret"
IAM_ARN = "arn:aws:iam::123456789012:user/publisher"
CREATED_AT = "2024-05-01T12:00:00.000Z"


@dataclasses.dataclass
class Cognito:
    endpoint: str
    pool_id: str
    client_id: str
    other_client_id: str
    foreign_pool_id: str
    tokens: dict[str, dict[str, str]]
    subs: dict[str, str]
    foreign_token: str

    def config(self) -> CognitoConfig:
        return CognitoConfig.for_moto(self.endpoint, self.pool_id, {self.client_id})

    def mint(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None) -> str:
        """A token signed with moto's Cognito key (to forge expired/odd tokens)."""
        key = PyJWK(load_resource("cognitoidp/resources/jwks-private.json")).key
        return jwt.encode(claims, key, algorithm="RS256", headers=headers or {"kid": "dummy"})

    def claims(self, user: str = "alice", **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{self.pool_id}",
            "sub": self.subs[user],
            "client_id": self.client_id,
            "token_use": "access",
            "iat": now,
            "auth_time": now,
            "exp": now + 600,
            "username": user,
        }
        claims.update(overrides)
        return claims


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _tokens(idp: Any, client_id: str, user: str) -> dict[str, str]:
    result = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    return {"access": result["AccessToken"], "id": result["IdToken"]}


def _user(idp: Any, pool_id: str, user: str) -> str:
    idp.admin_create_user(UserPoolId=pool_id, Username=user, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username=user, Password=PASSWORD, Permanent=True)
    attrs = idp.admin_get_user(UserPoolId=pool_id, Username=user)["UserAttributes"]
    return next(a["Value"] for a in attrs if a["Name"] == "sub")


@pytest.fixture(scope="session")
def cognito(moto_endpoint: str) -> Cognito:
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    pool_id = idp.create_user_pool(PoolName="emulator-tests")["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="web", ExplicitAuthFlows=flows)[
        "UserPoolClient"
    ]["ClientId"]
    other_client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="other", ExplicitAuthFlows=flows
    )["UserPoolClient"]["ClientId"]
    idp.create_group(UserPoolId=pool_id, GroupName="admins")
    subs = {user: _user(idp, pool_id, user) for user in ("alice", "bob")}
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username="alice", GroupName="admins")
    tokens = {user: _tokens(idp, client_id, user) for user in ("alice", "bob")}
    tokens["bob-other-client"] = _tokens(idp, other_client_id, "bob")

    foreign_pool = idp.create_user_pool(PoolName="foreign")["UserPool"]["Id"]
    foreign_client = idp.create_user_pool_client(
        UserPoolId=foreign_pool, ClientName="web", ExplicitAuthFlows=flows
    )["UserPoolClient"]["ClientId"]
    _user(idp, foreign_pool, "mallory")
    foreign_token = _tokens(idp, foreign_client, "mallory")["access"]
    return Cognito(
        endpoint=moto_endpoint,
        pool_id=pool_id,
        client_id=client_id,
        other_client_id=other_client_id,
        foreign_pool_id=foreign_pool,
        tokens=tokens,
        subs=subs,
        foreign_token=foreign_token,
    )


class Recorder:
    """Fake Lambda handlers that record the (event, context) they were invoked with."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[str, dict[str, Any], Any]] = []
        self.threads: set[str] = set()
        self._seq = 0

    def record(self, name: str, event: dict[str, Any], context: Any) -> None:
        with self._lock:
            self.calls.append((name, event, context))
            self.threads.add(threading.current_thread().name)

    def events(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [event for n, event, _ in self.calls if n == name]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def next_id(self) -> str:
        with self._lock:
            self._seq += 1
            return f"item-{self._seq}"

    def resolvers(self) -> dict[tuple[str, str], Any]:
        def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
            self.record("echo", event, context)
            return {
                "id": "item-0",
                "roomId": "room-0",
                "text": event["arguments"]["text"],
                "createdAt": CREATED_AT,
                "ownerSub": "owner-1",
                "tags": ["a", "b"],
            }

        def owner(event: dict[str, Any], context: Any) -> dict[str, Any]:
            self.record("owner", event, context)
            return {"sub": event["source"]["ownerSub"], "name": "Owner One"}

        def fail(event: dict[str, Any], context: Any) -> dict[str, Any]:
            self.record("fail", event, context)
            kind = event["arguments"]["kind"]
            return {"error": {"type": kind, "message": f"{kind} says no", "info": {"hint": 1}}}

        def crash(event: dict[str, Any], context: Any) -> None:
            self.record("crash", event, context)
            raise RuntimeError("kaboom")

        def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return {"id": "b"}

        def admin_report(event: dict[str, Any], context: Any) -> dict[str, Any]:
            self.record("adminReport", event, context)
            return {"count": 3, "secret": "s3cret"}

        def report_count(event: dict[str, Any], context: Any) -> int:
            return 7

        def iam_only(event: dict[str, Any], context: Any) -> str:
            self.record("iamOnly", event, context)
            return "iam-ok"

        def both(event: dict[str, Any], context: Any) -> str:
            identity = event["identity"]
            return str(identity.get("userArn") or identity.get("username"))

        def post_item(event: dict[str, Any], context: Any) -> dict[str, Any]:
            self.record("postItem", event, context)
            args = event["arguments"]
            return {
                "id": self.next_id(),
                "roomId": args["roomId"],
                "text": args.get("text"),
                "note": args.get("note"),
                "createdAt": CREATED_AT,
                "ownerSub": "owner-1",
                "tags": ["t"],
            }

        def guard(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
            self.record("onGuardedItem", event, context)
            if event["identity"]["username"] != "alice":
                room = event["arguments"]["roomId"]
                return {"error": {"type": "Forbidden", "message": f"not a member of {room}"}}
            return None

        return {
            ("Query", "echo"): echo,
            ("Item", "owner"): owner,
            ("Query", "fail"): fail,
            ("Query", "crash"): crash,
            ("Query", "broken"): broken,
            ("Query", "adminReport"): admin_report,
            ("Query", "reportCount"): report_count,
            ("Query", "iamOnly"): iam_only,
            ("Query", "both"): both,
            ("Mutation", "postItem"): post_item,
            ("Mutation", "publishEvent"): NONE_DATA_SOURCE,
            ("Subscription", "onGuardedItem"): guard,
        }


def iam_config() -> IamConfig:
    return IamConfig(
        credentials=(IamCredential(IAM_KEY, IAM_SECRET, account_id="123456789012", user_arn=IAM_ARN),)
    )


def make_config(cognito: Cognito, recorder: Recorder, **overrides: Any) -> EmulatorConfig:
    settings: dict[str, Any] = {
        "schema_path": FIXTURE_SCHEMA,
        "resolvers": recorder.resolvers(),
        "cognito": cognito.config(),
        "iam": iam_config(),
        "keepalive_interval_s": 0.2,
    }
    settings.update(overrides)
    return EmulatorConfig(**settings)


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def emulator(cognito: Cognito, recorder: Recorder) -> Iterator[RunningEmulator]:
    with run_in_thread(make_config(cognito, recorder)) as running:
        yield running


@pytest.fixture(autouse=True)
def _clear_recorder(request: pytest.FixtureRequest) -> None:
    if "recorder" in request.fixturenames:
        request.getfixturevalue("recorder").clear()
