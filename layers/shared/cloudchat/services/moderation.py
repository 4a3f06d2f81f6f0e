"""Moderation: members report messages; moderators and admins review the reports."""

from __future__ import annotations

from cloudchat import validation
from cloudchat.errors import BadRequest, Conflict, Forbidden, NotFound
from cloudchat.models import Caller, Message
from cloudchat.services._base import NOT_MEMBER, iso
from cloudchat.services._keys import CryptoService


class ModerationService(CryptoService):
    """Reports and their review."""

    def report_message(self, caller: Caller, conversation_id: object, message_id: object,
                       reason: object) -> dict[str, object]:
        """A member reports a message to the moderators (once; repeating is a no-op)."""
        cid, mid, seq = self._addressed(conversation_id, message_id)
        text = validation.reason(reason)
        at = iso(self.clock())
        outcome = self.store.put_report(cid, seq, mid, caller.user_id, text, at)
        if outcome == "not_member":
            raise Forbidden(NOT_MEMBER)
        if outcome == "missing":
            raise NotFound("message not found in this conversation")
        if outcome == "retry":
            raise Conflict("the report could not be recorded right now; retry")
        return {"conversationId": cid, "messageId": mid, "reporterId": caller.user_id,
                "reason": text, "createdAt": at}

    def reported_messages(self, caller: Caller, limit: int | None,
                          next_token: str | None) -> tuple[list[tuple[dict, Message | None]], str | None]:
        """Newest reports first, each with the reported message (decrypted: moderators
        review content). The admin and moderator groups only."""
        if not caller.is_moderator:
            raise Forbidden("only moderators and admins review reports")
        n = validation.limit(limit)
        start = None
        if next_token is not None:
            start = self.tokens.open(next_token, user_id=caller.user_id,
                                     operation="reportedMessages").get("k")
            if not isinstance(start, dict):
                raise BadRequest("nextToken is invalid")
        rows, msgs, more = self.store.reports(n, start)
        out = []
        for row in rows:
            stored = msgs.get(row["messageId"])
            out.append((row, self._decrypt(stored, None) if stored else None))
        token = None
        if more and rows:
            token = self.tokens.seal({"k": self.store.report_cursor(rows[-1])},
                                     user_id=caller.user_id, operation="reportedMessages")
        return out, token
