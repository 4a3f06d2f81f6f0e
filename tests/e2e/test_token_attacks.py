"""Forged, stolen-looking and stale Cognito tokens against the local stack, on HTTP and on the
AppSync WebSocket (the connection's header, and a start's own extensions.authorization), each
answered the way AppSync answers: 401 ``UnauthorizedException`` over HTTP, ``connection_error``
(UnauthorizedException, errorCode 401) on the handshake, an ``error`` frame for a start (the
connection and its other subscriptions carry on).

Claim checks are isolated from the signature check by signing with moto's own Cognito key (the
one that signs every pool's real tokens; a control token re-signed with it is accepted), so a
refusal can only come from the claim under test. Real tokens come from initiate_auth.
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
import websockets
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gql import Client
from jwt.algorithms import RSAAlgorithm

from ._matrix import (
    OK,
    UNAUTHENTICATED,
    Answer,
    HostOnly,
    User,
    claims_of,
    create_user,
    flip_signature_bit,
    hand_made,
    http,
    idp,
    jwt_auth,
    moto_signing_key,
    now,
    sign,
    sign_in,
    start_on,
    subscribe,
    ws_transport,
)
from .conftest import TIMEOUT, DevStack, run

pytestmark = pytest.mark.e2e

AUTH_MESSAGES = {"Valid authorization header not provided.", "Unable to parse JWT token.", "Token has expired."}
HANDSHAKE_MESSAGE = "You are not authorized to make this call."
ME = "{ me { id } }"
CHANNEL = "subscription($u: ID!) { onUserEvent(userId: $u) { userId type } }"


@dataclass
class Kit:
    """What the forgeries are made from."""

    alice: User
    access: str  # alice's real access token
    id_token: str  # alice's real ID token
    other_client_access: str  # alice, signed in through a second app client of the same pool
    foreign_pool_access: str  # a user of another pool on the same moto
    pool_key: Any  # moto's signing key (signs the real tokens)
    kid: str
    public_pem: bytes  # the pool's public key, from its JWKS
    attacker_key: rsa.RSAPrivateKey


@pytest.fixture(scope="module")
def kit(stack: DevStack) -> Kit:
    client = idp(stack)
    pool = stack.outputs["UserPoolId"]
    second = client.create_user_pool_client(
        UserPoolId=pool, ClientName="second-client", GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    demo = stack.user("alice")
    foreign = client.create_user_pool(PoolName="someone-elses-pool", UsernameAttributes=["email"])["UserPool"]["Id"]
    foreign_client = client.create_user_pool_client(
        UserPoolId=foreign, ClientName="theirs", GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    stranger = create_user(stack, "stranger", pool_id=foreign, email=demo["username"])  # same email as alice
    base = stack.outputs["CognitoEndpoint"].rstrip("/")
    with urllib.request.urlopen(f"{base}/{pool}/.well-known/jwks.json", timeout=10) as resp:
        jwk = json.load(resp)["keys"][0]
    public = RSAAlgorithm.from_jwk(jwk)
    key, kid = moto_signing_key()
    assert kid == jwk["kid"]
    return Kit(
        alice=User("alice", demo["username"], demo["sub"]),
        access=stack.token("alice"),
        id_token=stack.token("alice", "IdToken"),
        other_client_access=sign_in(stack, demo["username"], demo["password"], client_id=second),
        foreign_pool_access=sign_in(stack, stranger.username, client_id=foreign_client),
        pool_key=key,
        kid=kid,
        public_pem=public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        attacker_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def _pool_signed(change: Callable[[dict[str, Any]], None]) -> Callable[[Kit], str]:
    """alice's real access-token claims, changed, signed with the pool's real key."""

    def make(kit: Kit) -> str:
        claims = claims_of(kit.access)
        change(claims)
        return sign(claims, kit.pool_key, kit.kid)

    return make


def _hs256_with_public_key(kit: Kit) -> str:
    header = {"alg": "HS256", "typ": "JWT", "kid": kit.kid}
    unsigned = hand_made(header, claims_of(kit.access)).rsplit(".", 1)[0]
    mac = hmac.HMAC(kit.public_pem, hashes.SHA256())
    mac.update(unsigned.encode())
    return hand_made(header, claims_of(kit.access), mac.finalize())


def _embedded_jwk(kit: Kit) -> str:
    public = json.loads(RSAAlgorithm.to_jwk(kit.attacker_key.public_key()))
    return sign(claims_of(kit.access), kit.attacker_key, kit.kid, extra_headers={"jwk": public})


def _tampered_sub(kit: Kit) -> str:
    head, _, signature = kit.access.split(".")
    body = hand_made({}, {**claims_of(kit.access), "sub": "00000000-0000-0000-0000-000000000000"}).split(".")[1]
    return f"{head}.{body}.{signature}"


def _del(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda claims: claims.pop(name)


def _set(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda claims: claims.update(values)


# name -> (the token; None sends no Authorization at all, and whether AppSync accepts it)
TOKENS: dict[str, tuple[Callable[[Kit], str | None], bool]] = {
    # accepted
    "access-token": (lambda kit: kit.access, True),
    "id-token": (lambda kit: kit.id_token, True),  # AppSync takes ID tokens as well
    "control-resigned-with-the-pool-key": (_pool_signed(lambda claims: None), True),
    # No AppIdClientRegex in template.yaml: AppSync applies no client filtering, so a token of
    # another app client of the same pool is accepted (the emulator's client check when a
    # regex is set is covered in tests/emulator/test_auth.py::test_client_not_allowed).
    "wrong-client-id-another-app-client-of-the-pool": (lambda kit: kit.other_client_access, True),
    # refused
    "no-token": (lambda kit: None, False),
    "garbage": (lambda kit: "not-a-jwt", False),
    "alg-none": (lambda kit: hand_made({"alg": "none", "typ": "JWT", "kid": kit.kid}, claims_of(kit.access)), False),
    "alg-none-keeping-the-signature": (
        lambda kit: hand_made({"alg": "none", "kid": kit.kid}, claims_of(kit.access)) + kit.access.rsplit(".", 1)[1], False),
    "rs256-without-signature": (lambda kit: kit.access.rsplit(".", 1)[0] + ".", False),
    "hs256-signed-with-the-public-key": (_hs256_with_public_key, False),
    "rs256-signed-with-another-key": (lambda kit: sign(claims_of(kit.access), kit.attacker_key, kit.kid), False),
    "unknown-kid": (lambda kit: sign(claims_of(kit.access), kit.attacker_key, "attacker-key"), False),
    "embedded-jwk-header": (_embedded_jwk, False),
    "signature-bit-flip": (lambda kit: flip_signature_bit(kit.access), False),
    "claims-tampered-after-signing": (_tampered_sub, False),
    "wrong-issuer": (_pool_signed(_set(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Attacker")), False),
    "token-of-another-user-pool": (lambda kit: kit.foreign_pool_access, False),
    "expired": (_pool_signed(lambda c: c.update(iat=now() - 7200, auth_time=now() - 7200, exp=now() - 3600)), False),
    "not-yet-valid-nbf": (_pool_signed(lambda c: c.update(nbf=now() + 3600)), False),
    "issued-in-the-future-iat": (_pool_signed(lambda c: c.update(iat=now() + 3600, exp=now() + 7200)), False),
    "no-expiry": (_pool_signed(_del("exp")), False),
    "refresh-token-use": (_pool_signed(_set(token_use="refresh")), False),
    "no-token-use": (_pool_signed(_del("token_use")), False),
}
CASES = list(TOKENS)


def _auth(stack: DevStack, token: str | None) -> Any:
    return HostOnly(stack.host) if token is None else jwt_auth(stack, token)


def _refused_over_http(name: str, answer: Answer) -> None:
    assert answer.status == 401, answer
    assert answer.outcome == UNAUTHENTICATED, answer
    assert answer.data is None, answer
    message = answer.errors[0]["message"]
    assert message in AUTH_MESSAGES, answer
    if name == "expired":
        assert message == "Token has expired.", answer


@pytest.mark.parametrize("name", CASES)
def test_http(stack: DevStack, kit: Kit, name: str) -> None:
    make, accepted = TOKENS[name]
    token = make(kit)
    answer = run(http(stack, None if token is None else jwt_auth(stack, token), ME))
    if accepted:
        assert answer.outcome == OK and answer.status == 200, answer
        assert answer.data["me"]["id"] == kit.alice.sub
    else:
        _refused_over_http(name, answer)


@pytest.mark.parametrize("name", CASES)
def test_websocket_handshake(stack: DevStack, kit: Kit, name: str) -> None:
    """The token in the connection's ``header`` (and in the start: gql sends both)."""
    make, accepted = TOKENS[name]
    answer = run(subscribe(stack, _auth(stack, make(kit)), CHANNEL, {"u": kit.alice.sub}))
    if accepted:
        assert answer.acked, answer
    else:
        assert not answer.acked, answer
        error = answer.errors[0]
        assert (error.get("errorType"), error.get("errorCode"), error.get("message")) == (
            UNAUTHENTICATED, 401, HANDSHAKE_MESSAGE), answer


@pytest.mark.parametrize("name", CASES)
def test_websocket_start(stack: DevStack, kit: Kit, name: str) -> None:
    """A connection opened with alice's real token; a start authorized with the token under
    test: refused with an error frame, after which the same connection still serves a start
    with a valid token."""
    make, accepted = TOKENS[name]

    async def scenario() -> tuple[Answer, Answer]:
        start_auth = _auth(stack, make(kit))
        transport = ws_transport(stack, jwt_auth(stack, kit.access), start=start_auth)
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            tried = await start_on(transport, session, CHANNEL, {"u": kit.alice.sub})
            transport.auth = jwt_auth(stack, kit.access)
            after = await start_on(transport, session, CHANNEL, {"u": kit.alice.sub})
            return tried, after

    tried, after = run(scenario())
    assert after.acked, f"the connection did not survive a refused start: {after}"
    if accepted:
        assert tried.acked, tried
    else:
        assert not tried.acked, tried
        assert tried.outcome == UNAUTHENTICATED, tried
        assert tried.errors[0]["message"] in AUTH_MESSAGES, tried


@pytest.mark.parametrize("name", CASES)
def test_websocket_handshake_amplify_subprotocol(stack: DevStack, kit: Kit, name: str) -> None:
    """The same handshake as Amplify v6 sends it: auth in a ``header-<base64url>`` subprotocol."""
    make, accepted = TOKENS[name]
    token = make(kit)
    headers = {"host": stack.host, **({"Authorization": token} if token is not None else {})}
    blob = base64.urlsafe_b64encode(json.dumps(headers).encode()).decode().rstrip("=")

    async def scenario() -> dict[str, Any]:
        async with websockets.connect(stack.outputs["GraphQLRealtimeUrl"], open_timeout=TIMEOUT,
                                      subprotocols=["graphql-ws", f"header-{blob}"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init"}))
            return dict(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))

    frame = run(scenario())
    if accepted:
        assert frame["type"] == "connection_ack", frame
    else:
        assert frame["type"] == "connection_error", frame
        error = frame["payload"]["errors"][0]
        assert (error["errorType"], error["errorCode"], error["message"]) == (UNAUTHENTICATED, 401, HANDSHAKE_MESSAGE)


def test_the_forgeries_are_what_they_claim(kit: Kit) -> None:
    """Guards the fixtures: the pool key really is the key of the real tokens, the foreign
    token is from another pool, the other client's token names another client."""
    jwt.decode(kit.access, kit.pool_key.public_key(), algorithms=["RS256"], options={"verify_aud": False})
    ours, theirs = claims_of(kit.access), claims_of(kit.foreign_pool_access)
    assert ours["iss"] != theirs["iss"] and ours["iss"].rsplit("/", 1)[0] == theirs["iss"].rsplit("/", 1)[0]
    assert claims_of(kit.other_client_access)["client_id"] != ours["client_id"]
    assert claims_of(kit.other_client_access)["sub"] == ours["sub"]
    assert claims_of(kit.id_token)["token_use"] == "id" and ours["token_use"] == "access"
