"""Mentions: the membership check of a send's mentions, and each member's unread mentions.

**At send.** A message's ``mentions`` must all be members. Members live only in their own
items, so the send transaction carries one ConditionCheck per mentioned member item
(:func:`mention_checks`, ``attribute_exists``; the sender's own item is already in the
transaction, conditioned the same way, and one item takes one action). The check is inside
the send's own write (no check-then-act window) and sendMessage stays one TransactWriteItems
whatever the number of mentions: at most 50, so with the send's other actions (at most 15)
the transaction stays under DynamoDB's 100; the search postings that share it take what
room is left. A ConditionCheck writes nothing (it consumes read capacity only). A refused
send names the non-members among its mentions by the checks that failed.

**Unread mentions.** A member item's ``mentionSeqs`` (a number set) holds the seqs of the
messages that mention the member, added by the stream consumer with ``ADD`` (a set: a
repeated stream record adds nothing) under the condition that the member has not read
that far and the seq is not in the set yet, so the write that succeeds is the first one:
it also claims the mention's notification. ``unreadMentionCount`` is the number of seqs
in the set above the member's read marker (and ``joinedSeq``), computed when the member
item is read: markRead only moves the marker, and the count follows exactly. Seqs at or
below the marker are deleted from the set once there are ``TRIM_AT`` of them (a ``DELETE``
of exactly those elements, safe with concurrent adds of others: a seq below the marker is
never added again); the set keeps at most ``MENTION_CAP`` unread seqs (the count stops
there; clients show "999+").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cloudchat.store import _codec as codec
from cloudchat.store._base import StoreBase
from cloudchat.store._keys import conv_pk, member_sk

TRIM_AT = 16  # read seqs left in a member's mentionSeqs before they are deleted
MENTION_CAP = 1000  # unread mentions a member item counts


def mention_checks(table_name: str, conversation_id: str, sender_id: str,
                   mentions: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The send transaction's ConditionChecks that every mentioned user (but the sender,
    whose member item the send updates on the same condition) is a member, by name
    ``mention:<userId>``."""
    pk = conv_pk(conversation_id)
    return {f"mention:{uid}": {"ConditionCheck": {
        "TableName": table_name, "Key": codec.key(pk, member_sk(uid)),
        "ConditionExpression": "attribute_exists(PK)"}}
        for uid in dict.fromkeys(mentions) if uid != sender_id}


def outsiders(failed: Mapping[str, Any]) -> tuple[str, ...]:
    """The mentioned users whose member check failed in a refused send."""
    return tuple(n.removeprefix("mention:") for n in failed if n.startswith("mention:"))


class MentionsStore(StoreBase):
    def note_mention(self, conversation_id: str, user_id: str, seq: int,
                     known: frozenset[int], read_floor: int) -> bool:
        """Counts message ``seq`` as an unread mention of the member. True only for the
        write that added it (not read yet, not counted before): the caller notifies then.
        ``known`` and ``read_floor`` are the member's set and read marker as last read,
        used to trim read seqs and to respect the cap. One UpdateItem (+1 when trimming)."""
        from botocore.exceptions import ClientError

        key = self._key(conv_pk(conversation_id), member_sk(user_id))
        stale = {s for s in known if s <= read_floor}
        try:
            if len(stale) >= TRIM_AT:
                self._client().update_item(
                    TableName=self.table_name, Key=key,
                    ConditionExpression="attribute_exists(PK)",
                    UpdateExpression="DELETE mentionSeqs :old",
                    ExpressionAttributeValues=self._av({":old": stale}))
            if len(known) - len(stale) >= MENTION_CAP:
                return False
            self._client().update_item(
                TableName=self.table_name, Key=key,
                ConditionExpression="attribute_exists(PK) "
                                    "AND (attribute_not_exists(readSeq) OR readSeq < :n) "
                                    "AND (attribute_not_exists(joinedSeq) OR joinedSeq < :n) "
                                    "AND NOT contains(mentionSeqs, :n)",
                UpdateExpression="ADD mentionSeqs :s",
                ExpressionAttributeValues=self._av({":n": seq, ":s": {seq}}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False  # counted before, read already, or no longer a member
            raise
        return True
