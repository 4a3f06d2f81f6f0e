"""Envelope encryption: one KMS key for the stack, one data key per conversation.

* ``GenerateDataKey`` with encryption context ``{"conversationId": id}`` makes a
  conversation's key; only the KMS-wrapped form is stored (on the conversation item).
* Bodies are AES-256-GCM with a random 96-bit nonce. The AAD binds a ciphertext to its
  conversation id, message id, key version and body version (edits), so a ciphertext moved
  to another row or another version fails to open with :class:`~cloudchat.errors.IntegrityError`.
* Plaintext data keys are cached in memory with a bounded age and use count: a warm
  function makes zero KMS calls per message.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloudchat.errors import IntegrityError

NONCE_BYTES = 12
_AAD_PREFIX = b"cloudchat/v1"


def _aesgcm(key: bytes) -> Any:
    # Imported on first use: keeps `cryptography` off the cold-start import path.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def aad(conversation_id: str, message_id: str, key_version: int, version: int = 1) -> bytes:
    return b"|".join((_AAD_PREFIX, conversation_id.encode(), message_id.encode(),
                      str(key_version).encode(), str(version).encode()))


@dataclass(frozen=True)
class Sealed:
    """An encrypted body as stored: nonce, ciphertext (with tag), key version, body version."""

    nonce: bytes
    ciphertext: bytes
    key_version: int
    version: int = 1


def seal(key: bytes, plaintext: str, *, conversation_id: str, message_id: str,
         key_version: int, version: int = 1) -> Sealed:
    nonce = os.urandom(NONCE_BYTES)
    ct = _aesgcm(key).encrypt(nonce, plaintext.encode(),
                              aad(conversation_id, message_id, key_version, version))
    return Sealed(nonce=nonce, ciphertext=ct, key_version=key_version, version=version)


def open_sealed(key: bytes, sealed: Sealed, *, conversation_id: str, message_id: str) -> str:
    from cryptography.exceptions import InvalidTag

    try:
        plain = _aesgcm(key).decrypt(
            sealed.nonce, sealed.ciphertext,
            aad(conversation_id, message_id, sealed.key_version, sealed.version))
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

    def __init__(self, kms: Callable[[], Any], key_id: str, *, max_age_seconds: float = 300,
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
                del self._cache[k]

    def _put(self, conversation_id: str, key_version: int, plaintext: bytes) -> None:
        with self._lock:
            self._cache[(conversation_id, key_version)] = _Entry(bytes(plaintext), self._clock())
