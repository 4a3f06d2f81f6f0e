"""Authenticating callers like AppSync: Cognito JWTs (default mode) and SigV4 (IAM).

:class:`Authenticator` turns request headers (HTTP, the real-time handshake, or a ``start``
frame's ``extensions.authorization``) into a :class:`Principal`, or raises
:class:`AuthError` carrying the HTTP status, ``errorType`` and message AppSync answers with:

* missing header / unusable token: 401 ``UnauthorizedException``
  ("Valid authorization header not provided.", "Unable to parse JWT token.",
  "Token has expired.")
* SigV4 with an unknown access key: 403 ``UnrecognizedClientException``
  ("The security token included in the request is invalid.")
* SigV4 with a wrong signature: 403 ``InvalidSignatureException``
* SigV4 whose caller's IAM policies do not allow ``appsync:GraphQL`` on a root field
  (``IamCredential.authorize``): 401 ``UnauthorizedException`` ("Permission denied")

Cognito tokens are verified with RS256 against the pool's JWKS (fetched over HTTP, cached,
refetched when an unknown ``kid`` shows up), and must carry the pool's issuer, an unexpired
``exp``, a sane ``iat``/``nbf``, ``token_use`` access or id, and an allowed client id.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import jwt
from jwt.algorithms import RSAAlgorithm

from cloudchat_local.errors import AuthError

from ._authz import COGNITO, IAM
from ._config import CognitoConfig, IamConfig

log = logging.getLogger("cloudchat_local.emulator.auth")

MISSING_HEADER: Final = "Valid authorization header not provided."
UNPARSABLE_TOKEN: Final = "Unable to parse JWT token."  # noqa: S105
EXPIRED_TOKEN: Final = "Token has expired."  # noqa: S105
UNKNOWN_ACCESS_KEY: Final = "The security token included in the request is invalid."
BAD_SIGNATURE: Final = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service "
    "documentation for details."
)
SIGV4_ALGORITHM: Final = "AWS4-HMAC-SHA256"
#: The caller's IAM policies do not allow appsync:GraphQL on a root field it selects.
PERMISSION_DENIED: Final = "Permission denied"


def unauthorized(message: str = MISSING_HEADER) -> AuthError:
    return AuthError(401, "UnauthorizedException", message)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the auth mode, its Cognito groups and AppSync identity."""

    mode: str
    identity: dict[str, Any]
    groups: frozenset[str] = frozenset()
    claims: dict[str, Any] = field(default_factory=dict)

    def identity_for(self, source_ip: str) -> dict[str, Any]:
        identity = json.loads(json.dumps(self.identity))
        identity["sourceIp"] = [source_ip]
        return identity


class CaseInsensitiveHeaders(dict[str, str]):
    """A plain dict of lowercased header names."""

    @classmethod
    def of(cls, headers: Mapping[str, Any]) -> CaseInsensitiveHeaders:
        out = cls()
        for key, value in headers.items():
            if isinstance(key, str) and value is not None:
                out[key.lower()] = str(value)
        return out


# --- Cognito --------------------------------------------------------------------------


class JwksCache:
    """The pool's signing keys by ``kid``; refetched (throttled) when a kid is unknown."""

    def __init__(self, url: str, *, refetch_interval_s: float = 1.0, timeout_s: float = 5.0):
        self._url = url
        self._refetch_interval_s = refetch_interval_s
        self._timeout_s = timeout_s
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def key(self, kid: str) -> Any | None:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            now = time.monotonic()
            if self._fetched_at is None or now - self._fetched_at >= self._refetch_interval_s:
                self._fetched_at = now
                try:
                    self._keys = await asyncio.to_thread(self._fetch)
                except Exception as exc:
                    log.warning("cannot fetch JWKS from %s: %s", self._url, exc)
            return self._keys.get(kid)

    def _fetch(self) -> dict[str, Any]:
        if not self._url.startswith(("http://", "https://")):
            raise ValueError(f"JWKS URL must be http(s): {self._url}")
        with urllib.request.urlopen(self._url, timeout=self._timeout_s) as resp:  # noqa: S310
            document = json.load(resp)
        self.fetch_count += 1
        keys: dict[str, Any] = {}
        for jwk in document.get("keys", []):
            if jwk.get("kty") != "RSA" or "kid" not in jwk:
                continue
            keys[jwk["kid"]] = RSAAlgorithm.from_jwk(jwk)
        return keys


class CognitoVerifier:
    """Verifies Cognito access and ID tokens for one user pool."""

    def __init__(self, config: CognitoConfig) -> None:
        self.config = config
        self.jwks = JwksCache(config.jwks_url, refetch_interval_s=config.jwks_refetch_interval_s)

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise unauthorized(UNPARSABLE_TOKEN) from exc
        if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
            raise unauthorized(MISSING_HEADER)
        key = await self.jwks.key(header["kid"])
        if key is None:
            raise unauthorized(MISSING_HEADER)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                issuer=self.config.expected_issuer,
                leeway=self.config.leeway_s,
                options={
                    "require": ["exp", "iat", "iss", "sub", "token_use"],
                    "verify_aud": False,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise unauthorized(EXPIRED_TOKEN) from exc
        except jwt.DecodeError as exc:
            if isinstance(exc, jwt.InvalidSignatureError):
                raise unauthorized(MISSING_HEADER) from exc
            raise unauthorized(UNPARSABLE_TOKEN) from exc
        except jwt.PyJWTError as exc:
            raise unauthorized(MISSING_HEADER) from exc
        token_use = claims.get("token_use")
        if token_use == "access":  # noqa: S105
            client_id = claims.get("client_id")
            username = claims.get("username")
        elif token_use == "id":  # noqa: S105
            client_id = claims.get("aud")
            username = claims.get("cognito:username")
        else:
            raise unauthorized(MISSING_HEADER)
        if self.config.client_ids and client_id not in self.config.client_ids:
            raise unauthorized(MISSING_HEADER)
        raw_groups = claims.get("cognito:groups")
        groups = [str(g) for g in raw_groups] if isinstance(raw_groups, list) else None
        identity = {
            "sub": claims["sub"],
            "issuer": claims["iss"],
            "username": username if username is not None else claims["sub"],
            "claims": claims,
            "sourceIp": [],
            "defaultAuthStrategy": "ALLOW",
            "groups": groups,
        }
        return Principal(mode=COGNITO, identity=identity, groups=frozenset(groups or ()), claims=claims)


# --- IAM (SigV4) ----------------------------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    """What a SigV4 signature covers."""

    method: str
    path: str
    query: str
    headers: CaseInsensitiveHeaders
    body: bytes


def _parse_sigv4(value: str) -> dict[str, str]:
    rest = value[len(SIGV4_ALGORITHM) :].strip()
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key.strip()] = val.strip()
    if not {"Credential", "SignedHeaders", "Signature"} <= parts.keys():
        raise AuthError(403, "IncompleteSignatureException", "Authorization header is incomplete.")
    return parts


def _canonical_query(query: str) -> str:
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    encoded = sorted(
        (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~")) for k, v in pairs
    )
    return "&".join(f"{k}={v}" for k, v in encoded)


def _canonical_path(path: str) -> str:
    return urllib.parse.quote(urllib.parse.unquote(path) or "/", safe="/~")


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class SigV4Verifier:
    """Verifies AWS Signature Version 4 for service ``appsync`` against local credentials."""

    def __init__(self, config: IamConfig) -> None:
        self.config = config

    def verify(self, request: SignedRequest) -> Principal:
        parts = _parse_sigv4(request.headers["authorization"])
        scope = parts["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise AuthError(403, "IncompleteSignatureException", "Credential is malformed.")
        access_key, date, region, service, _ = scope
        credential = self.config.lookup(access_key)
        if credential is None:
            raise AuthError(403, "UnrecognizedClientException", UNKNOWN_ACCESS_KEY)
        if service != "appsync" or (self.config.regions and region not in self.config.regions):
            raise AuthError(403, "InvalidSignatureException", BAD_SIGNATURE)
        amz_date = request.headers.get("x-amz-date", "")
        self._check_clock(amz_date, date)
        if credential.session_token is not None:
            token = request.headers.get("x-amz-security-token")
            if token != credential.session_token:
                raise AuthError(403, "UnrecognizedClientException", UNKNOWN_ACCESS_KEY)
        signed_headers = parts["SignedHeaders"].lower().split(";")
        if "host" not in signed_headers:
            raise AuthError(403, "InvalidSignatureException", BAD_SIGNATURE)
        canonical_headers = ""
        for name in signed_headers:
            value = request.headers.get(name)
            if value is None:
                raise AuthError(403, "InvalidSignatureException", BAD_SIGNATURE)
            canonical_headers += f"{name}:{' '.join(value.split())}\n"
        payload_hash = hashlib.sha256(request.body).hexdigest()
        canonical_request = "\n".join(
            [
                request.method.upper(),
                _canonical_path(request.path),
                _canonical_query(request.query),
                canonical_headers,
                ";".join(signed_headers),
                payload_hash,
            ]
        )
        string_to_sign = "\n".join(
            [
                SIGV4_ALGORITHM,
                amz_date,
                f"{date}/{region}/{service}/aws4_request",
                hashlib.sha256(canonical_request.encode()).hexdigest(),
            ]
        )
        key = _signing_key(credential.secret_access_key, date, region, service)
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, parts["Signature"]):
            raise AuthError(403, "InvalidSignatureException", BAD_SIGNATURE)
        if credential.authorize is not None and not credential.authorize(request.body):
            raise AuthError(401, "UnauthorizedException", PERMISSION_DENIED)
        identity: dict[str, Any] = {
            "accountId": credential.account_id,
            "cognitoIdentityPoolId": None,
            "cognitoIdentityId": None,
            "sourceIp": [],
            "username": credential.username or credential.access_key_id,
            "userArn": credential.arn,
            "cognitoIdentityAuthType": None,
            "cognitoIdentityAuthProvider": None,
        }
        return Principal(mode=IAM, identity=identity)

    def _check_clock(self, amz_date: str, scope_date: str) -> None:
        try:
            when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        except ValueError as exc:
            raise AuthError(403, "IncompleteSignatureException", "X-Amz-Date is missing.") from exc
        if not amz_date.startswith(scope_date):
            raise AuthError(403, "InvalidSignatureException", BAD_SIGNATURE)
        skew = abs((dt.datetime.now(dt.UTC) - when).total_seconds())
        if skew > self.config.max_clock_skew_s:
            raise AuthError(
                403, "InvalidSignatureException", f"Signature expired: {amz_date} is out of range."
            )


# --- both -----------------------------------------------------------------------------


class Authenticator:
    """Picks the auth mode from the Authorization header and verifies it."""

    def __init__(self, cognito: CognitoConfig | None, iam: IamConfig | None) -> None:
        self.cognito = CognitoVerifier(cognito) if cognito is not None else None
        self.iam = SigV4Verifier(iam) if iam is not None else None

    async def authenticate(
        self,
        headers: Mapping[str, Any],
        *,
        method: str = "POST",
        path: str = "/graphql",
        query: str = "",
        body: bytes = b"",
    ) -> Principal:
        lowered = CaseInsensitiveHeaders.of(headers)
        value = lowered.get("authorization", "").strip()
        if not value:
            raise unauthorized(MISSING_HEADER)
        if value.startswith(SIGV4_ALGORITHM):
            if self.iam is None:
                raise unauthorized(MISSING_HEADER)
            return self.iam.verify(SignedRequest(method, path, query, lowered, body))
        if self.cognito is None:
            raise unauthorized(MISSING_HEADER)
        return await self.cognito.verify(value)


def decode_header_blob(blob: str) -> dict[str, Any] | None:
    """Decodes the base64/base64url JSON auth blob of the real-time handshake."""
    text = blob.strip()
    if not text:
        return None
    padded = text + "=" * (-len(text) % 4)
    for decoder in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decoder(padded.encode("ascii"))
            value = json.loads(raw)
        except (binascii.Error, ValueError, UnicodeError):
            continue
        if isinstance(value, dict):
            return value
    return None


def raw_query_param(query_string: bytes, name: str) -> str | None:
    """A query parameter read from the raw query string: '+' stays '+', %XX is decoded."""
    for part in query_string.decode("latin-1").split("&"):
        key, sep, value = part.partition("=")
        if sep and urllib.parse.unquote(key) == name:
            return urllib.parse.unquote(value)
    return None
