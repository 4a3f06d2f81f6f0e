"""Configuration: what to serve, how to wire fields to handlers, how to authenticate.

The engine takes its wiring as plain data: a mapping ``{(type_name, field_name): resolver}``
where a resolver is a :class:`LambdaResolver` (a Direct Lambda resolver: a Python handler
run in-process, or an :data:`Invoker` that runs the function elsewhere, as the local stack's
per-function worker processes do), :data:`NONE_DATA_SOURCE` (a NONE data source: the field
resolves to its arguments), or a bare handler callable (shorthand for
``LambdaResolver(handler)``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeAlias

from cloudchat_local.errors import ConfigError, HandlerError

from ._quotas import (
    INVALIDATIONS_PER_REQUEST,
    QUERY_DEPTH_LIMIT_MAX,
    REQUEST_EXECUTION_TIMEOUT_S,
    RESOLVER_COUNT_DEFAULT,
    RESOLVER_RESULT_BYTES,
    SUBSCRIPTION_PAYLOAD_BYTES,
    SUBSCRIPTIONS_PER_CONNECTION,
)

Handler: TypeAlias = Callable[[dict[str, Any], Any], Any]
"""A Lambda handler: ``handler(event, context) -> result`` (synchronous, may block)."""


@dataclass(frozen=True)
class Invocation:
    """What Lambda's Invoke returns: the function's result (JSON), or, for a failed
    invocation, Lambda's error payload ``{"errorType", "errorMessage", "stackTrace"}``."""

    result: Any = None
    error: Mapping[str, Any] | None = None


Invoker: TypeAlias = Callable[[dict[str, Any], Any], Invocation]
"""Invokes a function that runs elsewhere: ``invoker(event, context) -> Invocation``
(synchronous; it enforces the function's timeout itself)."""


@dataclass(frozen=True)
class LambdaResolver:
    """A field backed by a Lambda function (AppSync Direct Lambda / invoke.js resolver):
    exactly one of ``handler`` (run in-process, in a worker thread) and ``invoker``."""

    handler: Handler | None = None
    function_name: str = "cloudchat-local-function"
    memory_limit_in_mb: int = 512
    timeout_s: float = 30.0
    #: A subscription field whose resolver code is appsync/subscribe.js: the result's
    #: ``filter`` becomes the subscription's enhanced filter, its ``invalidation`` its
    #: invalidation filter.
    sets_subscription_filter: bool = False
    #: A mutation whose resolver code is appsync/revoke.js: a result with ``action``
    #: REMOVED/LEFT invalidates those members' subscriptions on the conversation.
    revokes_subscriptions: bool = False
    invoker: Invoker | None = None

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.invoker is None):
            raise ConfigError("a LambdaResolver has either a handler or an invoker")

    @classmethod
    def from_module(
        cls,
        module: str,
        attr: str = "lambda_handler",
        *,
        function_name: str | None = None,
        memory_limit_in_mb: int = 512,
        timeout_s: float = 30.0,
    ) -> LambdaResolver:
        """Imports ``module`` and wraps its ``attr`` (e.g. ``resolvers.messages``)."""
        from cloudchat_local._runtime import load_handler

        try:
            handler = load_handler(module, attr)
        except HandlerError as exc:
            raise ConfigError(str(exc)) from exc
        return cls(
            handler=handler,
            function_name=function_name or module.rsplit(".", 1)[-1],
            memory_limit_in_mb=memory_limit_in_mb,
            timeout_s=timeout_s,
        )


class NoneDataSource:
    """A NONE data source: the field resolves to its arguments (its ``input`` if that is
    the field's only argument). Used for IAM-only publish mutations."""

    _instance: NoneDataSource | None = None

    def __new__(cls) -> NoneDataSource:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NONE_DATA_SOURCE"


NONE_DATA_SOURCE: Final = NoneDataSource()

Resolver: TypeAlias = LambdaResolver | NoneDataSource | Handler
ResolverMap: TypeAlias = Mapping[tuple[str, str], Resolver]

_POOL_ID = re.compile(r"^(?P<region>[a-z]{2}(-[a-z]+)+-\d+)_[0-9A-Za-z]+$")


@dataclass(frozen=True)
class CognitoConfig:
    """The Cognito user pool whose JWTs the API accepts (the default auth mode).

    ``issuer`` is the ``iss`` claim tokens must carry; by default the AWS form
    ``https://cognito-idp.<region>.amazonaws.com/<pool id>`` (moto issues this form too).
    ``jwks_url`` is where the signing keys are fetched (moto: ``<endpoint>/<pool>/.well-known/
    jwks.json``). ``client_ids`` are the app clients whose tokens are accepted (access token:
    ``client_id`` claim; ID token: ``aud``); empty accepts any client of the pool.
    """

    user_pool_id: str
    jwks_url: str
    issuer: str | None = None
    client_ids: frozenset[str] = frozenset()
    leeway_s: float = 0.0
    jwks_refetch_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if self.issuer is None:
            match = _POOL_ID.match(self.user_pool_id)
            if not match:
                raise ConfigError(
                    f"cannot derive the issuer from user pool id {self.user_pool_id!r}; "
                    "pass issuer= explicitly"
                )
            issuer = f"https://cognito-idp.{match['region']}.amazonaws.com/{self.user_pool_id}"
            object.__setattr__(self, "issuer", issuer)
        object.__setattr__(self, "client_ids", frozenset(self.client_ids))

    @property
    def expected_issuer(self) -> str:
        assert self.issuer is not None
        return self.issuer

    @classmethod
    def for_moto(
        cls, endpoint_url: str, user_pool_id: str, client_ids: frozenset[str] | set[str] = frozenset()
    ) -> CognitoConfig:
        """Pool served by moto in server mode at ``endpoint_url`` (e.g. http://127.0.0.1:5000)."""
        base = endpoint_url.rstrip("/")
        return cls(
            user_pool_id=user_pool_id,
            jwks_url=f"{base}/{user_pool_id}/.well-known/jwks.json",
            client_ids=frozenset(client_ids),
        )


@dataclass(frozen=True)
class IamCredential:
    """Local IAM credentials a SigV4-signed request may use (access key -> secret)."""

    access_key_id: str
    secret_access_key: str
    account_id: str = "000000000000"
    user_arn: str | None = None
    username: str | None = None
    session_token: str | None = None
    #: IAM policy check of a signed request's body (the GraphQL request): False refuses it as
    #: AppSync does (401 "Permission denied"). See cloudchat_local.iam.appsync_credentials.
    authorize: Callable[[bytes], bool] | None = field(default=None, compare=False, repr=False)

    @property
    def arn(self) -> str:
        return self.user_arn or f"arn:aws:iam::{self.account_id}:user/{self.access_key_id}"


@dataclass(frozen=True)
class IamConfig:
    """The additional AWS_IAM auth mode: requests signed with SigV4 (service ``appsync``)."""

    credentials: tuple[IamCredential, ...]
    regions: frozenset[str] | None = None
    max_clock_skew_s: float = 900.0

    def lookup(self, access_key_id: str) -> IamCredential | None:
        for cred in self.credentials:
            if cred.access_key_id == access_key_id:
                return cred
        return None


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything the emulator needs. Only ``schema_path`` is required.

    ``port``/``tls_port``: 0 picks a free port; ``tls_port=None`` serves plain HTTP only.
    ``state_dir`` holds the generated self-signed certificate (required with ``tls_port``).
    ``web_dir``/``web_config``: the web client and its configuration (see :mod:`.app`).
    """

    schema_path: Path
    resolvers: ResolverMap = field(default_factory=dict)
    cognito: CognitoConfig | None = None
    iam: IamConfig | None = None
    host: str = "127.0.0.1"
    port: int = 0
    tls_port: int | None = None
    state_dir: Path | None = None
    keepalive_interval_s: float = 60.0
    connection_timeout_ms: int = 300_000
    subscriber_queue_size: int = 1000
    handler_workers: int = 16
    connection_init_timeout_s: float = 10.0
    log_level: str = "warning"
    #: A built web client (``web/dist``) served at ``/app/`` when the directory exists.
    web_dir: Path | None = None
    #: What the web client fetches at start (``/config.json`` and ``/app/config.json``).
    web_config: Mapping[str, Any] | None = None
    #: A Cognito user pool endpoint (moto) that ``POST /cognito`` forwards to (see
    #: :mod:`._cognito_proxy`): the web client signs in on the emulator's own origin.
    cognito_proxy_upstream: str | None = None
    #: The moto server whose SES mails ``GET /_emulator/mails`` lists (dev only: AppSync has
    #: no such route; see cloudchat_local.moto._mails).
    mails_upstream: str | None = None
    #: AppSync's quotas (see :mod:`._quotas`); the defaults are AppSync's values.
    request_timeout_s: float = REQUEST_EXECUTION_TIMEOUT_S
    subscription_payload_limit_bytes: int = SUBSCRIPTION_PAYLOAD_BYTES
    max_subscriptions_per_connection: int = SUBSCRIPTIONS_PER_CONNECTION
    max_invalidations_per_request: int = INVALIDATIONS_PER_REQUEST
    resolver_result_limit_bytes: int = RESOLVER_RESULT_BYTES
    #: the API's QueryDepthLimit (0: no limit) and ResolverCountLimit (0: 10,000)
    query_depth_limit: int = 0
    resolver_count_limit: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "schema_path", Path(self.schema_path))
        if self.state_dir is not None:
            object.__setattr__(self, "state_dir", Path(self.state_dir))
        if self.web_dir is not None:
            object.__setattr__(self, "web_dir", Path(self.web_dir))
        if self.tls_port is not None and self.state_dir is None:
            raise ConfigError("tls_port needs state_dir (where the certificate is kept)")
        if self.keepalive_interval_s <= 0:
            raise ConfigError("keepalive_interval_s must be positive")
        if self.subscriber_queue_size < 1:
            raise ConfigError("subscriber_queue_size must be at least 1")
        if self.handler_workers < 1:
            raise ConfigError("handler_workers must be at least 1")
        if self.request_timeout_s <= 0:
            raise ConfigError("request_timeout_s must be positive")
        for name in ("subscription_payload_limit_bytes", "max_subscriptions_per_connection",
                     "max_invalidations_per_request", "resolver_result_limit_bytes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        if not 0 <= self.query_depth_limit <= QUERY_DEPTH_LIMIT_MAX:
            raise ConfigError(f"query_depth_limit is 0 (none) or 1 to {QUERY_DEPTH_LIMIT_MAX}")
        if not 0 <= self.resolver_count_limit <= RESOLVER_COUNT_DEFAULT:
            raise ConfigError(f"resolver_count_limit is 0 (the default) or 1 to {RESOLVER_COUNT_DEFAULT}")


def normalize_resolver(key: tuple[str, str], resolver: Resolver) -> LambdaResolver | NoneDataSource:
    """A bare callable becomes a LambdaResolver named after it."""
    if isinstance(resolver, LambdaResolver | NoneDataSource):
        return resolver
    if callable(resolver):
        name = getattr(resolver, "__name__", None) or f"{key[0]}-{key[1]}"
        return LambdaResolver(handler=resolver, function_name=str(name))
    raise ConfigError(f"resolver for {key[0]}.{key[1]} is not a handler: {resolver!r}")
