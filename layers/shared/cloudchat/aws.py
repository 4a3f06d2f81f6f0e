"""AWS clients, created once per process on first use (never at import time).

Endpoints come from the standard environment (AWS_REGION, AWS_ENDPOINT_URL...), which is how
the local stack points the same code at moto.
"""

from __future__ import annotations

from functools import cache
from typing import Any


def _config() -> Any:
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=5,
        tcp_keepalive=True,
    )


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.client(service, config=_config())


def dynamodb() -> Any:
    return client("dynamodb")


def kms() -> Any:
    return client("kms")


def reset() -> None:
    """Drop cached clients (tests that switch endpoints or credentials)."""
    client.cache_clear()
