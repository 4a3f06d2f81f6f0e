"""AWS clients, created once per process on first use (never at import time).

Endpoints come from the standard environment (AWS_REGION, AWS_ENDPOINT_URL...), which is how
the local stack points the same code at moto.

Clients are typed for mypy by the types-boto3 stubs (a dev-only dependency, imported only under
``TYPE_CHECKING``): ``client("dynamodb")`` is a ``DynamoDBClient``, and so on for each service the
deployed code calls. At run time nothing here imports them.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.credentials import Credentials
    from types_boto3_cognito_idp import CognitoIdentityProviderClient
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_kms import KMSClient
    from types_boto3_s3 import S3Client
    from types_boto3_sns import SNSClient


def _config(service: str) -> Any:
    from botocore.config import Config

    extra: dict[str, Any] = {}
    if service == "s3":
        # SSE-KMS objects need SigV4, presigned URLs included. Presigned URLs and POSTs name
        # the bucket's regional virtual-hosted endpoint, <bucket>.s3.<region>.amazonaws.com,
        # in every region: botocore's default is the global <bucket>.s3.amazonaws.com, which
        # a new bucket outside us-east-1 answers with a 307 redirect that a browser's CORS
        # preflight will not follow (boto/boto3#421, #1982), and which opt-in regions refuse
        # (boto/boto3#2187). An endpoint override (AWS_ENDPOINT_URL: the local stack's moto)
        # keeps botocore's own addressing (path style on a loopback endpoint).
        extra = {"signature_version": "s3v4"}
        if not _endpoint_override(service):
            extra["s3"] = {"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"}
    return Config(
        retries={"mode": "standard", "max_attempts": 3},
        # The stream consumer sends from several threads (cloudchat.fanout_groups: up to
        # WORKERS + CALLS at once); botocore keeps 10 connections by default and opens (and
        # drops) one more per request beyond them.
        max_pool_connections=32,
        connect_timeout=2,
        read_timeout=5,
        tcp_keepalive=True,
        **extra,
    )


def _endpoint_override(service: str) -> bool:
    """Whether the environment points this service at another endpoint (the local stack)."""
    import os

    return bool(os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")
                or os.environ.get("AWS_ENDPOINT_URL"))


@overload
def client(service: Literal["cognito-idp"]) -> CognitoIdentityProviderClient: ...
@overload
def client(service: Literal["dynamodb"]) -> DynamoDBClient: ...
@overload
def client(service: Literal["kms"]) -> KMSClient: ...
@overload
def client(service: Literal["s3"]) -> S3Client: ...
@overload
def client(service: Literal["sns"]) -> SNSClient: ...
@overload
def client(service: Literal["ses"]) -> Any: ...  # (one call: cloudchat.notifier.SesClient)
def client(service: str) -> BaseClient:
    """The process's client for one service (the same object on every call until ``reset()``).
    Thread-safe: a client is made under a lock, since boto3's default session is not
    (boto/boto3#1592, #2750: ``KeyError: 'credential_provider'``); the stream consumer uses
    clients from several threads (:mod:`cloudchat.fanout_groups`)."""
    with _LOCK:
        return _client(service)


_LOCK = threading.RLock()


@cache
def _client(service: str) -> BaseClient:
    import boto3

    made: BaseClient = boto3.client(service, config=_config(service))  # type: ignore[call-overload]
    return made


def credentials() -> Credentials | None:
    """The process's AWS credentials (botocore refreshes temporary ones when they near
    expiry: call ``get_frozen_credentials()`` per use). None when there are none."""
    with _LOCK:
        return _credentials()


@cache
def _credentials() -> Credentials | None:
    import boto3

    return boto3.Session().get_credentials()


def dynamodb() -> DynamoDBClient:
    return client("dynamodb")


def kms() -> KMSClient:
    return client("kms")


def s3() -> S3Client:
    return client("s3")


def sns() -> SNSClient:
    return client("sns")


def reset() -> None:
    """Drop cached clients (tests that switch endpoints or credentials)."""
    _client.cache_clear()
    _credentials.cache_clear()
