"""Threads: the replies to a root message, oldest first (a reply to a reply joins the
root's thread when it is sent)."""

from __future__ import annotations

from cloudchat import ids, validation
from cloudchat.errors import BadRequest, Forbidden
from cloudchat.models import Caller, Page
from cloudchat.services._base import MESSAGES_DEFAULT_LIMIT, NOT_MEMBER
from cloudchat.services._keys import CryptoService
from cloudchat.services.blocks import flag_blocked


class ThreadsService(CryptoService):
    """A root message's replies."""

    def thread(self, caller: Caller, conversation_id: object, root_id: object, limit: int | None,
               next_token: str | None) -> Page:
        """Replies to a root message, oldest first."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        root = ids.require_ulid(root_id, "rootId")
        ids.seq_of_message_id(root)
        n = validation.limit(limit, MESSAGES_DEFAULT_LIMIT)
        after = 0
        if next_token is not None:
            pos = self.tokens.open(next_token, user_id=caller.user_id, operation="thread",
                                   scope=f"{cid}/{root}")
            after = pos.get("a", -1)
            if not isinstance(after, int) or after < 0:
                raise BadRequest("nextToken is invalid")
        # GSI3 says which seqs are replies; the replies and the caller's member item come
        # from the table in one strongly consistent batch get (an index image can be stale).
        # A token's position is already past joinedSeq; on a first page, replies from
        # before the caller joined are skipped by asking again from joinedSeq.
        bound = after
        while True:
            seqs, more = self.store.thread_reply_seqs(cid, root, n, bound)
            member, _, found, blocked = self.store.read_messages_and_blocks(
                cid, caller.user_id, seqs, with_conversation=False)
            if member is None:
                raise Forbidden(NOT_MEMBER)
            if bound >= member.joined_seq or not seqs or seqs[0] > member.joined_seq:
                break
            bound = member.joined_seq
        rows = [found[s] for s in seqs if s in found]
        items = [self._decrypt(r, None) for r in rows]
        flag_blocked(items, blocked)
        token = None
        if more and rows:
            token = self.tokens.seal({"a": rows[-1].seq}, user_id=caller.user_id,
                                     operation="thread", scope=f"{cid}/{root}")
        return Page(items, token)
