"""Mentions: the membership check of a send's mentions, and each member's unread mentions.

**At send.** A message's ``mentions`` must all be members. The conversation item keeps the
member map (``members``, written in the same transaction as every member item, see
``_members.change_members``), and the send transaction already updates that item
conditioned on ``lastSeq``: :func:`members_condition` adds ``attribute_exists(members.#m)``
for each mentioned user to that condition. So the check is inside the send's own write (no
check-then-act window), costs no transaction action and no write unit, and sendMessage stays
one TransactWriteItems of the same items whatever the number of mentions (at most 50: 100
functions and ANDs, well under DynamoDB's 300 operators and 4 KB per expression). A refused
send's old conversation image (ReturnValuesOnConditionCheckFailure) tells a non-member
mention (:func:`outsiders`) from a seq race.

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

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cloudchat.store._base import StoreBase
from cloudchat.store._keys import conv_pk, member_sk

TRIM_AT = 16  # read seqs left in a member's mentionSeqs before they are deleted
MENTION_CAP = 1000  # unread mentions a member item counts


def members_condition(mentions: Sequence[str]) -> tuple[str, dict[str, str]]:
    """The clause (to AND to the conversation update's condition) that every mentioned
    user is a member, and its ExpressionAttributeNames (user ids are not safe as names)."""
    names = {f"#mn{i}": uid for i, uid in enumerate(mentions)}
    clause = "".join(f" AND attribute_exists(members.{n})" for n in names)
    return clause, names


def outsiders(conversation: Mapping[str, Any], mentions: Iterable[str]) -> tuple[str, ...]:
    """The mentioned users who are not members, per a conversation item's image."""
    members = conversation.get("members") or {}
    return tuple(u for u in mentions if u not in members)


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
