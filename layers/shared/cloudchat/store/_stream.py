"""Stream images: a DynamoDB stream record's NewImage / OldImage, decoded through the codec
into the typed records the stream consumer (:mod:`cloudchat.fanout`) reads.

A message's image is only a pointer (:class:`MessageImage`): the consumer confirms every
record against the table (moto even emits records of cancelled transactions), and a
message is decoded, with its placement checks, from what that read returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudchat.dataclass import dataclass
from cloudchat.models import Member
from cloudchat.store import _codec as codec


@dataclass(frozen=True)
class MessageImage:
    """A message item in a stream record: which message to confirm against the table."""

    conversation_id: str
    seq: int
    id: str
    index_pending: bool = False  # search postings queued for the consumer (store._search)


@dataclass(frozen=True)
class ConversationImage:
    """A conversation item in a stream record: the part the consumer compares."""

    id: str
    title: str | None


@dataclass(frozen=True)
class PresenceImage:
    """A presence heartbeat in a stream record."""

    user_id: str
    last_seen: str


@dataclass(frozen=True)
class DeletionImage:
    """A deleted conversation's audit record in a stream record: which purge step is next."""

    conversation_id: str
    purge_step: int
    purged: bool


@dataclass(frozen=True)
class AccountDeletionImage:
    """An account deletion job in a stream record: its next step is due."""

    user_id: str
    step: int


StreamImage = (MessageImage | Member | ConversationImage | PresenceImage | DeletionImage
               | AccountDeletionImage)


def _wire(value: dict[str, Any]) -> dict[str, Any]:
    """Lambda's stream events carry binary attributes base64-encoded (JSON)."""
    import base64

    (kind, v), = value.items()
    if kind == "B" and isinstance(v, str):
        return {"B": base64.b64decode(v)}
    if kind == "BS":
        return {"BS": [base64.b64decode(x) if isinstance(x, str) else x for x in v]}
    if kind == "M":
        return {"M": {k: _wire(x) for k, x in v.items()}}
    if kind == "L":
        return {"L": [_wire(x) for x in v]}
    return value


def decode_stream_image(raw: Mapping[str, Any] | None) -> StreamImage | None:
    """A stream record's image (as Lambda delivers it, or as boto3 reads it) as a typed
    record: a message, member, conversation or presence item; None for no image or an item
    of another type (send guards, reactions' audit entries, rate logs, ...)."""
    if not raw:
        return None
    d = codec.from_av({k: _wire(v) for k, v in raw.items()})
    kind = d.get("type")
    if kind == "MSG":
        return MessageImage(conversation_id=d["conversationId"], seq=int(d["seq"]), id=d["id"],
                            index_pending=bool(d.get("sxp")))
    if kind == "MEMBER":
        return codec.member(d)
    if kind == "CONV":
        return ConversationImage(id=d["id"], title=d.get("title"))
    if kind == "PRESENCE":
        return PresenceImage(user_id=d["userId"], last_seen=d.get("lastSeen", ""))
    if kind == "CONVDELETED":
        return DeletionImage(conversation_id=d["conversationId"],
                             purge_step=int(d.get("purgeStep", 0)), purged="purgedAt" in d)
    if kind == "DELETION":
        return AccountDeletionImage(user_id=d["userId"], step=int(d.get("jobStep", 0)))
    return None


def stream_partition(keys: Mapping[str, Any] | None) -> str:
    """The partition key of a stream record's item (its ``Keys``, as Lambda delivers them or
    boto3 reads them): a conversation's messages, members and title share one."""
    pk = (keys or {}).get("PK")
    return str(next(iter(pk.values()), "")) if isinstance(pk, Mapping) and pk else ""
