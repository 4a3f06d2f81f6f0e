"""cloudchat.services.media.MediaBucket: every S3 call of the service, and what it does when
attachments are not enabled (no bucket, or no S3 client)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloudchat.errors import BadRequest
from cloudchat.models import Attachment
from cloudchat.services.media import DOWNLOAD_SECONDS, UPLOAD_SECONDS, MediaBucket

FILE = Attachment(id="01HZZZZZZZZZZZZZZZZZZZZZZZ", key="conversations/c/u/f", content_type="image/png",
                  size=3)


class FakeS3:
    """Records calls; head_object answers ``head`` or raises the ClientError ``error``."""

    def __init__(self, error: str | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.error = error

    def generate_presigned_post(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("post", kw))
        return {"url": "https://bucket.example/", "fields": dict(kw["Fields"])}

    def head_object(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("head", kw))
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "x"}}, "HeadObject")
        return {"ContentLength": 3}

    def put_object_tagging(self, **kw: Any) -> None:
        self.calls.append(("tag", kw))

    def generate_presigned_url(self, method: str, **kw: Any) -> str:
        self.calls.append((method, kw))
        return "https://bucket.example/get"


def test_without_a_bucket_or_a_client_every_use_is_a_bad_request_but_tagging_nothing() -> None:
    no_bucket, no_client = MediaBucket(None, FakeS3), MediaBucket("b", None)
    for bucket, accessor in ((no_bucket, no_bucket.name), (no_client, no_client.client)):
        for use in (accessor,
                    lambda b=bucket: b.presigned_post("k", "image/png", 3, "u"),
                    lambda b=bucket: b.head("k"),
                    lambda b=bucket: b.tag(["k"], "pending"),
                    lambda b=bucket: b.download_url(FILE, "a.png")):
            with pytest.raises(BadRequest, match="attachments are not enabled"):
                use()
        bucket.tag([], "attached")  # a send without attachments needs no S3 at all


def test_calls_name_the_bucket_and_the_object() -> None:
    s3 = FakeS3()
    bucket = MediaBucket("b", lambda: s3)
    post = bucket.presigned_post("k1", "image/png", 3, "u1")
    assert post["fields"]["x-amz-meta-uploader"] == "u1"
    assert bucket.head("k1") == {"ContentLength": 3}
    bucket.tag(["k1", "k2"], "attached")
    assert bucket.download_url(FILE, "a.png") == "https://bucket.example/get"
    kinds = [kind for kind, _ in s3.calls]
    assert kinds == ["post", "head", "tag", "tag", "get_object"]
    post_kw, head_kw, tag1, tag2, get_kw = (kw for _, kw in s3.calls)
    assert post_kw["Bucket"] == "b" and post_kw["Key"] == "k1"
    assert post_kw["ExpiresIn"] == UPLOAD_SECONDS
    assert ["content-length-range", 3, 3] in post_kw["Conditions"]
    assert head_kw == {"Bucket": "b", "Key": "k1"}
    assert [tag1["Key"], tag2["Key"]] == ["k1", "k2"]
    assert tag1["Tagging"] == {"TagSet": [{"Key": "state", "Value": "attached"}]}
    assert get_kw["ExpiresIn"] == DOWNLOAD_SECONDS
    assert get_kw["Params"]["Key"] == FILE.key
    assert get_kw["Params"]["ResponseContentDisposition"].startswith("inline")


@pytest.mark.parametrize("code", ["404", "NoSuchKey", "NotFound"])
def test_a_missing_object_heads_as_none(code: str) -> None:
    assert MediaBucket("b", lambda: FakeS3(code)).head("k") is None


@pytest.mark.parametrize("code", ["403", "AccessDenied", "Forbidden"])
def test_a_refused_head_is_a_deployment_fault_not_bad_input(code: str) -> None:
    with pytest.raises(RuntimeError, match=r"S3 refused HeadObject of k \(403\)"):
        MediaBucket("b", lambda: FakeS3(code)).head("k")


def test_other_s3_errors_pass_through() -> None:
    with pytest.raises(ClientError):
        MediaBucket("b", lambda: FakeS3("SlowDown")).head("k")
