"""What the store's conditional writes answer, and the send guard record."""

from __future__ import annotations

from typing import Any

from cloudchat.dataclass import dataclass
from cloudchat.models import StoredMessage


@dataclass(frozen=True)
class AppendOutcome:
    """What a conditional append did. Exactly one of the fields describes it."""

    stored: bool = False
    not_member: bool = False
    rate_limited: bool = False
    retry_after: int = 0  # with rate_limited: seconds until a send would be accepted
    parent_missing: bool = False
    parent_root: str | None = None  # the parent is itself a reply: retry with this root
    duplicate_seq: int | None = None  # the clientMessageId was used before, for this seq ...
    duplicate_guard: SendGuard | None = None  # ... with this payload digest
    current_seq: int | None = None  # the conversation had moved on to this seq
    retry: bool = False  # a transient conflict: try again
    upload_taken: bool = False  # an attachment is not (any more) the sender's pending upload
    mention_outsiders: tuple[str, ...] = ()  # mentioned users who are not members
    account_deleted: bool = False  # the sender's account was deleted (its rate log's marker)


@dataclass(frozen=True)
class WriteOutcome:
    """What a conditional message write (react / edit / delete) did."""

    ok: bool = False
    not_member: bool = False
    missing: bool = False  # no such message (or a forged id)
    deleted: bool = False
    limit: bool = False  # a bound was hit (reaction kinds, edit count)
    stale: bool = False  # the expected version did not match
    not_allowed: bool = False  # the message's rules forbid it (author, window)
    old: StoredMessage | None = None  # the message as it was, when the write was refused
    retry: bool = False
    message: StoredMessage | None = None  # the message as the write left it (when ok)
    purge: tuple[str, ...] = ()  # a deleted message's S3 objects, to be scheduled for expiry
    too_large: bool = False  # the change would grow the item past ITEM_SIZE_BUDGET


@dataclass(frozen=True)
class SendGuard:
    """A sender's claim on a clientMessageId: the seq it was stored with, and the digest of
    the payload it carried (keyed with the conversation's data key ``key_version``; None
    on a guard written before digests were kept)."""

    seq: int
    digest: bytes | None = None
    key_version: int | None = None

    @classmethod
    def of(cls, item: dict[str, Any]) -> SendGuard:
        digest = item.get("digest")
        return cls(int(item["seq"]), bytes(digest) if digest is not None else None,
                   int(item["digestKv"]) if "digestKv" in item else None)
