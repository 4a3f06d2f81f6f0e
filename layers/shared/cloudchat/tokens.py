"""Opaque, tamper-evident pagination tokens.

A ``nextToken`` is AES-GCM sealed JSON under a key derived from the stack's token secret.
The AAD binds it to the caller and the query (operation + scope such as the conversation
id), so a token that was altered, minted for another user or for another query is rejected
with BadRequest. Clients cannot read or forge positions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

from cloudchat.errors import BadRequest

_VERSION = b"\x01"


class TokenCodec:
    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"cloudchat nextToken v1", hashlib.sha256).digest()

    @staticmethod
    def _aad(user_id: str, operation: str, scope: str) -> bytes:
        return "\x1f".join(("nextToken", user_id, operation, scope)).encode()

    def seal(self, payload: dict[str, Any], *, user_id: str, operation: str, scope: str = "") -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(12)
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        ct = AESGCM(self._key).encrypt(nonce, body, self._aad(user_id, operation, scope))
        return base64.urlsafe_b64encode(_VERSION + nonce + ct).decode().rstrip("=")

    def open(self, token: str, *, user_id: str, operation: str, scope: str = "") -> dict[str, Any]:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        invalid = BadRequest("nextToken is invalid: it was altered, or belongs to another query or user")
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise invalid
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            raise invalid from None
        if len(raw) < 1 + 12 + 16 or raw[:1] != _VERSION:
            raise invalid
        if base64.urlsafe_b64encode(raw).decode().rstrip("=") != token:
            raise invalid  # not the exact string seal() made (stray characters, padding, spare bits)
        try:
            body = AESGCM(self._key).decrypt(raw[1:13], raw[13:], self._aad(user_id, operation, scope))
            payload = json.loads(body)
        except (InvalidTag, ValueError):
            raise invalid from None
        if not isinstance(payload, dict):
            raise invalid
        return payload
