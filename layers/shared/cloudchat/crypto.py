"""Envelope encryption: one KMS key for the stack, one data key per conversation.

* ``GenerateDataKey`` with encryption context ``{"conversationId": id}`` makes a
  conversation's key; only the KMS-wrapped form is stored (on the conversation item).
* Bodies are AES-256-GCM with a random 96-bit nonce. The AAD binds a ciphertext to its
  conversation id, message id, key version and body version (edits), and, for a message body
  (format 2, :class:`Binding`), to the message's seq, sender, kind and a digest of its
  attachments: a ciphertext moved to another row or version, or left under a changed
  sender, kind, seq or attachment, fails to open with :class:`~cloudchat.errors.IntegrityError`.
  Bodies written before format 2 (no ``fmt``) open with the format-1 AAD; a format-2 body
  relabelled as format 1 does not open (its AAD differs).
* Search (:mod:`cloudchat.searchtext`) indexes keyed HMAC tokens, never words: the HMAC
  key is derived from the conversation's plaintext data key with HKDF-SHA256 and a fixed
  label (:func:`search_key`), so the index is unreadable without that data key and is
  shredded with it; the tokens of one word differ between conversations.
* Plaintext data keys are cached in memory with a bounded age and use count: a warm
  function makes zero KMS calls per message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _quote  # json.dumps's own quoting
from typing import TYPE_CHECKING, Any

from cloudchat.dataclass import dataclass
from cloudchat.errors import IntegrityError

if TYPE_CHECKING:
    from types_boto3_kms import KMSClient

NONCE_BYTES = 12
_AAD_PREFIX = b"cloudchat/v1"
_BOUND_PREFIX = b"cloudchat/v2"
LEGACY_FORMAT = 1  # conversation, message id, key version, body version
BOUND_FORMAT = 2  # ... and the message's seq, sender, kind and attachments digest


#: One AES-GCM object per plaintext data key a :class:`KeyRing` holds, made when the ring
#: takes the key and dropped when it drops it (age, use count, :meth:`KeyRing.forget`), so no
#: key material outlives the ring's bounds; other keys get a new object per use.
_CIPHERS: dict[bytes, Any] = {}
#: The search key derived from such a key (:func:`search_key`), kept and dropped with it.
_SEARCH_KEYS: dict[bytes, bytes] = {}


def _drop(key: bytes) -> None:
    """What was derived from a data key the key ring no longer holds."""
    _CIPHERS.pop(key, None)
    _SEARCH_KEYS.pop(key, None)


def _new_aesgcm(key: bytes) -> Any:
    # Imported on first use: keeps `cryptography` off the cold-start import path.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _aesgcm(key: bytes) -> Any:
    cipher = _CIPHERS.get(key)
    return cipher if cipher is not None else _new_aesgcm(key)


SEARCH_KEY_INFO = b"cloudchat/search-index/v1"
TOKEN_BYTES = 8  # 64-bit tokens: a collision only adds a candidate, which decryption drops


def search_key(data_key: bytes) -> bytes:
    """The conversation's blind-index key: HKDF-SHA256 of its plaintext data key (no salt,
    a fixed info label), 32 bytes. Derived once per data key the key ring holds (every
    send and edit indexes its body), not once per message."""
    derived = _SEARCH_KEYS.get(data_key)
    if derived is not None:
        return derived
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=SEARCH_KEY_INFO).derive(data_key)
    if data_key in _CIPHERS:  # held by a key ring: kept as long as it holds the key
        _SEARCH_KEYS[data_key] = derived
    return derived


def blind_token(index_key: bytes, term: str) -> bytes:
    """An index term (``"p:hel"``, see :mod:`cloudchat.searchtext`) as stored: HMAC-SHA256
    under the conversation's :func:`search_key`, truncated to :data:`TOKEN_BYTES`."""
    return hmac.new(index_key, term.encode(), hashlib.sha256).digest()[:TOKEN_BYTES]


def aad(conversation_id: str, message_id: str, key_version: int, version: int = 1) -> bytes:
    return b"|".join((_AAD_PREFIX, conversation_id.encode(), message_id.encode(),
                      str(key_version).encode(), str(version).encode()))


@dataclass(frozen=True)
class Binding:
    """What a message body is bound to besides its conversation and id: the message's seq,
    sender, kind and a digest of its attachments (``""`` when it has none). Built from a
    stored message by :func:`cloudchat.store.binding`."""

    seq: int
    sender_id: str
    kind: str
    attachments: str = ""


def bound_aad(conversation_id: str, message_id: str, key_version: int, version: int,
              binding: Binding) -> bytes:
    """The format-2 AAD: the prefix and a compact JSON array (unambiguous). Stored
    ciphertexts depend on these exact bytes; the common case (str and int fields) is
    written without ``json.dumps``'s generic path, the same bytes (property-tested)."""
    texts = (conversation_id, message_id, binding.sender_id, binding.kind, binding.attachments)
    numbers = (key_version, version, binding.seq)
    if all(type(t) is str for t in texts) and all(type(n) is int for n in numbers):
        text = (f"[{_quote(conversation_id)},{_quote(message_id)},{key_version},{version},"
                f"{binding.seq},{_quote(binding.sender_id)},{_quote(binding.kind)},"
                f"{_quote(binding.attachments)}]")
    else:
        text = json.dumps([conversation_id, message_id, key_version, version, binding.seq,
                           binding.sender_id, binding.kind, binding.attachments],
                          separators=(",", ":"))
    return _BOUND_PREFIX + text.encode()


@dataclass(frozen=True)
class Sealed:
    """An encrypted body as stored: nonce, ciphertext (with tag), key version, body version,
    and the AAD's format (:data:`LEGACY_FORMAT` or :data:`BOUND_FORMAT`)."""

    nonce: bytes
    ciphertext: bytes
    key_version: int
    version: int = 1
    fmt: int = LEGACY_FORMAT


def seal(key: bytes, plaintext: str, *, conversation_id: str, message_id: str,
         key_version: int, version: int = 1, binding: Binding | None = None) -> Sealed:
    """Encrypts; with a ``binding`` (every message body) in format 2, else format 1 (an
    upload's file name, bound to its conversation and upload id)."""
    nonce = os.urandom(NONCE_BYTES)
    if binding is None:
        data, fmt = aad(conversation_id, message_id, key_version, version), LEGACY_FORMAT
    else:
        data = bound_aad(conversation_id, message_id, key_version, version, binding)
        fmt = BOUND_FORMAT
    ct = _aesgcm(key).encrypt(nonce, plaintext.encode(), data)
    return Sealed(nonce=nonce, ciphertext=ct, key_version=key_version, version=version, fmt=fmt)


def open_sealed(key: bytes, sealed: Sealed, *, conversation_id: str, message_id: str,
                binding: Binding | None = None) -> str:
    """Decrypts, or raises IntegrityError. A format-2 body needs the ``binding`` of the
    message it is read from; a format-1 one opens without it (written before format 2)."""
    from cryptography.exceptions import InvalidTag

    if sealed.fmt == BOUND_FORMAT and binding is not None:
        data = bound_aad(conversation_id, message_id, sealed.key_version, sealed.version,
                         binding)
    elif sealed.fmt == LEGACY_FORMAT:
        data = aad(conversation_id, message_id, sealed.key_version, sealed.version)
    else:
        raise IntegrityError(f"the stored body of message {message_id} in conversation "
                             f"{conversation_id} has an unknown or unbound format")
    try:
        plain = _aesgcm(key).decrypt(sealed.nonce, sealed.ciphertext, data)
    except (InvalidTag, ValueError) as exc:
        raise IntegrityError(
            f"the stored body of message {message_id} in conversation {conversation_id} "
            "failed its integrity check (tampered, or copied from another message)"
        ) from exc
    return plain.decode()


@dataclass
class _Entry:
    key: bytes
    created: float
    uses: int = 0


class KeyRing:
    """Conversation data keys: created and unwrapped through KMS, cached in memory.

    Thread-safe; one instance per process (Lambda container or local stack).
    """

    def __init__(self, kms: Callable[[], KMSClient], key_id: str, *, max_age_seconds: float = 300,
                 max_uses: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._kms = kms
        self._key_id = key_id
        self._max_age = max_age_seconds
        self._max_uses = max_uses
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int], _Entry] = {}

    @staticmethod
    def _context(conversation_id: str) -> dict[str, str]:
        return {"conversationId": conversation_id}

    def create(self, conversation_id: str, key_version: int = 1) -> bytes:
        """A new data key for a conversation; returns the wrapped (storable) form."""
        resp = self._kms().generate_data_key(
            KeyId=self._key_id, KeySpec="AES_256",
            EncryptionContext=self._context(conversation_id),
        )
        self._put(conversation_id, key_version, resp["Plaintext"])
        return bytes(resp["CiphertextBlob"])

    def cached(self, conversation_id: str, key_version: int) -> bytes | None:
        """The plaintext key if cached and still fresh (counts as a use), else None."""
        with self._lock:
            entry = self._cache.get((conversation_id, key_version))
            if entry is None:
                return None
            if (self._clock() - entry.created > self._max_age
                    or entry.uses >= self._max_uses):
                del self._cache[(conversation_id, key_version)]
                _drop(entry.key)
                return None
            entry.uses += 1
            return entry.key

    def key(self, conversation_id: str, key_version: int, wrapped: bytes) -> bytes:
        """The plaintext key: from the cache, or unwrapped with one KMS Decrypt."""
        hit = self.cached(conversation_id, key_version)
        if hit is not None:
            return hit
        from botocore.exceptions import ClientError

        try:
            resp = self._kms().decrypt(
                CiphertextBlob=wrapped, KeyId=self._key_id,
                EncryptionContext=self._context(conversation_id),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidCiphertextException":
                raise IntegrityError(
                    f"the data key of conversation {conversation_id} does not open "
                    "under its encryption context"
                ) from exc
            raise
        self._put(conversation_id, key_version, resp["Plaintext"])
        return bytes(resp["Plaintext"])

    def forget(self, conversation_id: str) -> None:
        with self._lock:
            for k in [k for k in self._cache if k[0] == conversation_id]:
                _drop(self._cache.pop(k).key)

    def _put(self, conversation_id: str, key_version: int, plaintext: bytes) -> None:
        key = bytes(plaintext)
        cipher = _new_aesgcm(key)
        with self._lock:
            self._cache[(conversation_id, key_version)] = _Entry(key, self._clock())
            _CIPHERS[key] = cipher
