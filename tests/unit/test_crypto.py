"""Envelope encryption: round trip, tampering, wrong AAD, and the data-key cache."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudchat.crypto import KeyRing, Sealed, open_sealed, seal
from cloudchat.errors import IntegrityError

KEY = bytes(range(32))
CID, MID = "01JD5Z8Q7M3V9K2X4N6P8R0T2W", "01JD5Z9A0000000001ABCDEFGH"


def sealed(text: str = "hello") -> Sealed:
    return seal(KEY, text, conversation_id=CID, message_id=MID, key_version=1)


def test_round_trip_and_fresh_nonce() -> None:
    a, b = sealed("héllo 👋"), sealed("héllo 👋")
    assert open_sealed(KEY, a, conversation_id=CID, message_id=MID) == "héllo 👋"
    assert a.nonce != b.nonce and a.ciphertext != b.ciphertext
    assert len(a.nonce) == 12
    assert b"hello" not in a.ciphertext


@pytest.mark.parametrize("where", ["ciphertext", "nonce", "tag"])
def test_tampering_fails_with_integrity_error(where: str) -> None:
    s = sealed()
    if where == "ciphertext":
        s = replace(s, ciphertext=bytes([s.ciphertext[0] ^ 1]) + s.ciphertext[1:])
    elif where == "nonce":
        s = replace(s, nonce=bytes([s.nonce[0] ^ 1]) + s.nonce[1:])
    else:
        s = replace(s, ciphertext=s.ciphertext[:-1] + bytes([s.ciphertext[-1] ^ 1]))
    with pytest.raises(IntegrityError):
        open_sealed(KEY, s, conversation_id=CID, message_id=MID)


@pytest.mark.parametrize("change", ["conversation", "message", "version", "key"])
def test_wrong_context_fails(change: str) -> None:
    s = sealed()
    kwargs = {"conversation_id": CID, "message_id": MID}
    key = KEY
    if change == "conversation":
        kwargs["conversation_id"] = "01JD5Z8Q7M3V9K2X4N6P8R0T2X"
    elif change == "message":
        kwargs["message_id"] = "01JD5Z9A0000000002ABCDEFGH"
    elif change == "version":
        s = replace(s, key_version=2)
    else:
        key = bytes(32)
    with pytest.raises(IntegrityError, match="integrity check"):
        open_sealed(key, s, **kwargs)


class FakeKMS:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def generate_data_key(self, **kw):
        self.calls.append("GenerateDataKey")
        assert kw["EncryptionContext"] == {"conversationId": "c1"} and kw["KeySpec"] == "AES_256"
        return {"Plaintext": b"k" * 32, "CiphertextBlob": b"wrapped:c1"}

    def decrypt(self, **kw):
        self.calls.append("Decrypt")
        assert kw["CiphertextBlob"] == b"wrapped:" + kw["EncryptionContext"]["conversationId"].encode()
        return {"Plaintext": b"k" * 32}


def test_key_ring_caches_with_bounded_age_and_uses() -> None:
    kms, now = FakeKMS(), [0.0]
    ring = KeyRing(lambda: kms, "key", max_age_seconds=60, max_uses=3, clock=lambda: now[0])
    assert ring.create("c1") == b"wrapped:c1"
    for _ in range(3):
        assert ring.key("c1", 1, b"wrapped:c1") == b"k" * 32
    assert kms.calls == ["GenerateDataKey"]
    ring.key("c1", 1, b"wrapped:c1")  # 4th use: over the use bound -> unwrap again
    assert kms.calls == ["GenerateDataKey", "Decrypt"]
    now[0] = 61.0
    assert ring.cached("c1", 1) is None  # too old
    ring.key("c1", 1, b"wrapped:c1")
    assert kms.calls.count("Decrypt") == 2
    ring.forget("c1")
    assert ring.cached("c1", 1) is None


def test_key_ring_keeps_one_cipher_per_key_only_while_it_holds_the_key() -> None:
    """A cached key's AES-GCM object is made once (not per message) and dropped with the
    key: on expiry, past the use bound and on forget, no key material outlives the ring."""
    from cloudchat import crypto

    kms, now = FakeKMS(), [0.0]
    ring = KeyRing(lambda: kms, "key", max_age_seconds=60, max_uses=100, clock=lambda: now[0])
    ring.create("c1")
    key = b"k" * 32
    cipher = crypto._CIPHERS[key]
    assert crypto._aesgcm(key) is cipher
    s = seal(key, "hi", conversation_id="c1", message_id=MID, key_version=1)
    assert open_sealed(key, s, conversation_id="c1", message_id=MID) == "hi"
    now[0] = 61.0
    assert ring.cached("c1", 1) is None and key not in crypto._CIPHERS  # expired
    ring.key("c1", 1, b"wrapped:c1")
    assert key in crypto._CIPHERS
    ring.forget("c1")
    assert key not in crypto._CIPHERS
    other = bytes(32)
    assert crypto._aesgcm(other) is not crypto._aesgcm(other)  # not held by a ring: not kept


_AAD_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
_AAD_INT = st.integers(min_value=-(2**63), max_value=2**63)


@settings(max_examples=300, deadline=None)
@given(_AAD_TEXT, _AAD_TEXT, _AAD_INT, _AAD_INT, _AAD_INT, _AAD_TEXT, _AAD_TEXT, _AAD_TEXT)
def test_bound_aad_is_the_compact_json_it_always_was(cid: str, mid: str, kv: int, version: int,
                                                     seq: int, sender: str, kind: str,
                                                     attachments: str) -> None:
    """Stored ciphertexts depend on these exact bytes: the fast path writes what json.dumps
    wrote (any text: quotes, controls, non-ASCII; any int)."""
    import json

    from cloudchat.crypto import Binding, bound_aad

    fields = [cid, mid, kv, version, seq, sender, kind, attachments]
    expected = b"cloudchat/v2" + json.dumps(fields, separators=(",", ":")).encode()
    assert bound_aad(cid, mid, kv, version, Binding(seq, sender, kind, attachments)) == expected


def test_the_search_key_is_derived_once_per_held_key_and_dropped_with_it() -> None:
    """search_key: the same key every time (HKDF of the data key), kept only while a key
    ring holds the data key (sends and edits index every body with it)."""
    from cloudchat import crypto

    kms, now = FakeKMS(), [0.0]
    ring = KeyRing(lambda: kms, "key", max_age_seconds=60, max_uses=100, clock=lambda: now[0])
    ring.create("c1")
    key = b"k" * 32
    derived = crypto.search_key(key)
    assert crypto.search_key(key) == derived and crypto._SEARCH_KEYS[key] == derived
    ring.forget("c1")
    assert key not in crypto._SEARCH_KEYS
    assert crypto.search_key(key) == derived and key not in crypto._SEARCH_KEYS  # not held
