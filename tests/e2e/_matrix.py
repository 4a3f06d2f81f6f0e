"""Helpers shared by test_authz_matrix.py and test_token_attacks.py: the schema's root fields,
Cognito users made through moto, real gql clients (HTTP and AppSync WebSocket) that report what
the API answered instead of raising, and JWT forgery."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import boto3
import jwt
from botocore.credentials import Credentials
from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import (
    AppSyncAuthentication,
    AppSyncIAMAuthentication,
    AppSyncJWTAuthentication,
)
from gql.transport.exceptions import TransportQueryError, TransportServerError
from graphql import GraphQLField, GraphQLObjectType, GraphQLSchema
from jwt.algorithms import RSAAlgorithm

from cloudchat_local.emulator import build_appsync_schema

from .conftest import REPO, TIMEOUT, AckingTransport, DevStack

# What AppSync adds to every schema (scalars and auth/subscription directives).
ROOT_TYPES = ("Query", "Mutation", "Subscription")
PASSWORD = "Matrix-Passw0rd-2024"

# --------------------------------------------------------------------------- outcomes

OK = "ok"
UNAUTHENTICATED = "UnauthorizedException"  # HTTP 401 / connection_error: no or bad token
UNAUTHORIZED = "Unauthorized"  # AppSync field authorization (@aws_* directives)
FORBIDDEN = "Forbidden"
NOT_FOUND = "NotFound"
BAD_REQUEST = "BadRequest"


def load_schema() -> GraphQLSchema:
    """schema.graphql as AppSync serves it (its scalars and directives added)."""
    return build_appsync_schema((REPO / "schema.graphql").read_text(encoding="utf-8"))


def root_fields(schema: GraphQLSchema | None = None) -> dict[str, GraphQLField]:
    """Every Query, Mutation and Subscription field, as ``"Type.field"``."""
    schema = schema or load_schema()
    out: dict[str, GraphQLField] = {}
    for type_name in ROOT_TYPES:
        root = schema.get_type(type_name)
        assert isinstance(root, GraphQLObjectType), type_name
        for name, fld in root.fields.items():
            out[f"{type_name}.{name}"] = fld
    return out


@dataclass
class Answer:
    """What the API answered: the HTTP status (HTTP only), the data, the errors."""

    status: int | None = None
    data: Any = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    acked: bool = False  # a subscription got start_ack

    @property
    def outcome(self) -> str:
        if self.errors:
            return str(self.errors[0].get("errorType"))
        return OK

    def __str__(self) -> str:
        return json.dumps({"status": self.status, "data": self.data, "errors": self.errors,
                           "acked": self.acked}, default=str)[:1500]


# --------------------------------------------------------------------------- auth


class HostOnly(AppSyncAuthentication):
    """No token at all: what an anonymous client sends (the host header only)."""

    def __init__(self, host: str) -> None:
        self._host = host

    def get_headers(self, data: str | None = None, headers: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"host": self._host}


def jwt_auth(stack: DevStack, token: str) -> AppSyncJWTAuthentication:
    return AppSyncJWTAuthentication(host=stack.host, jwt=token)


def iam_auth(stack: DevStack) -> AppSyncIAMAuthentication:
    """SigV4 with the stack's IAM credentials (what the stream consumer publishes with)."""
    creds = Credentials(stack.outputs["IamAccessKeyId"], stack.outputs["IamSecretAccessKey"])
    return AppSyncIAMAuthentication(host=stack.host, region_name=stack.outputs["Region"], credentials=creds)


# --------------------------------------------------------------------------- gql clients


class _StatusTransport(AIOHTTPTransport):
    """gql's aiohttp transport, remembering the HTTP status of the last answer."""

    status: int | None = None

    async def _prepare_result(self, response: Any) -> Any:
        self.status = response.status
        return await super()._prepare_result(response)


async def http(stack: DevStack, auth: AppSyncAuthentication | None, query: str,
               variables: dict[str, Any] | None = None) -> Answer:
    """One query or mutation over HTTP through gql; errors are returned, not raised."""
    transport = _StatusTransport(url=stack.url, auth=auth, timeout=int(TIMEOUT))
    client = Client(transport=transport, fetch_schema_from_transport=False)
    try:
        async with client as session:
            data = await session.execute(GraphQLRequest(query, variable_values=variables))
    except TransportQueryError as exc:
        return Answer(status=transport.status, data=exc.data, errors=list(exc.errors or []))
    except TransportServerError as exc:
        return Answer(status=exc.code, errors=[{"errorType": f"HTTP {exc.code}", "message": str(exc)}])
    return Answer(status=transport.status, data=data)


class RecordingTransport(AckingTransport):
    """The AppSync WebSocket transport, keeping every frame the server sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames: list[dict[str, Any]] = []

    def _parse_answer(self, answer: str) -> Any:
        with contextlib.suppress(ValueError):
            self.frames.append(json.loads(answer))
        return super()._parse_answer(answer)

    def connection_errors(self) -> list[dict[str, Any]]:
        for frame in self.frames:
            if frame.get("type") == "connection_error":
                return list((frame.get("payload") or {}).get("errors") or [])
        return []


def ws_transport(stack: DevStack, handshake: AppSyncAuthentication,
                 start: AppSyncAuthentication | None = None) -> RecordingTransport:
    """The handshake authorizes with ``handshake``; each start with ``start`` (default: the same)."""
    transport = RecordingTransport(url=stack.outputs["GraphQLRealtimeUrl"], auth=handshake,
                                   connect_timeout=TIMEOUT, ack_timeout=TIMEOUT)
    if start is not None:
        transport.auth = start  # the handshake URL was built from `handshake` already
    return transport


async def start_on(transport: RecordingTransport, session: Any, query: str,
                   variables: dict[str, Any] | None = None) -> Answer:
    """One subscription start on an open session: acked (then stopped) or its error."""
    subscription = session.subscribe(GraphQLRequest(query, variable_values=variables))
    first = asyncio.ensure_future(anext(subscription))
    try:
        await transport.started(first=first)
    except TransportQueryError as exc:
        # an AppSync error frame's payload is {"errors": [...]}; gql hands it over as one error
        errors: list[dict[str, Any]] = []
        for item in exc.errors or []:
            errors += item["errors"] if isinstance(item, dict) and isinstance(item.get("errors"), list) else [item]
        return Answer(errors=errors, data=exc.data)
    finally:
        if not first.done():
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await first
        with contextlib.suppress(Exception):
            await subscription.aclose()
    return Answer(acked=True)


async def subscribe(stack: DevStack, handshake: AppSyncAuthentication, query: str,
                    variables: dict[str, Any] | None = None,
                    start: AppSyncAuthentication | None = None) -> Answer:
    """Opens the real-time connection and starts one subscription: acked, or why not."""
    transport = ws_transport(stack, handshake, start)
    client = Client(transport=transport, fetch_schema_from_transport=False)
    try:
        async with client as session:
            return await start_on(transport, session, query, variables)
    except TransportServerError as exc:
        errors = transport.connection_errors() or [{"errorType": "TransportServerError", "message": str(exc)}]
        return Answer(errors=errors)


# --------------------------------------------------------------------------- Cognito (moto)


def idp(stack: DevStack) -> Any:
    return boto3.client(
        "cognito-idp", endpoint_url=stack.outputs["CognitoEndpoint"], region_name=stack.outputs["Region"],
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


@dataclass(frozen=True)
class User:
    name: str
    username: str
    sub: str
    groups: tuple[str, ...] = ()


def create_user(stack: DevStack, name: str, *groups: str, pool_id: str | None = None,
                email: str | None = None) -> User:
    """A confirmed user with a permanent password, in ``groups``, on the stack's pool (or another)."""
    client = idp(stack)
    pool = pool_id or stack.outputs["UserPoolId"]
    email = email or f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    created = client.admin_create_user(
        UserPoolId=pool, Username=email, MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"},
                        {"Name": "name", "Value": name.title()}],
    )["User"]
    client.admin_set_user_password(UserPoolId=pool, Username=email, Password=PASSWORD, Permanent=True)
    for group in groups:
        client.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName=group)
    sub = next(a["Value"] for a in created["Attributes"] if a["Name"] == "sub")
    return User(name=name, username=email, sub=sub, groups=tuple(groups))


def sign_in(stack: DevStack, username: str, password: str = PASSWORD, client_id: str | None = None,
            kind: str = "AccessToken") -> str:
    result = idp(stack).initiate_auth(
        ClientId=client_id or stack.outputs["UserPoolClientId"], AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return str(result["AuthenticationResult"][kind])


# --------------------------------------------------------------------------- JWT forgery


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def moto_signing_key() -> tuple[Any, str]:
    """moto's Cognito private key (one static key signs every pool's tokens) and its kid.
    Signing with it isolates a claim check from the signature check."""
    base = resources.files("moto.cognitoidp") / "resources"
    packed = base / "jwks-private.json.gz"
    raw = gzip.decompress(packed.read_bytes()) if packed.is_file() else (base / "jwks-private.json").read_bytes()
    jwk = json.loads(raw)
    return RSAAlgorithm.from_jwk(jwk), str(jwk["kid"])


def sign(claims: dict[str, Any], key: Any, kid: str | None, alg: str = "RS256",
         extra_headers: dict[str, Any] | None = None) -> str:
    headers = {"kid": kid} if kid is not None else {}
    headers.update(extra_headers or {})
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def hand_made(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A token assembled by hand (what PyJWT refuses to produce: alg none, HMAC over a PEM)."""
    return ".".join([b64url(json.dumps(header, separators=(",", ":")).encode()),
                     b64url(json.dumps(claims, separators=(",", ":")).encode()), b64url(signature)])


def flip_signature_bit(token: str) -> str:
    head, body, sig = token.split(".")
    raw = bytearray(unb64url(sig))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}.{b64url(bytes(raw))}"


def now() -> int:
    return int(time.time())
