"""Deleting a conversation: the crypto-shredding transaction, and the purge of what is left.

:meth:`DeletionStore.delete_conversation` is one TransactWriteItems: the conversation item
(which holds every wrapped data key of the conversation: all of it goes) is deleted on the
condition that it is the version the caller read; the caller's member item is deleted on the
condition that the caller is still a member (with the role asked for): the authorization
check is inside the write; every other member item that fits goes too (so every member's
reads fail at once); a DIRECT pair guard is released; and the audit record is put under
``DELETED#<id>``, outside the conversation's partition.

What the transaction cannot hold (members past :data:`TRANSACTION_MAX`: a group of 10,000)
and everything else under ``CONV#<id>`` (messages, send guards, uploads, reactions' audit entries, reports)
is purged by the stream consumer (:mod:`cloudchat.purge`), one bounded step per stream
record of the audit item: :meth:`purge_page` reads a page, :meth:`delete_keys` deletes it
(BatchWriteItem, 25 a request, unprocessed items retried), :meth:`advance_purge` moves the
audit record's step on (conditionally: a repeated record does nothing), and that change's
stream record drives the next step. A member item waiting for the purge grants nothing:
every member check also needs the conversation item (``StoreBase._alive_check`` in writes,
the conversation key in the BatchGetItem of reads).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudchat.dataclass import dataclass
from cloudchat.models import Conversation, ConversationDeletion, Kind, Role
from cloudchat.store._base import BATCH_MAX, StoreBase
from cloudchat.store._keys import DELETION, DIRECT, META, conv_pk, deletion_pk, direct_pk, member_sk

TRANSACTION_MAX = BATCH_MAX  # DynamoDB: at most 100 actions per TransactWriteItems
DELETION_TYPE = "CONVDELETED"


@dataclass(frozen=True)
class DeleteOutcome:
    """What the deletion transaction answered: ``ok`` (done; member items that did not fit
    in it are left to the purge), ``denied`` (the caller is no longer a member, or lost the
    role), or
    ``changed`` (the conversation changed since it was read: read it again)."""

    status: str


@dataclass(frozen=True)
class PurgePage:
    """One page of a deleted conversation's remaining items: their keys, the S3 object keys
    of its uploads, and whether more items follow."""

    keys: list[tuple[str, str]]
    object_keys: list[str]
    more: bool


class DeletionStore(StoreBase):
    def delete_conversation(self, conv: Conversation, deletion: ConversationDeletion,
                            actor_roles: Sequence[Role] = ()) -> DeleteOutcome:
        """The crypto-shredding transaction (see the module docstring)."""
        cid, pk, actor = conv.id, conv_pk(conv.id), deletion.deleted_by
        actor_check: dict[str, Any] = {
            "TableName": self.table_name, "Key": self._key(pk, member_sk(actor)),
            "ConditionExpression": "attribute_exists(PK)",
        }
        if actor_roles:
            names = [f":r{i}" for i in range(len(actor_roles))]
            actor_check["ConditionExpression"] += f" AND #role IN ({', '.join(names)})"
            actor_check["ExpressionAttributeNames"] = {"#role": "role"}
            actor_check["ExpressionAttributeValues"] = self._av(
                dict(zip(names, [r.value for r in actor_roles], strict=True)))
        ops: dict[str, dict[str, Any]] = {
            "conversation": {"Delete": {
                "TableName": self.table_name, "Key": self._key(pk, META),
                "ConditionExpression": "attribute_exists(PK) AND version = :ver",
                "ExpressionAttributeValues": self._av({":ver": conv.version}),
            }},
            "actor": {"Delete": actor_check},
            "audit": {"Put": {
                "TableName": self.table_name,
                "Item": self._av(deletion_item(deletion)),
                "ConditionExpression": "attribute_not_exists(PK)",
            }},
        }
        if conv.kind is Kind.DIRECT and conv.pair is not None:
            ops["pair"] = {"Delete": {
                "TableName": self.table_name, "Key": self._key(direct_pk(*conv.pair), DIRECT),
                "ConditionExpression": "attribute_not_exists(PK) OR conversationId = :cid",
                "ExpressionAttributeValues": self._av({":cid": cid}),
            }}
        # Member items (members live only there): as many as fit go in this transaction,
        # the rest with the background purge; until then they grant nothing, every member
        # check also needing the conversation item (StoreBase._alive_check).
        room = TRANSACTION_MAX - len(ops)
        if conv.pair is not None:  # a DIRECT conversation: its two members are known
            others = [u for u in conv.pair if u != actor]
        else:  # a GROUP: one Query page of member ids
            page, _ = self.members_page(cid, room + 1, None)  # type: ignore[attr-defined]
            others = [m.user_id for m in page if m.user_id != actor]
        for uid in others[:room]:
            ops[f"member:{uid}"] = {"Delete": {
                "TableName": self.table_name, "Key": self._key(pk, member_sk(uid))}}
        failed = self._transact(ops)
        if failed is None:
            return DeleteOutcome("ok")  # (members past ``room``: left to the purge)
        if "actor" in failed:
            return DeleteOutcome("denied")
        return DeleteOutcome("changed")

    def deletion(self, conversation_id: str) -> ConversationDeletion | None:
        """The audit record of a deleted conversation (strongly consistent), if any."""
        resp = self._client().get_item(TableName=self.table_name, ConsistentRead=True,
                                       Key=self._key(deletion_pk(conversation_id), DELETION))
        item = resp.get("Item")
        return deletion_record(self._py(item)) if item else None

    def purge_page(self, conversation_id: str, limit: int) -> PurgePage:
        """Up to ``limit`` of the items left under ``CONV#<id>`` (keys only, and the object
        key of each upload): one strongly consistent Query."""
        resp = self._client().query(
            TableName=self.table_name, ConsistentRead=True, Limit=limit,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": conv_pk(conversation_id)}},
            ProjectionExpression="PK, SK, #t, #k",
            ExpressionAttributeNames={"#t": "type", "#k": "key"})
        rows = [self._py(i) for i in resp.get("Items", [])]
        return PurgePage(keys=[(r["PK"], r["SK"]) for r in rows],
                         object_keys=[r["key"] for r in rows
                                      if r.get("type") == "UPLOAD" and r.get("key")],
                         more="LastEvaluatedKey" in resp)

    def delete_keys(self, keys: Sequence[tuple[str, str]]) -> int:
        """Deletes the items (BatchWriteItem, 25 a request; unprocessed items are sent again
        with backoff). Deleting an absent item is a no-op, so repeating it is harmless.
        Returns the number of requests made."""
        return self._batch_write([{"DeleteRequest": {"Key": self._key(pk, sk)}}
                                  for pk, sk in keys])

    def advance_purge(self, conversation_id: str, step: int, deleted: int, done_at: str | None
                      ) -> bool:
        """Moves the purge from ``step`` to the next one (and records it finished at
        ``done_at``). False if it already moved on (a repeated stream record)."""
        from botocore.exceptions import ClientError

        update = "SET purgeStep = :next ADD purgedItems :n"
        values: dict[str, Any] = {":step": step, ":next": step + 1, ":n": deleted}
        if done_at is not None:
            update = "SET purgeStep = :next, purgedAt = :done ADD purgedItems :n"
            values[":done"] = done_at
        try:
            self._client().update_item(
                TableName=self.table_name, Key=self._key(deletion_pk(conversation_id), DELETION),
                UpdateExpression=update,
                ConditionExpression="purgeStep = :step AND attribute_not_exists(purgedAt)",
                ExpressionAttributeValues=self._av(values))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


def deletion_item(d: ConversationDeletion) -> dict[str, Any]:
    """The audit record: who deleted which conversation when, its kind and member count,
    and the purge's progress. No title, no member list, no message: no content."""
    return {"PK": deletion_pk(d.conversation_id), "SK": DELETION, "type": DELETION_TYPE,
            "conversationId": d.conversation_id, "kind": d.kind.value,
            "deletedBy": d.deleted_by, "deletedAt": d.deleted_at,
            "memberCount": d.member_count, "purgeStep": 0, "purgedItems": 0}


def deletion_record(d: dict[str, Any]) -> ConversationDeletion:
    return ConversationDeletion(
        conversation_id=d["conversationId"], kind=Kind(d["kind"]), deleted_by=d["deletedBy"],
        deleted_at=d["deletedAt"], member_count=int(d["memberCount"]),
        purge_step=int(d.get("purgeStep", 0)), purged_items=int(d.get("purgedItems", 0)),
        purged_at=d.get("purgedAt"))
