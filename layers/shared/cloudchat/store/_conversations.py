"""Conversations: creation (with the direct-pair guard), reads, and a user's memberships
(GSI1) and contacts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudchat.errors import BlockedPairs, DirectExists
from cloudchat.models import Conversation, Member
from cloudchat.store import _codec as codec
from cloudchat.store._base import BATCH_MAX
from cloudchat.store._blocks import block_checks
from cloudchat.store._keys import DIRECT, GSI1, META, activity_key, conv_pk, direct_pk, member_sk, user_pk
from cloudchat.store._rates import Rate, RatesStore


class ConversationsStore(RatesStore):
    def create_conversation(self, conv: Conversation, members: Sequence[Member],
                            direct_pair: tuple[str, str] | None, rate: Rate | None = None,
                            blocks: Sequence[tuple[str, str]] = ()) -> None:
        """Writes the conversation atomically. Raises DirectExists if the pair already has one,
        RateExceeded if the creator's rate log refuses it (then nothing is written),
        BlockedPairs if a (blocker, blocked) pair of ``blocks`` has a block: those are
        ConditionChecks in the transaction that writes the conversation item, so a block and
        the conversation never both win.

        Conversation + members + pair guard (+ the creator's rate log) go in one transaction
        when they fit (100 items); larger groups write member chunks first (the first one
        with the rate log) and the conversation item last, so a conversation is never
        visible without all of its members.
        """
        from botocore.exceptions import ClientError

        meta = {"Put": {
            "TableName": self.table_name,
            "Item": self._av({
                "PK": conv_pk(conv.id), "SK": META, "type": "CONV", "id": conv.id,
                "kind": conv.kind.value, "title": conv.title, "createdBy": conv.created_by,
                "createdAt": conv.created_at, "updatedAt": conv.updated_at,
                "memberCount": conv.member_count, "ownerCount": conv.owner_count,
                **({"pair": list(conv.pair)} if conv.pair else {}), "wrappedKey": conv.wrapped_key,
                "keyVersion": conv.key_version, "lastSeq": conv.last_seq, "version": conv.version,
            }),
            "ConditionExpression": "attribute_not_exists(PK)",
        }}
        puts = [{"Put": {"TableName": self.table_name, "Item": self._av(codec.member_item(m)),
                         "ConditionExpression": "attribute_not_exists(PK)"}} for m in members]
        pair_guard: list[dict[str, Any]] = []
        if direct_pair:
            pair_guard.append({"Put": {
                "TableName": self.table_name,
                "Item": self._av({"PK": direct_pk(*direct_pair), "SK": DIRECT,
                                  "conversationId": conv.id}),
                "ConditionExpression": "attribute_not_exists(PK)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }})
        # The block checks go with the conversation item (as many as fit: all of them up to
        # 99 other members); only past that do the rest go with the first member chunk.
        room = BATCH_MAX - 1 - len(pair_guard)
        late, early = list(blocks[:room]), list(blocks[room:])
        final = [meta, *block_checks(self.table_name, late), *pair_guard]
        final_names: list[tuple[str, str] | None] = [None, *late, *([None] * len(pair_guard))]
        metered = [self._rate_op(conv.created_by, rate)] if rate is not None else []
        chunks: list[list[dict[str, Any]]] = []
        chunk_names: list[list[tuple[str, str] | None]] = []
        tail = puts
        if early or len(metered) + len(puts) + len(final) > BATCH_MAX:
            # the first transaction carries the rate log, so a refusal writes nothing
            cut = max(0, len(puts) - (BATCH_MAX - len(final)))
            head = metered + block_checks(self.table_name, early) + puts[:cut]
            lead = len(metered) + len(early)
            names = [None] * len(metered) + [*early] + [None] * cut
            tail = puts[cut:]
            chunks = [head[i:i + BATCH_MAX] for i in range(0, len(head), BATCH_MAX)]
            chunk_names = [names[i:i + BATCH_MAX] for i in range(0, len(head), BATCH_MAX)]
            metered = []
        written: list[Member] = []
        try:
            for i, chunk in enumerate(chunks):
                try:
                    self._client().transact_write_items(TransactItems=codec.write_items(chunk))
                except ClientError as exc:
                    self._raise_if_rate(exc, rate if i == 0 else None)
                    self._raise_if_blocked(exc, chunk_names[i])
                    raise
                # the member puts follow the rate log and the early checks in the head
                written = list(members[:max(0, min(len(head), (i + 1) * BATCH_MAX) - lead)])
            try:
                self._client().transact_write_items(
                    TransactItems=codec.write_items(metered + tail + final))
            except ClientError as exc:
                self._raise_if_rate(exc, rate if metered else None)
                reasons = codec.error_response(exc).get("CancellationReasons") or []
                if direct_pair and reasons and reasons[-1].get("Code") == "ConditionalCheckFailed":
                    existing = reasons[-1].get("Item", {}).get("conversationId", {}).get("S")
                    raise DirectExists(existing or "") from exc
                self._raise_if_blocked(exc, [None] * (len(metered) + len(tail)) + final_names)
                raise
        except BaseException:
            # Whatever stopped it (a block, the rate log, a throttle, a timeout), the member
            # items earlier chunks wrote go: the conversation item was never written.
            self._undo_members(written)
            raise

    def _raise_if_blocked(self, exc: Any, names: Sequence[tuple[str, str] | None]) -> None:
        """Raises BlockedPairs when a block check of this transaction failed (``names`` says
        which item checks which pair)."""
        reasons = codec.error_response(exc).get("CancellationReasons") or []
        refused = [pair for pair, reason in zip(names, reasons, strict=False)
                   if pair is not None and reason.get("Code") == "ConditionalCheckFailed"]
        if refused:
            raise BlockedPairs(refused) from exc

    def _undo_members(self, members: Sequence[Member]) -> None:
        """Deletes member items an earlier chunk of a large group's creation wrote, when its
        last transaction was refused (their conversation item was never written)."""
        deletes = [{"Delete": {"TableName": self.table_name,
                               "Key": self._key(conv_pk(m.conversation_id), member_sk(m.user_id))}}
                   for m in members]
        for i in range(0, len(deletes), BATCH_MAX):
            self._client().transact_write_items(TransactItems=codec.write_items(deletes[i:i + BATCH_MAX]))

    def conversation_and_member(
        self, conversation_id: str, user_id: str
    ) -> tuple[Conversation | None, Member | None]:
        found = self._batch_get([(conv_pk(conversation_id), META),
                                 (conv_pk(conversation_id), member_sk(user_id))])
        meta = found.get((conv_pk(conversation_id), META))
        mem = found.get((conv_pk(conversation_id), member_sk(user_id)))
        return (codec.conversation(meta) if meta else None, codec.member(mem) if mem else None)

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        resp = self._client().get_item(TableName=self.table_name, ConsistentRead=True,
                                       Key=self._key(conv_pk(conversation_id), META))
        item = resp.get("Item")
        return codec.conversation(self._py(item)) if item else None

    def get_member(self, conversation_id: str, user_id: str) -> Member | None:
        resp = self._client().get_item(
            TableName=self.table_name, ConsistentRead=True,
            Key=self._key(conv_pk(conversation_id), member_sk(user_id)))
        item = resp.get("Item")
        return codec.member(self._py(item)) if item else None

    def conversations(self, conversation_ids: Sequence[str]) -> dict[str, Conversation]:
        found = self._batch_get([(conv_pk(c), META) for c in conversation_ids])
        return {d["id"]: codec.conversation(d) for d in found.values()}

    def conversations_of(self, user_id: str, conversation_ids: Sequence[str]
                         ) -> dict[str, tuple[Conversation, Member]]:
        """The conversations among ``conversation_ids`` that ``user_id`` is a member of now,
        each with the caller's current member item: one strongly consistent BatchGetItem
        (per 50 conversations). GSI1 rows are eventually consistent, so they only say which
        conversations to look at and in what order; membership, read markers and joinedSeq
        come from here."""
        keys = [k for c in conversation_ids
                for k in ((conv_pk(c), META), (conv_pk(c), member_sk(user_id)))]
        found = self._batch_get(keys)
        out: dict[str, tuple[Conversation, Member]] = {}
        for c in conversation_ids:
            meta = found.get((conv_pk(c), META))
            mem = found.get((conv_pk(c), member_sk(user_id)))
            if meta is not None and mem is not None:
                out[c] = (codec.conversation(meta), codec.member(mem))
        return out

    def memberships(self, user_id: str, limit: int, start: dict[str, str] | None
                    ) -> tuple[list[Member], bool]:
        """A user's memberships, most recent activity first; ``True`` if more follow."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "IndexName": GSI1,
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": user_pk(user_id)}},
            "ScanIndexForward": False, "Limit": limit + 1,
        }
        if start:
            kwargs["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
        resp = self._client().query(**kwargs)
        rows = [codec.member(self._py(i)) for i in resp.get("Items", [])]
        return rows[:limit], len(rows) > limit

    @staticmethod
    def membership_cursor(m: Member) -> dict[str, str]:
        """The GSI1 position just after ``m`` (goes into an opaque nextToken)."""
        return {"PK": conv_pk(m.conversation_id), "SK": member_sk(m.user_id),
                "GSI1PK": user_pk(m.user_id),
                "GSI1SK": activity_key(m.last_activity or m.joined_at, m.conversation_id)}
    def contacts(self, user_id: str) -> set[str]:
        """Everyone who shares a conversation with the user (including the user), but for
        the large ones (over LargeGroupThreshold: a marker in the user's partition), whose
        members are never enumerated here: presence there is asked for (``shares_large``),
        not announced to thousands."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "IndexName": GSI1,
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": user_pk(user_id)}},
            "ProjectionExpression": "conversationId",
        }
        cids: list[str] = []
        while True:
            resp = self._client().query(**kwargs)
            cids += [i["conversationId"]["S"] for i in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        out = {user_id}
        large = set(self.large_conversation_ids(user_id))  # type: ignore[attr-defined]
        for cid in dict.fromkeys(c for c in cids if c not in large):
            ids = {m.user_id for m in self.members(cid)}  # type: ignore[attr-defined]
            if user_id in ids:  # the index may still list a membership that ended
                out |= ids
        return out
