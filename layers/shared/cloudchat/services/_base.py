"""What every capability of the service shares: its state (store, key ring, token codec,
settings, clock, the media bucket, and the per-container hints of each conversation's last
seq and key version), time formatting, and the few rules used by more than one capability."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cloudchat import ids
from cloudchat.config import Settings
from cloudchat.crypto import KeyRing
from cloudchat.errors import RateExceeded, RateLimited
from cloudchat.store import Rate, Store
from cloudchat.tokens import TokenCodec

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

    from cloudchat.services.media import MediaBucket

MESSAGES_DEFAULT_LIMIT = 50
NOT_MEMBER = "you are not a member of this conversation"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class _Bounded(OrderedDict[str, int]):
    """A small LRU map of hints (last known seq per conversation)."""

    def __init__(self, cap: int = 10_000) -> None:
        super().__init__()
        self._cap = cap
        self._lock = threading.Lock()

    def note(self, key: str, value: int) -> None:
        with self._lock:
            if value >= self.get(key, -1):
                self[key] = value
                self.move_to_end(key)
            while len(self) > self._cap:
                self.popitem(last=False)


class ServiceBase:
    """The state every capability mixin of :class:`~cloudchat.services.ChatService` uses."""

    def __init__(self, store: Store, keys: KeyRing, tokens: TokenCodec, settings: Settings,
                 clock: Callable[[], datetime] = utc_now,
                 s3: Callable[[], S3Client] | None = None) -> None:
        from cloudchat.services.media import MediaBucket  # (media builds on this module)

        self.media: MediaBucket = MediaBucket(settings.attachments_bucket, s3)
        self.store = store
        self.keys = keys
        self.tokens = tokens
        self.settings = settings
        self.clock = clock
        self._seq_hint = _Bounded()
        self._key_version: dict[str, int] = {}
        self._known_profiles: set[str] = set()

    def _addressed(self, conversation_id: object, message_id: object) -> tuple[str, str, int]:
        cid = ids.require_ulid(conversation_id, "conversationId")
        mid = ids.require_ulid(message_id, "messageId")
        return cid, mid, ids.seq_of_message_id(mid)

    def _write_rate(self) -> Rate:
        """The per-user log of writes other than sends: creating conversations, renames
        and membership changes (each writes a SYSTEM message or members, and fans out)."""
        return Rate("WRITE", self.settings.write_rate_per_minute,
                    int(self.clock().timestamp() * 1000))

    def _too_many_writes(self, exc: RateExceeded) -> RateLimited:
        return RateLimited(
            f"at most {self.settings.write_rate_per_minute} conversation changes a minute; "
            "slow down", info={"retryAfterSeconds": exc.retry_after})
