"""Receipts and typing: read and delivered markers, who has read what, and typing
indicators (rate-limited per member)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

from cloudchat import ids, validation
from cloudchat.errors import BadRequest, Conflict, Forbidden, RateLimited
from cloudchat.models import Caller, Member, ReceiptEvent, TypingEvent
from cloudchat.services._base import NOT_MEMBER, ServiceBase, iso

TYPING_TTL_SECONDS = 6


class ReceiptsService(ServiceBase):
    """Read and delivered markers, read receipts, typing."""

    def mark(self, caller: Caller, conversation_id: object, seq: object, kind: str) -> ReceiptEvent:
        """Moves the caller's read/delivered marker forward; an older receipt is a no-op."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        n = validation.positive_seq(seq, "seq")
        at = iso(self.clock())
        marker = "readSeq" if kind == "READ" else "deliveredSeq"
        for attempt in range(3):
            outcome, value = self.store.advance_marker(cid, caller.user_id, marker, n, at)
            if outcome != "conflict":
                break
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        else:
            raise Conflict("the receipt collided with a concurrent change; retry")
        if outcome == "not_member":
            raise Forbidden(NOT_MEMBER)
        if outcome == "beyond":
            raise BadRequest(f"seq {n} is beyond the last message ({value})")
        return ReceiptEvent(cid, caller.user_id, kind, value, at)

    def read_receipts(self, caller: Caller, conversation_id: object) -> list[Member]:
        cid = ids.require_ulid(conversation_id, "conversationId")
        members = self.store.members(cid)
        if not any(m.user_id == caller.user_id for m in members):
            raise Forbidden(NOT_MEMBER)
        if self.store.get_conversation(cid) is None:
            raise Forbidden(NOT_MEMBER)  # member items deleteConversation left to the purge
        return members

    def send_typing(self, caller: Caller, conversation_id: object, typing: object) -> TypingEvent:
        cid = ids.require_ulid(conversation_id, "conversationId")
        if not isinstance(typing, bool):
            raise BadRequest("typing must be true or false")
        now = self.clock()
        interval = self.settings.typing_min_interval_ms
        outcome, wait_ms = self.store.touch_typing(cid, caller.user_id, int(now.timestamp() * 1000),
                                                   interval, typing)
        if outcome == "too_fast":
            raise RateLimited(f"send typing at most every {interval} ms",
                              info={"retryAfterSeconds": max(1, -(-wait_ms // 1000))})
        if outcome == "not_member":
            raise Forbidden(NOT_MEMBER)
        expires = datetime.fromtimestamp(now.timestamp() + (TYPING_TTL_SECONDS if typing else 0), UTC)
        return TypingEvent(cid, caller.user_id, typing, iso(expires))
