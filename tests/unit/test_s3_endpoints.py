"""Presigned S3 URLs and POSTs name the bucket's regional virtual-hosted endpoint
(``<bucket>.s3.<region>.amazonaws.com``), never the global one: outside us-east-1 a new
bucket answers the global host with a 307 redirect, which a browser's CORS preflight
refuses to follow (boto/boto3#421, #1982), and opt-in regions refuse it outright
(boto/boto3#2187). An endpoint override (the local stack's moto) still wins. Signing is
local: no test here touches the network."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from cloudchat import aws

BUCKET = "cloudchat-prod-attachments-1a2b3c"
KEY = "conversations/01HZX/11111111-1111-4111-8111-111111111111/01HZY"


@pytest.fixture
def region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE",
                 "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")  # no endpoint from a profile
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.reset()
    yield
    aws.reset()


def _presigned(region: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setenv("AWS_REGION", region)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    aws.reset()
    s3 = aws.s3()
    get = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": KEY},
                                    ExpiresIn=300)
    post = s3.generate_presigned_post(Bucket=BUCKET, Key=KEY, ExpiresIn=300)
    return get, post["url"]


@pytest.mark.parametrize("region_name", ["eu-west-2", "ap-east-1", "us-east-1"])
def test_presigned_get_and_post_use_the_regional_virtual_hosted_endpoint(
        region: None, region_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    get, post = _presigned(region_name, monkeypatch)
    host = f"{BUCKET}.s3.{region_name}.amazonaws.com"
    url = urlparse(get)
    assert (url.scheme, url.netloc, url.path) == ("https", host, f"/{KEY}")
    query = parse_qs(url.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]  # SigV4: SSE-KMS objects need it
    assert f"/{region_name}/s3/aws4_request" in query["X-Amz-Credential"][0]
    assert urlparse(post)[:3] == ("https", host, "/")


def test_an_endpoint_override_still_wins(region: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for endpoint in ("http://127.0.0.1:5123", "http://localhost:5123"):
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        get, post = _presigned("eu-west-2", monkeypatch)
        assert get.startswith(f"{endpoint}/{BUCKET}/{KEY}?"), get
        assert post == f"{endpoint}/{BUCKET}", post


def test_a_service_specific_endpoint_override_wins_too(
        region: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:5124")
    get, _ = _presigned("ap-east-1", monkeypatch)
    assert get.startswith(f"http://127.0.0.1:5124/{BUCKET}/{KEY}?"), get
