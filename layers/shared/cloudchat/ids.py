"""Identifiers. Every id is a ULID (26 Crockford base32 characters, time-sortable).

Message ids are ULIDs whose 80 "random" bits carry the message's conversation ``seq`` in
their first 40 bits and 40 random bits after it. So ``(conversationId, messageId)`` names
the message's DynamoDB key directly, and every by-id operation (react, edit, delete) is a
single keyed request; the id still sorts by creation time like any ULID.
A forged id decodes to some seq, and the store's ``id = :id`` condition rejects it.
"""

from __future__ import annotations

import re
import secrets
import time

from cloudchat.errors import BadRequest

_ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")  # 128 bits: the first character is 0-7
MAX_SEQ = (1 << 40) - 1
#: Crockford base32 digits as Python's base-32 digits: ``int(id.translate(_DIGITS), 32)`` is the
#: ULID's 128-bit value (what ``ULID.from_str(id)`` decodes, for a valid id, ~7x faster).
_DIGITS = str.maketrans("0123456789ABCDEFGHJKMNPQRSTVWXYZ", "0123456789abcdefghijklmnopqrstuv")


def new_id() -> str:
    from ulid import ULID  # (imported on first use: ~18 ms of a cold start otherwise)

    return str(ULID())


def new_message_id(seq: int, now_ms: int | None = None) -> str:
    if not 1 <= seq <= MAX_SEQ:
        raise ValueError("seq out of range")
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    from ulid import ULID

    raw = ms.to_bytes(6, "big") + seq.to_bytes(5, "big") + secrets.token_bytes(5)
    return str(ULID.from_bytes(raw))


def is_ulid(value: object) -> bool:
    return isinstance(value, str) and bool(_ULID_RE.fullmatch(value))


def require_ulid(value: object, what: str) -> str:
    if not is_ulid(value):
        raise BadRequest(f"{what} is not a valid id")
    return str(value)


def seq_of_message_id(message_id: str) -> int:
    """The seq a message id carries. Raises BadRequest for anything that is not one."""
    require_ulid(message_id, "messageId")
    seq = (int(message_id.translate(_DIGITS), 32) >> 40) & MAX_SEQ  # bytes 6..10 of the ULID
    if seq < 1:
        raise BadRequest("messageId is not a valid message id")
    return seq
