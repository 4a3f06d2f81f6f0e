"""Authentication (Cognito JWT, SigV4) and per-field authorization, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from gql.transport.exceptions import TransportQueryError
from jwt.algorithms import RSAAlgorithm

from cloudchat_local.emulator import RunningEmulator
from cloudchat_local.emulator._auth import JwksCache

from .conftest import IAM_ARN, IAM_KEY, Cognito, Recorder
from .helpers import gql_execute, iam_auth, jwt_auth, post_raw, run

QUERY = {"query": '{ echo(text: "x") { id } }'}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _assert_401(emulator: RunningEmulator, authorization: str | None, message: str) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    status, body, response_headers = run(post_raw(emulator, QUERY, headers))
    assert status == 401
    assert body == {"errors": [{"errorType": "UnauthorizedException", "message": message}]}
    assert response_headers["x-amzn-errortype"] == "UnauthorizedException"


def test_missing_header(emulator: RunningEmulator) -> None:
    _assert_401(emulator, None, "Valid authorization header not provided.")


def test_garbage_token(emulator: RunningEmulator) -> None:
    _assert_401(emulator, "not-a-jwt", "Unable to parse JWT token.")


def test_expired_token(emulator: RunningEmulator, cognito: Cognito) -> None:
    past = int(time.time()) - 7200
    token = cognito.mint(cognito.claims(iat=past, auth_time=past, exp=past + 3600))
    _assert_401(emulator, token, "Token has expired.")


def test_minted_valid_token_is_accepted(emulator: RunningEmulator, cognito: Cognito) -> None:
    # Control for the forgeries below: the same minting path with sane claims works.
    status, body, _ = run(post_raw(emulator, QUERY, {"Authorization": cognito.mint(cognito.claims())}))
    assert status == 200, body


def test_bit_flipped_signature(emulator: RunningEmulator, cognito: Cognito) -> None:
    token = cognito.tokens["alice"]["access"]
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[10] ^= 0x01
    flipped = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    _assert_401(emulator, f"{head}.{payload}.{flipped}", "Valid authorization header not provided.")


def test_tampered_claims(emulator: RunningEmulator, cognito: Cognito) -> None:
    head, _, signature = cognito.tokens["bob"]["access"].split(".")
    forged = _b64(cognito.claims("bob", **{"cognito:groups": ["admins"]}))
    _assert_401(emulator, f"{head}.{forged}.{signature}", "Valid authorization header not provided.")


def test_alg_none(emulator: RunningEmulator, cognito: Cognito) -> None:
    token = f"{_b64({'alg': 'none', 'kid': 'dummy'})}.{_b64(cognito.claims())}."
    _assert_401(emulator, token, "Valid authorization header not provided.")


def test_hs256_with_the_public_key_as_secret(emulator: RunningEmulator, cognito: Cognito) -> None:
    # The classic algorithm-confusion forgery: HMAC keyed with the pool's public key.
    with urllib.request.urlopen(cognito.config().jwks_url) as resp:  # 127.0.0.1 (moto)
        public_key = RSAAlgorithm.from_jwk(json.load(resp)["keys"][0])
    assert isinstance(public_key, RSAPublicKey)
    pem = public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': 'dummy'})}.{_b64(cognito.claims())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"
    _assert_401(emulator, token, "Valid authorization header not provided.")


def test_foreign_pool(emulator: RunningEmulator, cognito: Cognito) -> None:
    # moto signs every pool with the same key: only the issuer tells them apart.
    _assert_401(emulator, cognito.foreign_token, "Valid authorization header not provided.")


def test_client_not_allowed(emulator: RunningEmulator, cognito: Cognito) -> None:
    _assert_401(
        emulator, cognito.tokens["bob-other-client"]["access"], "Valid authorization header not provided."
    )


def test_unknown_token_use_and_kid(emulator: RunningEmulator, cognito: Cognito) -> None:
    _assert_401(
        emulator,
        cognito.mint(cognito.claims(token_use="refresh")),
        "Valid authorization header not provided.",
    )
    _assert_401(
        emulator,
        cognito.mint(cognito.claims(), headers={"kid": "not-in-jwks"}),
        "Valid authorization header not provided.",
    )


def test_iat_in_the_future(emulator: RunningEmulator, cognito: Cognito) -> None:
    future = int(time.time()) + 3600
    _assert_401(
        emulator,
        cognito.mint(cognito.claims(iat=future, exp=future + 600)),
        "Valid authorization header not provided.",
    )


def test_unauthorized_through_gql(emulator: RunningEmulator) -> None:
    with pytest.raises(TransportQueryError) as info:
        run(gql_execute(emulator, jwt_auth(emulator, "garbage"), '{ echo(text: "x") { id } }'))
    assert info.value.errors is not None
    assert info.value.errors[0]["errorType"] == "UnauthorizedException"


# --- per-field authorization -----------------------------------------------------------


def test_group_restricted_type_and_field(emulator: RunningEmulator, cognito: Cognito) -> None:
    alice = jwt_auth(emulator, cognito.tokens["alice"]["id"])
    data = run(gql_execute(emulator, alice, "{ adminReport { count secret } reportCount }"))
    assert data == {"adminReport": {"count": 3, "secret": "s3cret"}, "reportCount": 7}

    status, body, _ = run(
        post_raw(
            emulator,
            {"query": "{ adminReport { count secret } reportCount }"},
            {"Authorization": cognito.tokens["bob"]["access"]},
        )
    )
    assert status == 200
    assert body["data"] == {"adminReport": None, "reportCount": None}
    by_path = {tuple(e["path"]): e for e in body["errors"]}
    assert by_path[("reportCount",)]["errorType"] == "Unauthorized"
    assert by_path[("reportCount",)]["message"] == "Not Authorized to access reportCount on type Query"
    # A field returning a type the caller may not see is denied, naming that type (as AppSync).
    assert by_path[("adminReport",)]["message"] == (
        "Not Authorized to access adminReport on type AdminReport"
    )


def test_iam_request_reaches_iam_field(emulator: RunningEmulator, recorder: Recorder) -> None:
    data = run(gql_execute(emulator, iam_auth(emulator), "{ iamOnly both }"))
    assert data == {"iamOnly": "iam-ok", "both": IAM_ARN}
    (event,) = recorder.events("iamOnly")
    assert event["identity"] == {
        "accountId": "123456789012",
        "cognitoIdentityPoolId": None,
        "cognitoIdentityId": None,
        "sourceIp": ["127.0.0.1"],
        "username": IAM_KEY,
        "userArn": IAM_ARN,
        "cognitoIdentityAuthType": None,
        "cognitoIdentityAuthProvider": None,
    }


def test_iam_request_denied_on_cognito_only_field(emulator: RunningEmulator) -> None:
    with pytest.raises(TransportQueryError) as info:
        run(gql_execute(emulator, iam_auth(emulator), '{ echo(text: "x") { id } }'))
    assert info.value.errors == [
        {
            "path": ["echo"],
            "data": None,
            "errorType": "Unauthorized",
            "errorInfo": None,
            "locations": [{"line": 2, "column": 3, "sourceName": None}],
            "message": "Not Authorized to access echo on type Query",
        }
    ]


def test_cognito_denied_on_iam_only_field(emulator: RunningEmulator, cognito: Cognito) -> None:
    auth = jwt_auth(emulator, cognito.tokens["alice"]["access"])
    assert run(gql_execute(emulator, auth, "{ both }")) == {"both": "alice"}
    with pytest.raises(TransportQueryError) as info:
        run(gql_execute(emulator, auth, "{ iamOnly }"))
    assert info.value.errors is not None
    assert info.value.errors[0]["message"] == "Not Authorized to access iamOnly on type Query"


def test_iam_none_data_source_mutation(emulator: RunningEmulator) -> None:
    data = run(
        gql_execute(
            emulator,
            iam_auth(emulator),
            "mutation($i: PublishEventInput!) { publishEvent(input: $i) { userId kind body } }",
            {"i": {"userId": "u1", "kind": "inbox", "body": '{"n":1}'}},
        )
    )
    assert data == {"publishEvent": {"userId": "u1", "kind": "inbox", "body": '{"n":1}'}}


def test_iam_bad_signature_and_unknown_key(emulator: RunningEmulator) -> None:
    with pytest.raises(TransportQueryError) as info:
        run(gql_execute(emulator, iam_auth(emulator, secret="wrong"), "{ iamOnly }"))
    assert info.value.errors is not None
    assert info.value.errors[0]["errorType"] == "InvalidSignatureException"

    with pytest.raises(TransportQueryError) as info:
        run(gql_execute(emulator, iam_auth(emulator, key="AKIDUNKNOWN"), "{ iamOnly }"))
    assert info.value.errors is not None
    assert info.value.errors[0] == {
        "errorType": "UnrecognizedClientException",
        "message": "The security token included in the request is invalid.",
    }


def test_iam_signature_covers_the_body(emulator: RunningEmulator) -> None:
    auth = iam_auth(emulator)
    signed = auth.get_headers(json.dumps({"query": "{ iamOnly }"}), {"content-type": "application/json"})
    status, body, _ = run(post_raw(emulator, {"query": "{ both }"}, signed))
    assert status == 403
    assert body["errors"][0]["errorType"] == "InvalidSignatureException"


def test_jwks_is_cached_and_refetched_for_unknown_kids(cognito: Cognito) -> None:
    cache = JwksCache(cognito.config().jwks_url, refetch_interval_s=0.0)

    async def scenario() -> None:
        assert await cache.key("dummy") is not None
        assert await cache.key("dummy") is not None
        assert cache.fetch_count == 1
        assert await cache.key("rotated-away") is None
        assert cache.fetch_count == 2

    run(scenario())

    throttled = JwksCache(cognito.config().jwks_url, refetch_interval_s=3600)

    async def burst() -> None:
        for _ in range(5):
            assert await throttled.key("unknown") is None
        assert throttled.fetch_count == 1

    run(burst())
