"""Blocking: a user blocks another, so that the blocked user cannot start a DIRECT
conversation with them, add them to a group, or notify them, and the blocker's clients can
hide the blocked user's messages (``Message.senderBlocked``, per caller).

What a block does, and where it is enforced:

* creating a DIRECT conversation (either side blocked the other) and adding a user to a group
  (by someone that user blocked: at conversation creation too) are refused with Forbidden,
  by a ConditionCheck on the pair's block item **in the transaction that writes** (no
  check-then-act window: a block and the write never both win);
* notifications (push, e-mail) and the MESSAGE user event's preview are not sent to a member
  who blocked the sender (:func:`cloudchat.fanout.Fanout._unblocked`);
* message pages, catch-up and threads carry ``senderBlocked`` for the caller (their block set
  is read in the page's own BatchGetItem);
* the directory (``users``) leaves out the users who blocked the caller.

Blocking an id says nothing about whether a user has it (any well-formed id can be blocked:
no NotFound to probe with). Blocking twice and unblocking someone not blocked are no-ops.
A user blocks at most ``MAX_BLOCKS`` others (then BadRequest).
"""

from __future__ import annotations

from collections.abc import Iterable

from cloudchat import validation
from cloudchat.errors import BadRequest, BlockedPairs, Conflict, Forbidden
from cloudchat.models import Caller, Message, MessageKind
from cloudchat.services._base import ServiceBase, iso
from cloudchat.store import MAX_BLOCKS

BLOCK_ATTEMPTS = 5


def flag_blocked(items: Iterable[Message], blocked: frozenset[str]) -> None:
    """Sets ``sender_blocked`` on the messages whose sender the caller blocked (never on
    SYSTEM messages: they record what happened in the conversation)."""
    if not blocked:
        return
    for m in items:
        m.sender_blocked = m.kind is not MessageKind.SYSTEM and m.sender_id in blocked


def refused(caller: Caller, exc: BlockedPairs, *, direct: bool) -> Forbidden:
    """The answer to a write a block refused. The caller's own blocks are named as such; a
    block by someone else is a plain refusal (what a blocked user learns is only that)."""
    if any(a == caller.user_id for a, _ in exc.pairs):
        return Forbidden("you blocked this user: unblock them first",
                         info={"userIds": sorted({b for a, b in exc.pairs if a == caller.user_id})})
    if direct:
        return Forbidden("you cannot start a direct conversation with this user")
    return Forbidden("you cannot add these users to a conversation",
                     info={"userIds": sorted({a for a, _ in exc.pairs})})


class BlocksService(ServiceBase):
    """blockUser, unblockUser, blockedUsers."""

    def block_user(self, caller: Caller, user_id: object) -> dict[str, str]:
        target = self._block_target(caller, user_id)
        for _ in range(BLOCK_ATTEMPTS):
            outcome, at = self.store.block(caller.user_id, target, iso(self.clock()))
            if outcome == "full":
                raise BadRequest(f"you can block at most {MAX_BLOCKS} users: unblock someone first",
                                 info={"maxBlocks": MAX_BLOCKS})
            if at is not None:  # blocked now, or already (a no-op)
                return {"userId": target, "blockedAt": at}
        raise Conflict("your blocks are changing right now; retry")

    def unblock_user(self, caller: Caller, user_id: object) -> dict[str, object]:
        target = self._block_target(caller, user_id)
        for _ in range(BLOCK_ATTEMPTS):
            outcome = self.store.unblock(caller.user_id, target)
            if outcome != "conflict":
                return {"userId": target, "wasBlocked": outcome == "unblocked"}
        raise Conflict("your blocks are changing right now; retry")

    def blocked_users(self, caller: Caller) -> list[dict[str, str]]:
        """Everyone the caller blocked, most recent first (at most ``MAX_BLOCKS``)."""
        rows = sorted(self.store.blocks_of(caller.user_id), key=lambda r: (r[1], r[0]),
                      reverse=True)
        return [{"userId": u, "blockedAt": at} for u, at in rows]

    @staticmethod
    def _block_target(caller: Caller, user_id: object) -> str:
        target = validation.user_id(user_id)
        if target == caller.user_id:
            raise BadRequest("you cannot block yourself")
        return target
