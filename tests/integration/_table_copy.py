"""A copy of the table and the bucket, and what can be read from it: every wrapped key KMS
unwraps from any binary value in the copy, and every ciphertext opened with each of them
(tests/integration/test_shred.py: crypto-shredding leaves no plaintext)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
from boto3.dynamodb.types import Binary

from cloudchat.crypto import open_sealed
from cloudchat.errors import IntegrityError
from cloudchat.store import _codec as codec
from cloudchat.store import binding
from tests.integration.conftest import BUCKET, Stack


def table_copy(stack: Stack) -> list[dict[str, Any]]:
    return [codec.from_av(i) for i in stack.raw_items()]


def bucket_copy() -> dict[str, bytes]:
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys}


def _raw(value: Any) -> bytes | None:
    if isinstance(value, Binary):
        return bytes(value.value)
    return bytes(value) if isinstance(value, bytes | bytearray) else None


def _binaries(value: Any) -> Iterator[bytes]:
    raw = _raw(value)
    if raw is not None:
        yield raw
    elif isinstance(value, dict):
        for v in value.values():
            yield from _binaries(v)
    elif isinstance(value, list | set | tuple):
        for v in value:
            yield from _binaries(v)


def unwrapped_keys(items: list[dict[str, Any]]) -> list[bytes]:
    """Every data key KMS unwraps from any binary value left in the copy, under the
    encryption context of any conversation id in the copy (wrapped keys carry it)."""
    kms = boto3.client("kms")
    contexts = sorted({str(i["conversationId"]) for i in items if i.get("conversationId")}
                      | {str(i["id"]) for i in items if i.get("type") == "CONV"})
    keys = []
    for blob in {b for item in items for b in _binaries(item)}:
        for cid in contexts:
            try:
                keys.append(bytes(kms.decrypt(CiphertextBlob=blob,
                                              EncryptionContext={"conversationId": cid})["Plaintext"]))
            except Exception:  # not a wrapped key, or not under this context
                continue
    return keys


def sealed_values(items: list[dict[str, Any]]) -> Iterator[tuple[str, bytes, Any]]:
    """Every ciphertext in the copy, as (what it is, its nonce, an opener taking a data key):
    message bodies and their edit history, previews, attachments' and uploads' file names."""
    for d in items:
        kind = d.get("type")
        messages_in = [d] if kind == "MSG" else []
        if kind == "CONV" and d.get("lastMessage"):
            messages_in.append(d["lastMessage"])
        for m in messages_in:
            stored = codec.message(m)
            versions = [*(b.sealed for b in stored.history), stored.sealed]
            for sealed in (v for v in versions if v is not None):
                yield (f"body of {stored.id}", sealed.nonce, lambda k, s=stored, v=sealed: open_sealed(
                    k, v, conversation_id=s.conversation_id, message_id=s.id, binding=binding(s)))
            for a in stored.attachments:
                if a.sealed_name is not None:
                    yield (f"file name {a.id}", a.sealed_name.nonce, lambda k, a=a, s=stored: open_sealed(
                        k, a.sealed_name, conversation_id=s.conversation_id, message_id=a.id))
        if kind == "UPLOAD":
            up = codec.upload(d)
            if up.sealed_name is not None:
                yield (f"upload {up.id}", up.sealed_name.nonce, lambda k, u=up: open_sealed(
                    k, u.sealed_name, conversation_id=u.conversation_id, message_id=u.id))


def nonces(value: Any, name: str = "") -> Iterator[bytes]:
    """Every nonce anywhere in the copy (each ciphertext has one)."""
    if name in ("nonce", "nameNonce") and _raw(value) is not None:
        yield _raw(value) or b""
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from nonces(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from nonces(v)


def plaintexts(items: list[dict[str, Any]]) -> list[str]:
    """What every ciphertext in the copy opens to, with every key unwrapped from the copy.
    A ciphertext the harness does not know how to open fails the test (its nonce counts)."""
    keys = unwrapped_keys(items)
    sealed = list(sealed_values(items))
    assert sorted(n for _, n, _ in sealed) == sorted(n for i in items for n in nonces(i))
    out = []
    for what, _, opener in sealed:
        for k in keys:
            try:
                out.append(f"{what}: {opener(k)}")
            except IntegrityError:
                continue
    return out


def text_of(items: list[dict[str, Any]], objects: dict[str, bytes]) -> str:
    def text(v: Any) -> Any:
        raw = _raw(v)
        if raw is not None:
            return raw.decode("latin-1")
        return sorted(v, key=str) if isinstance(v, set | frozenset) else str(v)

    dump = json.dumps(items, default=text, ensure_ascii=False)
    return dump + "".join(k + v.decode("latin-1") for k, v in objects.items())
