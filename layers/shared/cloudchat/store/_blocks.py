"""Blocks: a user's block of another, as two items written in one transaction.

* the **pair item** ``USER#<blocker>`` / ``BLOCK#<blocked>`` (``blockedAt``): what the writes a
  block forbids test with a ConditionCheck (``attribute_not_exists``) in their own
  transaction (a DIRECT conversation, adding to a group), what the directory and the stream
  consumer look up for a page of users or a conversation's members (one BatchGetItem), and
  what ``blockedUsers`` lists (one Query);
* the **block set** ``USER#<user>`` / ``BLOCKS`` (``blocked``, a string set of at most
  ``MAX_BLOCKS`` ids, under 4 KB for Cognito subs): read in the same BatchGetItem as a message
  page, so flagging blocked senders for the caller costs no request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from cloudchat.models import Conversation, Member, StoredMessage
from cloudchat.store import _codec as codec
from cloudchat.store._base import StoreBase
from cloudchat.store._keys import (
    BLOCK_PREFIX,
    BLOCKS,
    META,
    PROFILE,
    block_sk,
    conv_pk,
    member_sk,
    msg_sk,
    user_pk,
)

MAX_BLOCKS = 100  # blocks per user: the block set stays one 4 KB read unit


def block_checks(table_name: str, pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """One ConditionCheck per (blocker, blocked) pair: no such block. For the writes a block
    forbids, in their own transaction (so a block and the write never both win)."""
    return [{"ConditionCheck": {
        "TableName": table_name, "Key": codec.key(user_pk(a), block_sk(b)),
        "ConditionExpression": "attribute_not_exists(PK)"}} for a, b in pairs]


class BlocksStore(StoreBase):
    def block(self, blocker: str, blocked: str, at: str) -> tuple[str, str | None]:
        """Blocks ``blocked`` for ``blocker``: the pair item and the block set in one
        transaction. Returns ("blocked", at) | ("already", the first blockedAt) |
        ("full", None) (``MAX_BLOCKS`` reached: nothing written) | ("conflict", None)."""
        ops: dict[str, dict[str, Any]] = {
            "pair": {"Put": {
                "TableName": self.table_name,
                "Item": self._av({"PK": user_pk(blocker), "SK": block_sk(blocked), "type": "BLOCK",
                                  "userId": blocker, "blockedId": blocked, "blockedAt": at}),
                "ConditionExpression": "attribute_not_exists(PK)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            "set": {"Update": {
                "TableName": self.table_name, "Key": self._key(user_pk(blocker), BLOCKS),
                "ConditionExpression": "attribute_not_exists(blocked) OR size(blocked) < :max",
                "UpdateExpression": "SET #t = :type, userId = :me ADD blocked :them",
                "ExpressionAttributeNames": {"#t": "type"},
                "ExpressionAttributeValues": self._av({
                    ":max": MAX_BLOCKS, ":type": "BLOCKS", ":me": blocker, ":them": {blocked}})}},
        }
        failed = self._transact(ops)
        if failed is None:
            return "blocked", at
        if "pair" in failed:
            return "already", str(failed["pair"].get("blockedAt") or at)
        if "set" in failed:
            return "full", None
        return "conflict", None

    def unblock(self, blocker: str, blocked: str) -> str:
        """Removes the block (pair item and set entry) in one transaction. Returns
        "unblocked" | "absent" (there was none: nothing written) | "conflict"."""
        ops: dict[str, dict[str, Any]] = {
            "pair": {"Delete": {
                "TableName": self.table_name, "Key": self._key(user_pk(blocker), block_sk(blocked)),
                "ConditionExpression": "attribute_exists(PK)"}},
            "set": {"Update": {
                "TableName": self.table_name, "Key": self._key(user_pk(blocker), BLOCKS),
                "UpdateExpression": "DELETE blocked :them",
                "ExpressionAttributeValues": self._av({":them": {blocked}})}},
        }
        failed = self._transact(ops)
        if failed is None:
            return "unblocked"
        return "absent" if "pair" in failed else "conflict"

    def blocks_of(self, blocker: str) -> list[tuple[str, str]]:
        """Every block ``blocker`` placed, as (blocked id, blockedAt): one strongly consistent
        Query (at most ``MAX_BLOCKS`` small items, far under a page's 1 MB)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "ConsistentRead": True,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :b)",
            "ExpressionAttributeValues": self._av({":pk": user_pk(blocker), ":b": BLOCK_PREFIX}),
        }
        out: list[tuple[str, str]] = []
        while True:
            resp = self._client().query(**kwargs)
            out += [(d["blockedId"], d["blockedAt"]) for d in map(self._py, resp.get("Items", []))]
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def blockers_of(self, user_ids: Iterable[str], blocked: str) -> set[str]:
        """Which of ``user_ids`` have blocked ``blocked``: their pair items, one strongly
        consistent BatchGetItem per 100 ids."""
        found = self._batch_get([(user_pk(u), block_sk(blocked)) for u in user_ids])
        return {str(d["userId"]) for d in found.values()}

    def blockers_and_deletion(self, user_ids: Iterable[str], caller: str) -> tuple[set[str], bool]:
        """:meth:`blockers_of` ``caller`` among ``user_ids``, and whether the caller's own
        profile is a deleted account's marker: the same BatchGetItem (a directory page)."""
        found = self._batch_get([(user_pk(caller), PROFILE),
                                 *[(user_pk(u), block_sk(caller)) for u in user_ids]])
        mine = found.pop((user_pk(caller), PROFILE), None)
        return ({str(d["userId"]) for d in found.values()},
                bool(mine and mine.get("deletedAt")))

    def messages_in_and_blocks(self, user_id: str, keys: Sequence[tuple[str, int]]
                               ) -> tuple[dict[tuple[str, int], StoredMessage], frozenset[str]]:
        """Messages of several conversations by (conversation, seq), those that exist, and
        the caller's block set: strongly consistent, one BatchGetItem per 100 keys (search
        results across conversations)."""
        found = self._batch_get([(user_pk(user_id), BLOCKS),
                                 *[(conv_pk(cid), msg_sk(seq)) for cid, seq in keys]])
        blocks = found.pop((user_pk(user_id), BLOCKS), None)
        return ({(d["conversationId"], int(d["seq"])): self._seen(d) for d in found.values()},
                frozenset(blocks.get("blocked") or ()) if blocks else frozenset())

    def read_messages_and_blocks(
        self, conversation_id: str, user_id: str, seqs: Iterable[int], *, with_conversation: bool
    ) -> tuple[Member | None, Conversation | None, dict[int, StoredMessage], frozenset[str]]:
        """:meth:`read_messages` plus the caller's block set, in the same strongly consistent
        BatchGetItem (one request for a page of up to 97 messages)."""
        pk = conv_pk(conversation_id)
        keys = [(pk, member_sk(user_id)), (user_pk(user_id), BLOCKS)]
        keys.append((pk, META))  # always: a member item without it grants nothing
        keys += [(pk, msg_sk(s)) for s in seqs if s >= 1]
        found = self._batch_get(keys)
        mem = found.pop((pk, member_sk(user_id)), None)
        blocks = found.pop((user_pk(user_id), BLOCKS), None)
        meta = found.pop((pk, META), None)
        if meta is None:
            mem = None  # left behind by deleteConversation until the purge: not a member
        messages = {int(d["seq"]): self._seen(d) for d in found.values()}
        return (codec.member(mem) if mem else None,
                codec.conversation(meta) if meta and with_conversation else None, messages,
                frozenset(blocks.get("blocked") or ()) if blocks else frozenset())
