"""AWS clients, created once per process on first use (never at import time).

Endpoints come from the standard environment (AWS_REGION, AWS_ENDPOINT_URL...), which is how
the local stack points the same code at moto.
"""

from __future__ import annotations

from functools import cache
from typing import Any


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


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.client(service, config=_config(service))


@cache
def credentials() -> Any:
    """The process's AWS credentials (botocore refreshes temporary ones when they near
    expiry: call ``get_frozen_credentials()`` per use). None when there are none."""
    import boto3

    return boto3.Session().get_credentials()


def dynamodb() -> Any:
    return client("dynamodb")


def kms() -> Any:
    return client("kms")


def s3() -> Any:
    return client("s3")


def sns() -> Any:
    return client("sns")


def reset() -> None:
    """Drop cached clients (tests that switch endpoints or credentials)."""
    client.cache_clear()
    credentials.cache_clear()
