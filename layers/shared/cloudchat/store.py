"""The DynamoDB store: the only module that knows table keys and item layouts.

One table (see DESIGN.md), keys ``PK``/``SK``; GSI1 lists a user's conversations by last
activity; GSI2 is the user directory; ``expiresAt`` is the TTL attribute.

=====================  ===================  ======================================
item                   PK                   SK
=====================  ===================  ======================================
conversation           CONV#<id>            META
member                 CONV#<id>            MEMBER#<userId>   (GSI1: USER#<userId> / <lastActivity>#<id>)
message                CONV#<id>            MSG#<seq, 12 digits>
send guard             CONV#<id>            CMID#<senderId>#<clientMessageId>
direct pair guard      DIRECT#<a>#<b>       DIRECT
user profile           USER#<userId>        PROFILE           (GSI2: USERDIR / <name>#<userId>)
=====================  ===================  ======================================

Messages are keyed by seq, and message ids carry their seq (:mod:`cloudchat.ids`), so
pages and catch-up are key lookups that can include the caller's member item in the same
BatchGetItem: membership is checked in the same single request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cloudchat.crypto import Sealed
from cloudchat.models import (
    Conversation,
    Kind,
    Member,
    MessageKind,
    Role,
    StoredMessage,
    User,
)

GSI1 = "GSI1"
GSI2 = "GSI2"
SEND_GUARD_TTL_SECONDS = 7 * 24 * 3600
_BATCH_MAX = 100


def conv_pk(conversation_id: str) -> str:
    return f"CONV#{conversation_id}"


def member_sk(user_id: str) -> str:
    return f"MEMBER#{user_id}"


def msg_sk(seq: int) -> str:
    return f"MSG#{seq:012d}"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def _activity_key(at: str, conversation_id: str) -> str:
    return f"{at}#{conversation_id}"


def _direct_pk(a: str, b: str) -> str:
    lo, hi = sorted((a, b))
    return f"DIRECT#{lo}#{hi}"


@dataclass(frozen=True)
class AppendOutcome:
    """What a conditional append did. Exactly one of the flags describes it."""

    stored: bool = False
    not_member: bool = False
    duplicate_seq: int | None = None  # the clientMessageId was used before, for this seq
    current_seq: int | None = None  # the conversation had moved on to this seq


class DirectExists(Exception):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(conversation_id)
        self.conversation_id = conversation_id


class Store:
    def __init__(self, table_name: str, client: Callable[[], Any]) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.table_name = table_name
        self._client = client
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    # ---------------------------------------------------------------- serialization
    def _av(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in item.items() if v is not None}

    def _py(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: self._de.deserialize(v) for k, v in item.items()}

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"PK": {"S": pk}, "SK": {"S": sk}}

    # ---------------------------------------------------------------- records <-> items
    @staticmethod
    def _sealed_attrs(sealed: Sealed | None) -> dict[str, Any]:
        if sealed is None:
            return {}
        return {"ct": sealed.ciphertext, "nonce": sealed.nonce, "kv": sealed.key_version}

    @staticmethod
    def _sealed(d: dict[str, Any]) -> Sealed | None:
        if "ct" not in d:
            return None
        return Sealed(nonce=bytes(d["nonce"]), ciphertext=bytes(d["ct"]), key_version=int(d["kv"]))

    def _message_attrs(self, m: StoredMessage) -> dict[str, Any]:
        return {
            "id": m.id, "conversationId": m.conversation_id, "seq": m.seq,
            "senderId": m.sender_id, "kind": m.kind.value, "createdAt": m.created_at,
            "cmid": m.client_message_id, "version": m.version, **self._sealed_attrs(m.sealed),
        }

    def _message(self, d: dict[str, Any]) -> StoredMessage:
        return StoredMessage(
            conversation_id=d["conversationId"], seq=int(d["seq"]), id=d["id"],
            sender_id=d["senderId"], kind=MessageKind(d["kind"]), created_at=d["createdAt"],
            sealed=self._sealed(d), client_message_id=d.get("cmid"),
            version=int(d.get("version", 1)),
        )

    def _conversation(self, d: dict[str, Any]) -> Conversation:
        last = d.get("lastMessage")
        return Conversation(
            id=d["id"], kind=Kind(d["kind"]), title=d.get("title"), created_by=d["createdBy"],
            created_at=d["createdAt"], updated_at=d["updatedAt"],
            members={u: Role(r) for u, r in d.get("members", {}).items()},
            wrapped_key=bytes(d["wrappedKey"]), key_version=int(d.get("keyVersion", 1)),
            last_seq=int(d.get("lastSeq", 0)),
            last_message=self._message(last) if last else None,
            version=int(d.get("version", 1)),
        )

    @staticmethod
    def _member(d: dict[str, Any]) -> Member:
        return Member(
            conversation_id=d["conversationId"], user_id=d["userId"], role=Role(d["role"]),
            joined_at=d["joinedAt"], joined_seq=int(d.get("joinedSeq", 0)),
            read_seq=int(d.get("readSeq", 0)), delivered_seq=int(d.get("deliveredSeq", 0)),
            last_activity=d.get("lastActivity", d["joinedAt"]),
        )

    @staticmethod
    def _user(d: dict[str, Any]) -> User:
        return User(id=d["id"], display_name=d["displayName"], created_at=d["createdAt"],
                    username=d.get("username"), email=d.get("email"))

    def _member_item(self, m: Member) -> dict[str, Any]:
        return self._av({
            "PK": conv_pk(m.conversation_id), "SK": member_sk(m.user_id), "type": "MEMBER",
            "conversationId": m.conversation_id, "userId": m.user_id, "role": m.role.value,
            "joinedAt": m.joined_at, "joinedSeq": m.joined_seq, "readSeq": m.read_seq,
            "deliveredSeq": m.delivered_seq, "lastActivity": m.last_activity or m.joined_at,
            "GSI1PK": user_pk(m.user_id),
            "GSI1SK": _activity_key(m.last_activity or m.joined_at, m.conversation_id),
        })

    # ---------------------------------------------------------------- batch reads
    def _batch_get(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Strongly consistent BatchGetItem of up to any number of keys (one request per 100)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), _BATCH_MAX):
            request: dict[str, Any] = {self.table_name: {
                "Keys": [self._key(pk, sk) for pk, sk in unique[i:i + _BATCH_MAX]],
                "ConsistentRead": True,
            }}
            attempt = 0
            while request:
                resp = self._client().batch_get_item(RequestItems=request)
                for raw in resp.get("Responses", {}).get(self.table_name, []):
                    d = self._py(raw)
                    found[(d["PK"], d["SK"])] = d
                request = resp.get("UnprocessedKeys") or {}
                if request:
                    attempt += 1
                    time.sleep(min(0.05 * 2 ** attempt, 1.0))
        return found

    # ---------------------------------------------------------------- users
    def put_profile_if_absent(self, user: User) -> bool:
        from botocore.exceptions import ClientError

        name = user.display_name.casefold()
        try:
            self._client().put_item(
                TableName=self.table_name,
                Item=self._av({
                    "PK": user_pk(user.id), "SK": "PROFILE", "type": "USER", "id": user.id,
                    "displayName": user.display_name, "username": user.username,
                    "email": user.email, "createdAt": user.created_at,
                    "GSI2PK": "USERDIR", "GSI2SK": f"{name}#{user.id}",
                }),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get_profile(self, user_id: str) -> User | None:
        resp = self._client().get_item(TableName=self.table_name,
                                       Key=self._key(user_pk(user_id), "PROFILE"))
        item = resp.get("Item")
        return self._user(self._py(item)) if item else None

    def profiles_and_direct(
        self, user_ids: Iterable[str], direct_pair: tuple[str, str] | None
    ) -> tuple[dict[str, User], str | None]:
        """Profiles that exist among ``user_ids``, and the DIRECT conversation of the pair if any."""
        keys = [(user_pk(u), "PROFILE") for u in user_ids]
        if direct_pair:
            keys.append((_direct_pk(*direct_pair), "DIRECT"))
        found = self._batch_get(keys)
        users = {d["id"]: self._user(d) for (pk, _), d in found.items() if pk.startswith("USER#")}
        direct = found.get((_direct_pk(*direct_pair), "DIRECT")) if direct_pair else None
        return users, (direct["conversationId"] if direct else None)

    # ---------------------------------------------------------------- conversations
    def create_conversation(self, conv: Conversation, members: Sequence[Member],
                            direct_pair: tuple[str, str] | None) -> None:
        """Writes the conversation atomically. Raises DirectExists if the pair already has one.

        Conversation + members + pair guard go in one transaction when they fit (100 items);
        larger groups write member chunks first and the conversation item last, so a
        conversation is never visible without all of its members.
        """
        from botocore.exceptions import ClientError

        meta = {"Put": {
            "TableName": self.table_name,
            "Item": self._av({
                "PK": conv_pk(conv.id), "SK": "META", "type": "CONV", "id": conv.id,
                "kind": conv.kind.value, "title": conv.title, "createdBy": conv.created_by,
                "createdAt": conv.created_at, "updatedAt": conv.updated_at,
                "members": {u: r.value for u, r in conv.members.items()},
                "memberCount": len(conv.members), "wrappedKey": conv.wrapped_key,
                "keyVersion": conv.key_version, "lastSeq": conv.last_seq, "version": conv.version,
            }),
            "ConditionExpression": "attribute_not_exists(PK)",
        }}
        puts = [{"Put": {"TableName": self.table_name, "Item": self._member_item(m),
                         "ConditionExpression": "attribute_not_exists(PK)"}} for m in members]
        final: list[dict[str, Any]] = [meta]
        if direct_pair:
            final.append({"Put": {
                "TableName": self.table_name,
                "Item": self._av({"PK": _direct_pk(*direct_pair), "SK": "DIRECT",
                                  "conversationId": conv.id}),
                "ConditionExpression": "attribute_not_exists(PK)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }})
        room = _BATCH_MAX - len(final)
        head, tail = puts[: max(0, len(puts) - room)], puts[max(0, len(puts) - room):]
        for i in range(0, len(head), _BATCH_MAX):
            self._client().transact_write_items(TransactItems=head[i:i + _BATCH_MAX])
        try:
            self._client().transact_write_items(TransactItems=tail + final)
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if direct_pair and reasons and reasons[-1].get("Code") == "ConditionalCheckFailed":
                existing = reasons[-1].get("Item", {}).get("conversationId", {}).get("S")
                raise DirectExists(existing or "") from exc
            raise

    def conversation_and_member(
        self, conversation_id: str, user_id: str
    ) -> tuple[Conversation | None, Member | None]:
        found = self._batch_get([(conv_pk(conversation_id), "META"),
                                 (conv_pk(conversation_id), member_sk(user_id))])
        meta = found.get((conv_pk(conversation_id), "META"))
        mem = found.get((conv_pk(conversation_id), member_sk(user_id)))
        return (self._conversation(meta) if meta else None, self._member(mem) if mem else None)

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        resp = self._client().get_item(TableName=self.table_name, ConsistentRead=True,
                                       Key=self._key(conv_pk(conversation_id), "META"))
        item = resp.get("Item")
        return self._conversation(self._py(item)) if item else None

    def get_member(self, conversation_id: str, user_id: str) -> Member | None:
        resp = self._client().get_item(
            TableName=self.table_name, ConsistentRead=True,
            Key=self._key(conv_pk(conversation_id), member_sk(user_id)))
        item = resp.get("Item")
        return self._member(self._py(item)) if item else None

    def conversations(self, conversation_ids: Sequence[str]) -> dict[str, Conversation]:
        found = self._batch_get([(conv_pk(c), "META") for c in conversation_ids])
        return {d["id"]: self._conversation(d) for d in found.values()}

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
        rows = [self._member(self._py(i)) for i in resp.get("Items", [])]
        return rows[:limit], len(rows) > limit

    @staticmethod
    def membership_cursor(m: Member) -> dict[str, str]:
        """The GSI1 position just after ``m`` (goes into an opaque nextToken)."""
        return {"PK": conv_pk(m.conversation_id), "SK": member_sk(m.user_id),
                "GSI1PK": user_pk(m.user_id),
                "GSI1SK": _activity_key(m.last_activity or m.joined_at, m.conversation_id)}

    # ---------------------------------------------------------------- messages
    def append_message(self, msg: StoredMessage, *, prev_seq: int, now: str,
                       now_epoch: int) -> AppendOutcome:
        """One TransactWriteItems: sender is a member (and reads up to the new seq), the
        conversation moves from ``prev_seq`` to ``msg.seq``, the message is put, and the
        sender's clientMessageId is claimed. Never retries by itself."""
        from botocore.exceptions import ClientError

        cid, pk = msg.conversation_id, conv_pk(msg.conversation_id)
        attrs = self._message_attrs(msg)
        items = [
            {"Update": {
                "TableName": self.table_name, "Key": self._key(pk, member_sk(msg.sender_id)),
                "ConditionExpression": "attribute_exists(PK)",
                "UpdateExpression": "SET readSeq = :seq, deliveredSeq = :seq, "
                                    "lastActivity = :now, GSI1SK = :act",
                "ExpressionAttributeValues": self._av({
                    ":seq": msg.seq, ":now": now, ":act": _activity_key(now, cid)}),
            }},
            {"Update": {
                "TableName": self.table_name, "Key": self._key(pk, "META"),
                "ConditionExpression": "attribute_exists(PK) AND lastSeq = :prev",
                "UpdateExpression": "SET lastSeq = :seq, updatedAt = :now, lastMessage = :lm",
                "ExpressionAttributeValues": self._av({
                    ":prev": prev_seq, ":seq": msg.seq, ":now": now,
                    ":lm": {k: v for k, v in attrs.items() if v is not None}}),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }},
            {"Put": {
                "TableName": self.table_name,
                "Item": self._av({"PK": pk, "SK": msg_sk(msg.seq), "type": "MSG", **attrs}),
                "ConditionExpression": "attribute_not_exists(PK)",
            }},
        ]
        if msg.client_message_id:
            items.append({"Put": {
                "TableName": self.table_name,
                "Item": self._av({
                    "PK": pk, "SK": f"CMID#{msg.sender_id}#{msg.client_message_id}",
                    "type": "SENDGUARD", "messageId": msg.id, "seq": msg.seq,
                    "expiresAt": now_epoch + SEND_GUARD_TTL_SECONDS,
                }),
                "ConditionExpression": "attribute_not_exists(PK)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }})
        try:
            self._client().transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            code = [r.get("Code") for r in reasons] + [None] * 4
            if code[0] == "ConditionalCheckFailed":
                return AppendOutcome(not_member=True)
            if code[3] == "ConditionalCheckFailed":
                old = self._py(reasons[3].get("Item") or {})
                dup = int(old["seq"]) if "seq" in old else self._guard(
                    cid, msg.sender_id, msg.client_message_id or "")
                if dup is not None:
                    return AppendOutcome(duplicate_seq=dup)
            if code[1] == "ConditionalCheckFailed":
                old = self._py(reasons[1].get("Item") or {})
                if not old:
                    return AppendOutcome(not_member=True)
                return AppendOutcome(current_seq=int(old.get("lastSeq", 0)))
            if "TransactionConflict" in code or code[2] == "ConditionalCheckFailed":
                return AppendOutcome(current_seq=None)
            raise
        return AppendOutcome(stored=True)

    def _guard(self, conversation_id: str, sender_id: str, cmid: str) -> int | None:
        resp = self._client().get_item(
            TableName=self.table_name, ConsistentRead=True,
            Key=self._key(conv_pk(conversation_id), f"CMID#{sender_id}#{cmid}"))
        item = resp.get("Item")
        return int(self._py(item)["seq"]) if item else None

    def get_message(self, conversation_id: str, seq: int) -> StoredMessage | None:
        resp = self._client().get_item(TableName=self.table_name, ConsistentRead=True,
                                       Key=self._key(conv_pk(conversation_id), msg_sk(seq)))
        item = resp.get("Item")
        return self._message(self._py(item)) if item else None

    def read_messages(
        self, conversation_id: str, user_id: str, seqs: Iterable[int], *, with_conversation: bool
    ) -> tuple[Member | None, Conversation | None, dict[int, StoredMessage]]:
        """The caller's member item, optionally the conversation, and the messages at
        ``seqs`` that exist, in one strongly consistent BatchGetItem (per 100 keys)."""
        pk = conv_pk(conversation_id)
        keys = [(pk, member_sk(user_id))]
        if with_conversation:
            keys.append((pk, "META"))
        keys += [(pk, msg_sk(s)) for s in seqs if s >= 1]
        found = self._batch_get(keys)
        mem = found.pop((pk, member_sk(user_id)), None)
        meta = found.pop((pk, "META"), None)
        messages = {int(d["seq"]): self._message(d) for d in found.values()}
        return (self._member(mem) if mem else None,
                self._conversation(meta) if meta else None, messages)
