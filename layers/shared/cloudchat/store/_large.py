"""Large conversations (over ``LargeGroupThreshold`` members): what lets the stream consumer
do per message only work that does not grow with the number of members.

* the conversation's fan-out state (``CONV#<id>/FANOUT``): ``largeSince`` once every member
  has a large-membership marker (then the consumer stops moving each member's list
  position), and the claim of the conversation's notification sweep (one per window);
* each member's large-membership marker (``USER#<id>/LARGE#<cid>``): the conversation list
  merges these conversations by the conversation's own last activity at read time;
* online members (``CONV#<id>/ONLINE#<userId>``, ``until`` and TTL ``expiresAt``), refreshed
  by the consumer from each member's heartbeats: the only members who get user events of a
  large conversation's messages.

None of these items has a ``type`` the stream mapping lets through (template.yaml's
FilterCriteria), so writing them starts no fan-out of their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from cloudchat.dataclass import dataclass
from cloudchat.models import Member, StoredMessage
from cloudchat.store import _codec as codec
from cloudchat.store._base import StoreBase
from cloudchat.store._keys import (
    FANOUT,
    LARGE_PREFIX,
    MEMBER_PREFIX,
    META,
    ONLINE_PREFIX,
    conv_pk,
    large_sk,
    member_sk,
    msg_sk,
    online_sk,
    user_pk,
)


@dataclass(frozen=True)
class FanoutState:
    """A conversation's fan-out state (absent: a conversation never over the threshold)."""

    large: bool = False
    sweep_at: str | None = None  # when the last notification sweep was claimed
    sweep_seq: int = 0  # the message that claimed it (a redelivery of it may redo the sweep)


class LargeStore(StoreBase):
    def messages_and_state(self, conversation_id: str, seqs: Sequence[int]
                           ) -> tuple[dict[int, StoredMessage], FanoutState]:
        """The messages at ``seqs`` that exist and the conversation's fan-out state, in one
        strongly consistent BatchGetItem (per 100 keys)."""
        pk = conv_pk(conversation_id)
        found = self._batch_get([(pk, FANOUT), *((pk, msg_sk(s)) for s in seqs if s >= 1)])
        state = found.pop((pk, FANOUT), None)
        messages = {int(d["seq"]): self._seen(d) for d in found.values()}
        if state is None:
            return messages, FanoutState()
        return messages, FanoutState(large="largeSince" in state, sweep_at=state.get("sweepAt"),
                                     sweep_seq=int(state.get("sweepSeq", 0)))

    def members_upto(self, conversation_id: str, limit: int) -> tuple[list[Member], bool]:
        """Up to ``limit`` member items (one strongly consistent Query); True if more exist."""
        resp = self._client().query(
            TableName=self.table_name, ConsistentRead=True, Limit=limit + 1,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :m)",
            ExpressionAttributeValues=self._av({":pk": conv_pk(conversation_id),
                                                ":m": MEMBER_PREFIX}))
        rows = [codec.member(self._py(i)) for i in resp.get("Items", [])]
        return rows[:limit], len(rows) > limit

    def member_pages(self, conversation_id: str, page: int = 500) -> Iterator[list[Member]]:
        """Every member item, a page (one Query) at a time: the notification sweep's walk."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "ConsistentRead": True, "Limit": page,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :m)",
            "ExpressionAttributeValues": self._av({":pk": conv_pk(conversation_id),
                                                   ":m": MEMBER_PREFIX}),
        }
        while True:
            resp = self._client().query(**kwargs)
            yield [codec.member(self._py(i)) for i in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def members_named(self, conversation_id: str, user_ids: Sequence[str]) -> dict[str, Member]:
        """The member items of ``user_ids`` that exist (BatchGetItem per 100)."""
        pk = conv_pk(conversation_id)
        found = self._batch_get([(pk, member_sk(u)) for u in user_ids])
        return {d["userId"]: codec.member(d) for d in found.values()}

    # ------------------------------------------------------------- large-membership markers
    def mark_large(self, conversation_id: str, at: str) -> None:
        """Records the conversation as large (``largeSince``, kept once set). Called after
        every member's marker is written, so the list never misses one."""
        self._client().update_item(
            TableName=self.table_name, Key=self._key(conv_pk(conversation_id), FANOUT),
            UpdateExpression="SET largeSince = if_not_exists(largeSince, :at), #t = :t, "
                             "conversationId = :c",
            ExpressionAttributeNames={"#t": "type"},
            ExpressionAttributeValues=self._av({":at": at, ":t": "FANOUT",
                                                ":c": conversation_id}))

    def put_large_markers(self, conversation_id: str, user_ids: Sequence[str], at: str) -> int:
        """Writes each user's marker of the conversation (idempotent); the requests made."""
        return self._batch_write([{"PutRequest": {"Item": self._av({
            "PK": user_pk(u), "SK": large_sk(conversation_id), "type": "LARGE",
            "userId": u, "conversationId": conversation_id, "at": at})}} for u in user_ids])

    def delete_large_marker(self, conversation_id: str, user_id: str) -> None:
        self._client().delete_item(TableName=self.table_name,
                                   Key=self._key(user_pk(user_id), large_sk(conversation_id)))

    def large_conversation_ids(self, user_id: str) -> list[str]:
        """The large conversations the user has a marker of (strongly consistent; a marker
        can outlive its membership for a moment: callers confirm against the member item)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "ConsistentRead": True,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :l)",
            "ExpressionAttributeValues": self._av({":pk": user_pk(user_id), ":l": LARGE_PREFIX}),
            "ProjectionExpression": "conversationId",
        }
        out: list[str] = []
        while True:
            resp = self._client().query(**kwargs)
            out += [i["conversationId"]["S"] for i in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def shares_large(self, user_id: str, others: Sequence[str]) -> set[str]:
        """Which of ``others`` share a large conversation with the user, read on the table:
        the user's markers, then (one BatchGetItem per 100 keys) each such conversation's
        item and the member items of the user and of ``others`` (a marker or a member item
        waiting for a purge grants nothing). For presence: the co-members of a large
        conversation are never enumerated."""
        cids = self.large_conversation_ids(user_id)
        if not cids or not others:
            return set()
        keys = [(conv_pk(c), sk) for c in cids
                for sk in (META, member_sk(user_id), *(member_sk(u) for u in others))]
        found = self._batch_get(keys)
        out: set[str] = set()
        for c in cids:
            pk = conv_pk(c)
            if (pk, META) in found and (pk, member_sk(user_id)) in found:
                out |= {u for u in others if (pk, member_sk(u)) in found}
        return out

    # ------------------------------------------------------------------ online members
    def put_online(self, user_id: str, conversation_ids: Sequence[str], until: str,
                   expires_epoch: int) -> int:
        """The user is online in each conversation until ``until``; the requests made."""
        return self._batch_write([{"PutRequest": {"Item": self._av({
            "PK": conv_pk(c), "SK": online_sk(user_id), "type": "ONLINE", "userId": user_id,
            "until": until, "expiresAt": expires_epoch})}} for c in conversation_ids])

    def online_members(self, conversation_id: str, now: str) -> list[str]:
        """Members online in the conversation at ``now`` (one Query per 1 MB; TTL deletes
        expired records within days, so ``until`` decides, not their presence)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "ConsistentRead": True,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :o)",
            "FilterExpression": "#u > :now", "ExpressionAttributeNames": {"#u": "until"},
            "ExpressionAttributeValues": self._av({":pk": conv_pk(conversation_id),
                                                   ":o": ONLINE_PREFIX, ":now": now}),
            "ProjectionExpression": "userId",
        }
        out: list[str] = []
        while True:
            resp = self._client().query(**kwargs)
            out += [i["userId"]["S"] for i in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    # ------------------------------------------------------------- notification sweep
    def claim_sweep(self, conversation_id: str, seq: int, now: str, not_before: str) -> bool:
        """At most one notification sweep of a large conversation per window: True if the
        message at ``seq`` may run it (the claim is a conditional write; a redelivery of
        the same message may run it again, its members' own claims keep it to one each)."""
        return self._update_if(
            TableName=self.table_name, Key=self._key(conv_pk(conversation_id), FANOUT),
            ConditionExpression="attribute_not_exists(sweepAt) OR sweepAt < :nb "
                                "OR sweepSeq = :seq",
            UpdateExpression="SET sweepAt = :now, sweepSeq = :seq, #t = :t, conversationId = :c",
            ExpressionAttributeNames={"#t": "type"},
            ExpressionAttributeValues=self._av({":now": now, ":nb": not_before, ":seq": seq,
                                                ":t": "FANOUT", ":c": conversation_id}))
