"""Messages: the conditional append (one transaction), the send guard, and reads by seq."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from cloudchat.models import Conversation, Member, StoredMessage, UploadStatus
from cloudchat.store import _codec as codec
from cloudchat.store._base import BATCH_MAX
from cloudchat.store._keys import (
    META,
    activity_key,
    conv_pk,
    guard_sk,
    member_sk,
    msg_sk,
    thread_pk,
    upload_sk,
)
from cloudchat.store._mentions import mention_checks, outsiders
from cloudchat.store._rates import Rate, RatesStore
from cloudchat.store._records import AppendOutcome, SendGuard
from cloudchat.store._search import SearchStore

SEND_GUARD_TTL_SECONDS = 7 * 24 * 3600


class MessagesStore(RatesStore, SearchStore):
    def append_message(self, msg: StoredMessage, *, prev_seq: int, now: str, now_epoch: int,
                       rate: Rate | None = None,
                       digest: tuple[bytes, int] | None = None,
                       index: Sequence[bytes] = ()) -> AppendOutcome:
        """One TransactWriteItems: the sender is a member (and reads up to the new seq), the
        conversation moves from ``prev_seq`` to ``msg.seq``, the message is put, the sender's
        clientMessageId is claimed (with ``digest``, the payload's digest and the key version
        it was made with, so a reuse of the id with another payload can be told from a
        retry), the sender's send-rate log counts it, and for a thread reply the root's
        reply summary is updated. Never retries by itself. ``index``: the body's blind
        search tokens (:mod:`cloudchat.store._search`; at most 40 postings in this
        transaction, fewer when its other actions leave less room under DynamoDB's 100, the
        rest queued for the stream consumer). Keep the postings the last actions added."""

        cid, pk = msg.conversation_id, conv_pk(msg.conversation_id)
        attrs = codec.message_attrs(msg)
        item = {"PK": pk, "SK": msg_sk(msg.seq), "type": "MSG", **attrs}
        if msg.parent_id:
            item["GSI3PK"] = thread_pk(cid, msg.parent_id)
            item["GSI3SK"] = msg_sk(msg.seq)
        member: dict[str, Any] = {
            "TableName": self.table_name, "Key": self._key(pk, member_sk(msg.sender_id)),
            "ConditionExpression": "attribute_exists(PK)",
            "UpdateExpression": "SET readSeq = :seq, deliveredSeq = :seq, "
                                "lastActivity = :now, GSI1SK = :act",
            "ExpressionAttributeValues": self._av({
                ":seq": msg.seq, ":now": now, ":act": activity_key(now, cid)}),
        }
        if msg.parent_id:
            # A reply acts on its root: only a root the sender can see (after joining).
            from cloudchat.ids import seq_of_message_id

            member["ConditionExpression"] += (" AND (attribute_not_exists(joinedSeq) "
                                              "OR joinedSeq < :root_seq)")
            member["ExpressionAttributeValues"][":root_seq"] = {
                "N": str(seq_of_message_id(msg.parent_id))}
            member["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        conversation: dict[str, Any] = {
            "TableName": self.table_name, "Key": self._key(pk, META),
            "ConditionExpression": "attribute_exists(PK) AND lastSeq = :prev",
            "UpdateExpression": "SET lastSeq = :seq, updatedAt = :now, lastMessage = :lm",
            "ExpressionAttributeValues": self._av({
                ":prev": prev_seq, ":seq": msg.seq, ":now": now,
                ":lm": {k: v for k, v in attrs.items() if v is not None}}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        ops: dict[str, dict[str, Any]] = {
            "member": {"Update": member},
            "conversation": {"Update": conversation},
            "message": {"Put": {"TableName": self.table_name, "Item": self._av(item),
                                "ConditionExpression": "attribute_not_exists(PK)"}},
        }
        if msg.client_message_id:
            ops["guard"] = {"Put": {
                "TableName": self.table_name,
                "Item": self._av({
                    "PK": pk, "SK": guard_sk(msg.sender_id, msg.client_message_id),
                    "type": "SENDGUARD", "messageId": msg.id, "seq": msg.seq,
                    "expiresAt": now_epoch + SEND_GUARD_TTL_SECONDS,
                    **({"digest": digest[0], "digestKv": digest[1]} if digest else {}),
                }),
                "ConditionExpression": "attribute_not_exists(PK)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }}
        if rate is not None:
            ops["rate"] = self._rate_op(msg.sender_id, rate)
        if msg.parent_id:
            from cloudchat.ids import seq_of_message_id

            ops["root"] = {"Update": {
                "TableName": self.table_name,
                "Key": self._key(pk, msg_sk(seq_of_message_id(msg.parent_id))),
                "ConditionExpression": "id = :root AND attribute_not_exists(parentId)",
                "UpdateExpression": "SET replyCount = if_not_exists(replyCount, :zero) + :one, "
                                    "lastReplyAt = :now ADD replyUsers :me, rev :one",
                "ExpressionAttributeValues": self._av({
                    ":root": msg.parent_id, ":zero": 0, ":one": 1, ":now": now,
                    ":me": {msg.sender_id}}),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }}
        # every mentioned user is a member: a ConditionCheck of each member item (_mentions)
        ops.update(mention_checks(self.table_name, cid, msg.sender_id, msg.mentions))
        for a in msg.attachments:
            ops[f"upload:{a.id}"] = {"Update": {
                "TableName": self.table_name, "Key": self._key(pk, upload_sk(a.id)),
                "ConditionExpression": "uploaderId = :me AND #s = :pending",
                "UpdateExpression": "SET #s = :attached, messageId = :mid REMOVE expiresAt",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": self._av({
                    ":me": msg.sender_id, ":pending": UploadStatus.PENDING.value,
                    ":attached": UploadStatus.ATTACHED.value,
                    ":mid": msg.id}),
            }}
        # Search postings last, in the room the other actions leave (DynamoDB: 100 a
        # transaction; at most 40), the rest queued on the message for the stream consumer.
        indexed = self.index_update(cid, msg.seq, msg.created_at, None, index,
                                    most=BATCH_MAX - len(ops))
        item.update(indexed.set_attrs)
        ops["message"]["Put"]["Item"] = self._av(item)
        ops.update(indexed.ops)
        failed = self._transact(ops)
        if failed is not None:
            if "member" in failed:
                # a member item came back: a member, but the root predates their joining
                return (AppendOutcome(parent_missing=True) if failed["member"]
                        else AppendOutcome(not_member=True))
            if "guard" in failed:
                old = failed["guard"]
                dup = SendGuard.of(old) if "seq" in old else self.guard(
                    cid, msg.sender_id, msg.client_message_id or "")
                if dup is not None:
                    return AppendOutcome(duplicate_seq=dup.seq, duplicate_guard=dup)
            if "root" in failed:
                old = failed["root"]
                if old.get("id") == msg.parent_id and old.get("parentId"):
                    return AppendOutcome(parent_root=str(old["parentId"]))
                return AppendOutcome(parent_missing=True)
            if strangers := outsiders(failed):
                return AppendOutcome(mention_outsiders=strangers)
            if "conversation" in failed:
                old = failed["conversation"]
                if not old:
                    return AppendOutcome(not_member=True)
                return AppendOutcome(current_seq=int(old.get("lastSeq", 0)))
            if "rate" in failed and rate is not None:
                if "deletedAt" in failed["rate"]:
                    return AppendOutcome(account_deleted=True)
                return AppendOutcome(rate_limited=True, retry_after=rate.retry_after(failed["rate"]))
            if any(n.startswith("upload:") for n in failed):
                return AppendOutcome(upload_taken=True)
            return AppendOutcome(retry=True)
        self.images.put({k: v for k, v in item.items() if v is not None})
        if msg.parent_id:
            from cloudchat.ids import seq_of_message_id

            self.images.drop(cid, seq_of_message_id(msg.parent_id))  # its reply summary moved on
        return AppendOutcome(stored=True)
    def guard(self, conversation_id: str, sender_id: str, cmid: str) -> SendGuard | None:
        """A sender's claim on a clientMessageId, if it was stored (one GetItem)."""
        resp = self._client().get_item(
            TableName=self.table_name, ConsistentRead=True,
            Key=self._key(conv_pk(conversation_id), guard_sk(sender_id, cmid)))
        item = resp.get("Item")
        return SendGuard.of(self._py(item)) if item else None

    def get_message(self, conversation_id: str, seq: int) -> StoredMessage | None:
        resp = self._client().get_item(TableName=self.table_name, ConsistentRead=True,
                                       Key=self._key(conv_pk(conversation_id), msg_sk(seq)))
        item = resp.get("Item")
        return self._seen(self._py(item)) if item else None

    def read_messages(
        self, conversation_id: str, user_id: str, seqs: Iterable[int], *, with_conversation: bool
    ) -> tuple[Member | None, Conversation | None, dict[int, StoredMessage]]:
        """The caller's member item, optionally the conversation, and the messages at
        ``seqs`` that exist, in one strongly consistent BatchGetItem (per 100 keys)."""
        pk = conv_pk(conversation_id)
        keys = [(pk, member_sk(user_id))]
        keys.append((pk, META))  # always: a member item without it grants nothing
        keys += [(pk, msg_sk(s)) for s in seqs if s >= 1]
        found = self._batch_get(keys)
        mem = found.pop((pk, member_sk(user_id)), None)
        meta = found.pop((pk, META), None)
        if meta is None:
            mem = None  # left behind by deleteConversation until the purge: not a member
        messages = {int(d["seq"]): self._seen(d) for d in found.values()}
        return (codec.member(mem) if mem else None,
                codec.conversation(meta) if meta and with_conversation else None, messages)

    def message_and_member(self, conversation_id: str, seq: int, user_id: str
                           ) -> tuple[StoredMessage | None, Member | None]:
        """A message and the caller's member item, in one BatchGetItem."""
        _member, _conv, found = self.read_messages(conversation_id, user_id, [seq],
                                                   with_conversation=False)
        return found.get(seq), _member
