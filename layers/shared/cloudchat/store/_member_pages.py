"""Large groups: the member list by pages, which of a list of users are members, and the
later chunks of a large addMembers.

Members live only in their own items (``CONV#<id>`` / ``MEMBER#<userId>``); the conversation
item keeps ``memberCount`` and ``ownerCount`` (constant size whatever the group's size).

**addMembers above one transaction** (:meth:`add_member_chunk`). DynamoDB's TransactWriteItems
takes at most 100 actions, one per item, so adding more than 48 users (2 actions each: the
member put and the check that they have not blocked the actor) cannot be atomic. The rule:
the first chunk is the ordinary membership transaction (the actor's role, the conversation
moving to the SYSTEM message's seq, the message, the rate log, its members) and also marks
the conversation with ``pendingAdd`` = {digest of the call's user ids, the message's seq}.
Each later chunk is one transaction of the actor's role check, the conversation (still
marked with that digest, memberCount staying within the limit, ``ADD memberCount``) and up
to 49 users (put if absent + block check); the last one removes the mark. A retry of the same
call (the same set of ids) finds the mark with its digest and completes the rest with no new
message; a member already added is skipped (its put is conditioned on absence), so nothing
is ever duplicated. Only one large add is resumable at a time: if another one's first chunk
replaced the mark meanwhile, this call's next chunk is refused (Conflict) and its retry adds
the rest as a call of its own (with its own SYSTEM message). A user found to have blocked
the actor stops the call at that chunk: the chunks before it stay (known blocks are refused
before anything is written, ``MembersService.add_members``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudchat.models import Member, Role
from cloudchat.store import _codec as codec
from cloudchat.store._base import BATCH_MAX, StoreBase
from cloudchat.store._blocks import block_checks
from cloudchat.store._keys import MEMBER_PREFIX, META, conv_pk, member_sk

CHUNK_USERS = (BATCH_MAX - 2) // 2  # a later chunk: actor check + conversation + 2 a user


class MemberPagesStore(StoreBase):
    def members_page(self, conversation_id: str, limit: int, after_user: str | None
                     ) -> tuple[list[Member], bool]:
        """Up to ``limit`` member items by user id after ``after_user``; True if more follow.
        One strongly consistent Query (``limit`` + 1 items, to know whether more follow)."""
        pk = conv_pk(conversation_id)
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "ConsistentRead": True, "Limit": limit + 1,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :m)",
            "ExpressionAttributeValues": self._av({":pk": pk, ":m": MEMBER_PREFIX}),
        }
        if after_user is not None:
            kwargs["ExclusiveStartKey"] = self._key(pk, member_sk(after_user))
        rows = [codec.member(self._py(i)) for i in self._client().query(**kwargs).get("Items", [])]
        return rows[:limit], len(rows) > limit

    def existing_members(self, conversation_id: str, user_ids: Sequence[str]) -> dict[str, Member]:
        """The member items of those of ``user_ids`` who are members (BatchGetItem, one
        request per 100 users)."""
        pk = conv_pk(conversation_id)
        found = self._batch_get([(pk, member_sk(u)) for u in user_ids])
        return {d["userId"]: codec.member(d) for d in found.values()}

    def add_member_chunk(self, conversation_id: str, *, actor: str,
                         actor_roles: Sequence[Role], add: Sequence[Member], digest: str,
                         max_members: int, last: bool) -> str:
        """One later chunk of a large addMembers (see the module docstring). Returns "ok" |
        "denied" (the actor lost the role) | "blocked:<a>:<b>,..." (pairs with a block) |
        "present" (a user is a member already: re-read and retry) | "retry" (a
        concurrent transaction cancelled it: nothing written) | "moved" (the mark is
        gone or another add's, the limit would be passed, or the conversation is gone)."""
        if not 0 < len(add) <= CHUNK_USERS:
            raise ValueError("a chunk adds 1 to 49 users")
        pk = conv_pk(conversation_id)
        ops: dict[str, dict[str, Any]] = {
            "actor": self._member_check(conversation_id, actor, actor_roles),
            "conversation": {"Update": {
                "TableName": self.table_name, "Key": self._key(pk, META),
                "ConditionExpression": "pendingAdd.digest = :d AND memberCount <= :cap",
                "UpdateExpression": "ADD memberCount :n, version :one"
                                    + (" REMOVE pendingAdd" if last else ""),
                "ExpressionAttributeValues": self._av({
                    ":d": digest, ":cap": max_members - len(add), ":n": len(add), ":one": 1}),
            }},
        }
        pairs = [(m.user_id, actor) for m in add]
        for m, check in zip(add, block_checks(self.table_name, pairs), strict=True):
            ops[f"add:{m.user_id}"] = {"Put": {
                "TableName": self.table_name, "Item": self._av(codec.member_item(m)),
                "ConditionExpression": "attribute_not_exists(PK)"}}
            ops[f"block:{m.user_id}"] = check
        failed = self._transact(ops)
        if failed is None:
            return "ok"
        if "actor" in failed:
            return "denied"
        blocked = [f"{u}:{actor}" for u in (m.user_id for m in add) if f"block:{u}" in failed]
        if blocked:
            return "blocked:" + ",".join(blocked)
        if any(name.startswith("add:") for name in failed):
            return "present"
        return "moved" if failed else "retry"
