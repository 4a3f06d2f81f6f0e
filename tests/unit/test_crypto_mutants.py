"""Envelope details that mutation testing (`make mutate`) found unpinned: the exact AAD of
both formats (a change would make every stored body unreadable after a deploy), the KMS
key an unwrap is pinned to, and what a refused unwrap becomes."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloudchat import crypto
from cloudchat.crypto import Binding, KeyRing, Sealed, open_sealed, seal
from cloudchat.errors import IntegrityError

KEY = bytes(range(32))
WHERE: dict[str, Any] = {"conversation_id": "c1", "message_id": "m1"}
BINDING = Binding(seq=5, sender_id="u1", kind="TEXT", attachments="d")
# seal(KEY, "héllo", c1, m1, key_version=2, version=3[, BINDING]) with a zero nonce
LEGACY = Sealed(bytes(12), bytes.fromhex("667f1cb2d9432181e1333e50698705f65628a743c164"), 2, 3, 1)
BOUND = Sealed(bytes(12), bytes.fromhex("667f1cb2d943aaa4e1f319ba4aeb13172c2f1b2f96f9"), 2, 3, 2)


def test_bodies_stored_in_both_formats_still_open() -> None:
    assert open_sealed(KEY, LEGACY, **WHERE) == "héllo"
    assert open_sealed(KEY, BOUND, **WHERE, binding=BINDING) == "héllo"


def test_seal_is_deterministic_given_the_nonce(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto.os, "urandom", lambda n: bytes(n))
    assert seal(KEY, "héllo", conversation_id="c1", message_id="m1", key_version=2, version=3) == LEGACY
    assert seal(KEY, "héllo", conversation_id="c1", message_id="m1", key_version=2, version=3,
                binding=BINDING) == BOUND


class RecordingKMS:
    def __init__(self, error: dict[str, Any] | None = None) -> None:
        self.error = error
        self.decrypts: list[dict[str, Any]] = []

    def decrypt(self, **kw: Any) -> dict[str, Any]:
        self.decrypts.append(kw)
        if self.error is not None:
            raise ClientError(self.error, "Decrypt")
        return {"Plaintext": b"k" * 32}


def test_unwrap_names_the_stack_key_and_the_conversation_context() -> None:
    kms = RecordingKMS()
    assert KeyRing(lambda: kms, "arn:key/stack").key("c1", 1, b"blob") == b"k" * 32
    assert kms.decrypts == [{"CiphertextBlob": b"blob", "KeyId": "arn:key/stack",
                             "EncryptionContext": {"conversationId": "c1"}}]


def test_a_data_key_that_does_not_open_under_its_context_is_an_integrity_error() -> None:
    kms = RecordingKMS({"Error": {"Code": "InvalidCiphertextException", "Message": "no"}})
    with pytest.raises(IntegrityError, match=r"^the data key of conversation c1 does not open"):
        KeyRing(lambda: kms, "k").key("c1", 1, b"blob")


@pytest.mark.parametrize("response", [{"Error": {"Code": "AccessDeniedException"}}, {}])
def test_other_kms_failures_are_not_disguised(response: dict[str, Any]) -> None:
    with pytest.raises(ClientError):
        KeyRing(lambda: RecordingKMS(response), "k").key("c1", 1, b"blob")


def test_a_moved_body_fails_with_the_integrity_message() -> None:
    with pytest.raises(IntegrityError, match=r"^the stored body of message m2 in conversation c1 failed its "
                       r"integrity check \(tampered, or copied from another message\)$"):
        open_sealed(KEY, LEGACY, conversation_id="c1", message_id="m2")
