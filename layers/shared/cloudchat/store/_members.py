"""Members: membership changes (with their SYSTEM message), read/delivered markers, typing,
the member list, list positions (GSI1) and the thread index (GSI3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudchat.errors import BlockedPairs, RateExceeded
from cloudchat.models import Conversation, Member, Role, StoredMessage
from cloudchat.store import _codec as codec
from cloudchat.store._base import BATCH_MAX
from cloudchat.store._blocks import block_checks
from cloudchat.store._keys import (
    GSI3,
    MEMBER_PREFIX,
    META,
    activity_key,
    conv_pk,
    left_sk,
    member_sk,
    msg_sk,
    seq_of_msg_sk,
    thread_pk,
    user_pk,
)
from cloudchat.store._rates import Rate, RatesStore


def counts_after(conv: Conversation, add: Sequence[Member],
                 remove: Sequence[tuple[str, Role]],
                 set_roles: Sequence[tuple[str, Role, Role]]) -> tuple[int, int]:
    """The conversation's (memberCount, ownerCount) once the change is applied."""
    owners = conv.owner_count + sum(m.role is Role.OWNER for m in add)
    owners -= sum(r is Role.OWNER for _, r in remove)
    owners += sum((new is Role.OWNER) - (old is Role.OWNER) for _, old, new in set_roles)
    return conv.member_count + len(add) - len(remove), owners


class MembersStore(RatesStore):
    def advance_marker(self, conversation_id: str, user_id: str, marker: str, seq: int,
                       at: str) -> tuple[str, int]:
        """Moves the member's ``readSeq``/``deliveredSeq`` forward to ``seq`` (never back),
        bounded by the conversation's last seq, in one transaction. Returns (outcome, seq):
        ("advanced", seq) | ("stale", current) | ("beyond", lastSeq) | ("not_member", 0)
        | ("conflict", 0) (a TransactionConflict: try again)."""

        assert marker in ("readSeq", "deliveredSeq")
        pk = conv_pk(conversation_id)
        ops = {
            "conversation": {"ConditionCheck": {
                "TableName": self.table_name, "Key": self._key(pk, META),
                "ConditionExpression": "lastSeq >= :seq",
                "ExpressionAttributeValues": self._av({":seq": seq}),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            "member": {"Update": {
                "TableName": self.table_name, "Key": self._key(pk, member_sk(user_id)),
                "ConditionExpression": f"attribute_exists(PK) AND (attribute_not_exists({marker}) "
                                       f"OR {marker} < :seq)",
                "UpdateExpression": f"SET {marker} = :seq, receiptAt = :at",
                "ExpressionAttributeValues": self._av({":seq": seq, ":at": at}),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        }
        failed = self._transact(ops)
        if failed is not None:
            if "member" in failed and not failed["member"]:
                return "not_member", 0
            if "conversation" in failed:
                old = failed["conversation"]
                return ("beyond", int(old.get("lastSeq", 0))) if old else ("not_member", 0)
            if "member" in failed:
                return "stale", int(failed["member"].get(marker, 0))
            return "conflict", 0  # cancelled for a concurrent transaction: nothing written
        return "advanced", seq

    def members(self, conversation_id: str) -> list[Member]:
        """Every member item of a conversation: one Query per page (DynamoDB's 1 MB; a group
        of 10,000 is a few pages). For the consumer and background jobs; requests page
        (:meth:`members_page`)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "ConsistentRead": True,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :m)",
            "ExpressionAttributeValues": self._av({":pk": conv_pk(conversation_id),
                                                   ":m": MEMBER_PREFIX}),
        }
        out: list[Member] = []
        while True:
            resp = self._client().query(**kwargs)
            out += [codec.member(self._py(i)) for i in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def touch_typing(self, conversation_id: str, user_id: str, now_ms: int,
                     min_interval_ms: int, typing: bool = True) -> tuple[str, int]:
        """Member check and typing rate limit in one conditional write of the member item.
        A start is accepted once per ``min_interval_ms``; a stop right after a start (the
        member is typing), else once per ``min_interval_ms`` too. Returns ("ok", 0) |
        ("too_fast", ms until it would be accepted) | ("not_member", 0)."""
        from botocore.exceptions import ClientError

        at = "typingAt" if typing else "typingOffAt"
        condition = f"attribute_exists(PK) AND (attribute_not_exists({at}) OR {at} <= :cutoff"
        condition += ")" if typing else " OR typingOn = :on)"
        try:
            self._client().update_item(
                TableName=self.table_name,
                Key=self._key(conv_pk(conversation_id), member_sk(user_id)),
                ConditionExpression=condition,
                UpdateExpression=f"SET {at} = :now, typingOn = :state",
                ExpressionAttributeValues=self._av({
                    ":now": now_ms, ":cutoff": now_ms - min_interval_ms, ":state": typing,
                    **({} if typing else {":on": True})}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            old = codec.error_response(exc).get("Item")
            if not old:
                return "not_member", 0
            last = int(self._py(old).get(at, now_ms))
            return "too_fast", max(0, last + min_interval_ms - now_ms)
        return "ok", 0

    def thread_reply_seqs(self, conversation_id: str, root_id: str, limit: int,
                          after_seq: int) -> tuple[list[int], bool]:
        """The seqs of a root's replies, ascending, after ``after_seq``; ``True`` if more
        follow. Keys only: GSI3 is eventually consistent (a reply's index image can still
        hold a body since edited or deleted), so the replies themselves are read from the
        table (:meth:`read_messages`)."""
        resp = self._client().query(
            TableName=self.table_name, IndexName=GSI3,
            KeyConditionExpression="GSI3PK = :t AND GSI3SK > :after",
            ExpressionAttributeValues=self._av({":t": thread_pk(conversation_id, root_id),
                                                ":after": msg_sk(after_seq)}),
            ProjectionExpression="GSI3SK", ScanIndexForward=True, Limit=limit + 1)
        seqs = [seq_of_msg_sk(i["GSI3SK"]["S"]) for i in resp.get("Items", [])]
        return seqs[:limit], len(seqs) > limit
    def change_members(self, conv: Conversation, *, actor: str, actor_roles: Sequence[Role],
                       system: StoredMessage, now: str, add: Sequence[Member] = (),
                       remove: Sequence[tuple[str, Role]] = (),
                       set_roles: Sequence[tuple[str, Role, Role]] = (),
                       title: str | None = None, rate: Rate | None = None,
                       blocks: Sequence[tuple[str, str]] = (),
                       pending: str | None = None) -> str:
        """Adds, removes or re-roles members in one transaction with a SYSTEM message that
        says so (it takes the next seq). Conditions: the actor still holds one of
        ``actor_roles`` (skipped when empty: leaving needs none), the conversation is still
        at ``conv.last_seq`` with the same members, every touched member is as read.
        The actor has read the SYSTEM message (their readSeq moves to it, as a sender's
        does), and ``rate`` meters the actor's writes in the same transaction.
        ``blocks``: (blocker, blocked) pairs that must have no block, checked in the same
        transaction (a user added must not have blocked the actor).
        Returns "ok" | "seq" (moved on: re-read and retry) | "denied" | "changed";
        raises :class:`RateExceeded` when the actor's rate log refuses it,
        :class:`BlockedPairs` when a block does. ``pending``: the digest of a large
        addMembers whose first chunk this is (``pendingAdd``, see :mod:`._member_pages`)."""

        pk = conv_pk(conv.id)
        count, owners = counts_after(conv, add, remove, set_roles)
        attrs = codec.message_attrs(system)
        ops: dict[str, dict[str, Any]] = {}
        # One operation per item: when the actor's own member item is removed or re-roled,
        # that operation's role condition is the actor check.
        if actor not in {u for u, _ in remove} | {u for u, _, _ in set_roles}:
            check = self._member_check(conv.id, actor, actor_roles)["ConditionCheck"]
            ops["actor"] = {"Update": {
                **check, "UpdateExpression": "SET readSeq = :sys, deliveredSeq = :sys",
                "ExpressionAttributeValues": {**check.get("ExpressionAttributeValues", {}),
                                              ":sys": {"N": str(system.seq)}}}}
        ops["conversation"] = {"Update": {
            "TableName": self.table_name, "Key": self._key(pk, META),
            "ConditionExpression": "lastSeq = :prev AND version = :ver",
            # (REMOVE members: an item from before members left it loses its member map)
            "UpdateExpression": "SET lastSeq = :seq, updatedAt = :now, lastMessage = :lm, "
                                "memberCount = :count, ownerCount = :owners, version = :next"
                                + (", title = :title" if title is not None else "")
                                + (", pendingAdd = :pending" if pending is not None else "")
                                + " REMOVE members",
            "ExpressionAttributeValues": self._av({
                ":prev": conv.last_seq, ":seq": system.seq, ":now": now,
                ":lm": {k: v for k, v in attrs.items() if v is not None},
                ":count": count, ":owners": owners,
                ":ver": conv.version, ":next": conv.version + 1,
                **({":title": title} if title is not None else {}),
                **({":pending": {"digest": pending, "seq": system.seq}}
                   if pending is not None else {})}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}
        ops["message"] = {"Put": {
            "TableName": self.table_name,
            "Item": self._av({"PK": pk, "SK": msg_sk(system.seq), "type": "MSG", **attrs}),
            "ConditionExpression": "attribute_not_exists(PK)"}}
        for m in add:
            ops[f"add:{m.user_id}"] = {"Put": {
                "TableName": self.table_name, "Item": self._av(codec.member_item(m)),
                "ConditionExpression": "attribute_not_exists(PK)"}}
        for uid, role in remove:
            ops[f"remove:{uid}"] = {"Delete": {
                "TableName": self.table_name, "Key": self._key(pk, member_sk(uid)),
                "ConditionExpression": "#role = :r",
                "ExpressionAttributeNames": {"#role": "role"},
                "ExpressionAttributeValues": self._av({":r": role.value})}}
            # where their messages stay: what account erasure goes through (store._accounts)
            ops[f"left:{uid}"] = {"Put": {"TableName": self.table_name, "Item": self._av({
                "PK": user_pk(uid), "SK": left_sk(conv.id), "type": "LEFT",
                "conversationId": conv.id, "at": now})}}
        for uid, old, new in set_roles:
            mine = uid == actor  # the actor re-roles themselves: they read the SYSTEM message
            ops[f"role:{uid}"] = {"Update": {
                "TableName": self.table_name, "Key": self._key(pk, member_sk(uid)),
                "ConditionExpression": "#role = :old",
                "UpdateExpression": "SET #role = :new"
                                    + (", readSeq = :sys, deliveredSeq = :sys" if mine else ""),
                "ExpressionAttributeNames": {"#role": "role"},
                "ExpressionAttributeValues": self._av({
                    ":old": old.value, ":new": new.value,
                    **({":sys": system.seq} if mine else {})})}}
        if rate is not None:
            ops["rate"] = self._rate_op(actor, rate)
        for (a, b), check in zip(blocks, block_checks(self.table_name, blocks), strict=True):
            ops[f"block:{a}:{b}"] = check
        if len(ops) > BATCH_MAX:
            raise ValueError("too many membership changes for one transaction")
        failed = self._transact(ops)
        if failed is not None:
            if "actor" in failed:
                return "denied"
            if "rate" in failed and rate is not None:
                raise RateExceeded(self._rate_refusal(rate, failed["rate"]))
            refused = [(a, b) for a, b in blocks if f"block:{a}:{b}" in failed]
            if refused:
                raise BlockedPairs(refused)
            if "conversation" in failed:
                return "seq"
            return "changed" if failed else "seq"
        return "ok"
    def bump_activity(self, conversation_id: str, user_id: str, at: str) -> bool:
        """Moves a member's conversation-list position to ``at`` unless it is already there
        or later (idempotent, order-safe). False if nothing changed."""
        from botocore.exceptions import ClientError

        try:
            self._client().update_item(
                TableName=self.table_name,
                Key=self._key(conv_pk(conversation_id), member_sk(user_id)),
                ConditionExpression="attribute_exists(PK) AND lastActivity < :at",
                UpdateExpression="SET lastActivity = :at, GSI1SK = :k",
                ExpressionAttributeValues=self._av({
                    ":at": at, ":k": activity_key(at, conversation_id)}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
