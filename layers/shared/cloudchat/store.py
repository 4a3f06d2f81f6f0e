"""The DynamoDB store: the only module that knows table keys and item layouts.

One table (see DESIGN.md), keys ``PK``/``SK``; GSI1 lists a user's conversations by last
activity; GSI2 is the user directory; ``expiresAt`` is the TTL attribute.

=====================  ===================  ======================================
item                   PK                   SK
=====================  ===================  ======================================
conversation           CONV#<id>            META
member                 CONV#<id>            MEMBER#<userId>   (GSI1: USER#<userId> / <lastActivity>#<id>)
message                CONV#<id>            MSG#<seq, 12 digits>  (replies: GSI3 THREAD#<id>#<rootId> / seq)
send guard             CONV#<id>            CMID#<senderId>#<clientMessageId>  (seq, payload digest)
audit entry            CONV#<id>            AUDIT#<seq>#<at>#<actorId>
rate log               USER#<userId>        RATE#<bucket>     (SEND, WRITE: the last N write times)
upload                 CONV#<id>            UPLOAD#<uploadId>  (PENDING, ATTACHED, DELETED with its message)
direct pair guard      DIRECT#<a>#<b>       DIRECT
user profile           USER#<userId>        PROFILE           (GSI2: USERDIR / <name>#<userId>)
email directory entry  USER#<userId>        EMAIL             (GSI2: EMAILDIR / <email>#<userId>)
presence               USER#<userId>        PRESENCE          lastSeen (TTL expiresAt)
push device            USER#<userId>        DEVICE#<hash of its SNS endpoint>
=====================  ===================  ======================================

Messages are keyed by seq, and message ids carry their seq (:mod:`cloudchat.ids`), so
pages and catch-up are key lookups that can include the caller's member item in the same
BatchGetItem: membership is checked in the same single request.

Every write to a message item adds 1 to its ``rev``. The store remembers the message images
it has read or written (a bounded LRU per container, :class:`_Images`); a reaction or an edit
of a remembered message is one TransactWriteItems conditioned on that ``rev`` (with the
member check), and the message it answers is the remembered image with the change applied,
exact because nobody else changed it in between. When the image is stale the refused
transaction returns the current one (ReturnValuesOnConditionCheckFailure) and it is tried
again; when the container has not seen the message, one BatchGetItem reads it first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudchat.crypto import LEGACY_FORMAT, Binding, Sealed
from cloudchat.errors import BadRequest, IntegrityError
from cloudchat.ids import seq_of_message_id
from cloudchat.models import (
    Attachment,
    BodyVersion,
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
GSI3 = "GSI3"
REACTION_PREFIX = "rx#"
SEND_GUARD_TTL_SECONDS = 7 * 24 * 3600
_BATCH_MAX = 100
REMEMBERED_MESSAGES = 2048  # message images kept per container ...
REMEMBERED_BYTES = 8 * 1024 * 1024  # ... and their approximate size, at most
_WRITE_ATTEMPTS = 3  # a reaction or an edit tried again this often on a stale image


def conv_pk(conversation_id: str) -> str:
    return f"CONV#{conversation_id}"


def member_sk(user_id: str) -> str:
    return f"MEMBER#{user_id}"


def msg_sk(seq: int) -> str:
    return f"MSG#{seq:012d}"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


ITEM_SIZE_BUDGET = 390 * 1024  # DynamoDB's item limit is 400 KB; the estimate stays under it


def item_size(value: Any, name: str = "") -> int:
    """An upper estimate of an item's (or attribute's) size as DynamoDB counts it: names and
    UTF-8 strings, binary, numbers (at most 21 bytes), and 3 bytes plus 1 per element for
    lists and maps (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)."""
    size = len(name.encode())
    if isinstance(value, str):
        return size + len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bytes | bytearray | memoryview):
        return size + len(bytes(value))
    if isinstance(value, bool) or value is None:
        return size + 1
    if isinstance(value, int | float) or type(value).__name__ in ("Decimal", "Binary"):
        return size + (len(bytes(value.value)) if type(value).__name__ == "Binary" else 21)
    if isinstance(value, dict):
        return size + 3 + sum(1 + item_size(v, str(k)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return size + 3 + sum(1 + item_size(v) for v in value)
    if isinstance(value, set | frozenset):
        return size + sum(item_size(v) for v in value)
    return size + len(str(value).encode())


def binding(m: StoredMessage) -> Binding:
    """What a message's body ciphertexts are bound to (:class:`cloudchat.crypto.Binding`):
    seq, sender, kind, and a SHA-256 of its attachments' ids, object keys, types and sizes
    (an attachment pointed at another object, added, dropped or reordered changes it)."""
    digest = ""
    if m.attachments:
        import hashlib
        import json

        rows = [[a.id, a.key, a.content_type, a.size] for a in m.attachments]
        digest = hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()
    return Binding(seq=m.seq, sender_id=m.sender_id, kind=m.kind.value, attachments=digest)


def _activity_key(at: str, conversation_id: str) -> str:
    return f"{at}#{conversation_id}"


def _direct_pk(a: str, b: str) -> str:
    lo, hi = sorted((a, b))
    return f"DIRECT#{lo}#{hi}"


@dataclass(frozen=True)
class AppendOutcome:
    """What a conditional append did. Exactly one of the fields describes it."""

    stored: bool = False
    not_member: bool = False
    rate_limited: bool = False
    retry_after: int = 0  # with rate_limited: seconds until a send would be accepted
    parent_missing: bool = False
    parent_root: str | None = None  # the parent is itself a reply: retry with this root
    duplicate_seq: int | None = None  # the clientMessageId was used before, for this seq ...
    duplicate_guard: SendGuard | None = None  # ... with this payload digest
    current_seq: int | None = None  # the conversation had moved on to this seq
    retry: bool = False  # a transient conflict: try again
    upload_taken: bool = False  # an attachment is not (any more) the sender's pending upload


@dataclass(frozen=True)
class WriteOutcome:
    """What a conditional message write (react / edit / delete) did."""

    ok: bool = False
    not_member: bool = False
    missing: bool = False  # no such message (or a forged id)
    deleted: bool = False
    limit: bool = False  # a bound was hit (reaction kinds, edit count)
    stale: bool = False  # the expected version did not match
    not_allowed: bool = False  # the message's rules forbid it (author, window)
    old: StoredMessage | None = None  # the message as it was, when the write was refused
    retry: bool = False
    message: StoredMessage | None = None  # the message as the write left it (when ok)
    purge: tuple[str, ...] = ()  # a deleted message's S3 objects, to be scheduled for expiry
    too_large: bool = False  # the change would grow the item past ITEM_SIZE_BUDGET


@dataclass(frozen=True)
class SendGuard:
    """A sender's claim on a clientMessageId: the seq it was stored with, and the digest of
    the payload it carried (keyed with the conversation's data key ``key_version``; None
    on a guard written before digests were kept)."""

    seq: int
    digest: bytes | None = None
    key_version: int | None = None

    @classmethod
    def of(cls, item: dict[str, Any]) -> SendGuard:
        digest = item.get("digest")
        return cls(int(item["seq"]), bytes(digest) if digest is not None else None,
                   int(item["digestKv"]) if "digestKv" in item else None)


RATE_LOG_SLOTS = 120  # write times a rate log keeps (the UpdateExpression grows with it)


@dataclass(frozen=True)
class Rate:
    """A per-user sliding-window limit: at most ``per_minute`` writes of ``bucket`` in any
    60 seconds. The log keeps the last ``slots`` write times, oldest first; a write is
    accepted when the oldest is at least ``window_ms`` old. Exact when ``per_minute`` <=
    RATE_LOG_SLOTS; above it, at most ``slots`` in any ``window_ms`` (60 s scaled down)."""

    bucket: str
    per_minute: int
    now_ms: int

    @property
    def slots(self) -> int:
        return max(1, min(self.per_minute, RATE_LOG_SLOTS))

    @property
    def window_ms(self) -> int:
        return 60_000 * self.slots // max(1, self.per_minute)

    def retry_after(self, old: dict[str, Any]) -> int:
        """Whole seconds until the refused write would be accepted, from the log's old image."""
        oldest = int(old.get("t0", 0))
        return max(1, -(-(oldest + self.window_ms - self.now_ms) // 1000))


class RateExceeded(Exception):
    """A per-user rate log refused the write (nothing was written)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class DirectExists(Exception):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(conversation_id)
        self.conversation_id = conversation_id


class _Images:
    """The latest message item images this container has seen, by (conversation, seq),
    least recently used dropped first. An image is a whole item as read (attribute name to
    Python value); its ``rev`` says which state of the item it is. Thread-safe (the local
    stack runs handlers on threads)."""

    def __init__(self, capacity: int = REMEMBERED_MESSAGES,
                 max_bytes: int = REMEMBERED_BYTES) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple[str, int], tuple[dict[str, Any], int]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _weight(image: dict[str, Any]) -> int:
        """Roughly the bytes an image holds: its ciphertexts, reactions and a fixed part."""
        bodies = sum(len(bytes(b.get("ct") or b"")) + 64 for b in image.get("bodies") or ())
        reactions = sum(40 * len(v) for k, v in image.items() if k.startswith(REACTION_PREFIX))
        return 512 + bodies + reactions

    def put(self, image: dict[str, Any]) -> None:
        key = (str(image["conversationId"]), int(image["seq"]))
        weight = self._weight(image)
        with self._lock:
            known = self._items.get(key)
            if known is not None:
                if _rev(known[0]) > _rev(image):
                    return  # an older (eventually consistent) read never replaces a newer image
                self.bytes -= known[1]
            self._items[key] = (image, weight)
            self._items.move_to_end(key)
            self.bytes += weight
            while self._items and (len(self._items) > self.capacity
                                   or self.bytes > self.max_bytes):
                self.bytes -= self._items.popitem(last=False)[1][1]

    def get(self, conversation_id: str, seq: int) -> dict[str, Any] | None:
        with self._lock:
            entry = self._items.get((conversation_id, seq))
            if entry is None:
                return None
            self._items.move_to_end((conversation_id, seq))
            return entry[0]

    def drop(self, conversation_id: str, seq: int) -> None:
        with self._lock:
            entry = self._items.pop((conversation_id, seq), None)
            if entry is not None:
                self.bytes -= entry[1]

    def __len__(self) -> int:
        return len(self._items)


def _rev(image: dict[str, Any]) -> int:
    return int(image.get("rev", 0))


def _expression(**clauses: Sequence[str]) -> str:
    """An UpdateExpression from its clauses: ``_expression(SET=[...], ADD=[...])``."""
    return " ".join(f"{kw} {', '.join(parts)}" for kw, parts in clauses.items() if parts)


@dataclass(frozen=True)
class _Change:
    """One update of a message item: its condition, UpdateExpression clauses and values,
    and how it changes an image of the item (for answering without a read)."""

    condition: str
    clauses: dict[str, list[str]]
    values: dict[str, Any]
    names: dict[str, str] | None
    apply: Callable[[dict[str, Any]], dict[str, Any]] = lambda image: image
    # Other items written in the same transaction, by name. A name starting with "opt:" is
    # optional: when only such items fail their condition, they are left out and the
    # change is tried again (e.g. the conversation's lastMessage copy, once a newer
    # message replaced it).
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)


class Store:
    def __init__(self, table_name: str, client: Callable[[], Any]) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.table_name = table_name
        self._client = client
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()
        self.images = _Images()

    # ---------------------------------------------------------------- serialization
    def _av(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in item.items() if v is not None}

    def _py(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: self._de.deserialize(v) for k, v in item.items()}

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"PK": {"S": pk}, "SK": {"S": sk}}

    # ---------------------------------------------------------------- records <-> items
    @staticmethod
    def _body_attr(b: BodyVersion) -> dict[str, Any]:
        out = {"ct": b.sealed.ciphertext, "nonce": b.sealed.nonce, "kv": b.sealed.key_version,
               "v": b.sealed.version, "at": b.at}
        if b.sealed.fmt != LEGACY_FORMAT:
            out["f"] = b.sealed.fmt  # (absent: a body written before the bound format)
        return out

    @staticmethod
    def _body(d: dict[str, Any]) -> BodyVersion:
        return BodyVersion(Sealed(nonce=bytes(d["nonce"]), ciphertext=bytes(d["ct"]),
                                  key_version=int(d["kv"]), version=int(d.get("v", 1)),
                                  fmt=int(d.get("f", LEGACY_FORMAT))), d["at"])

    @staticmethod
    def _check_placement(d: dict[str, Any], bodies: list[BodyVersion]) -> None:
        """A message item is where its seq says, its id carries that seq, and its body
        versions are consecutive, ending at the item's version: a message copied to another
        seq, or an edit rolled back by reordering versions, is an IntegrityError (the AAD
        binds each body to its seq and version; this binds the row to them)."""
        seq, where = int(d["seq"]), f"message {d.get('id')} of conversation {d.get('conversationId')}"
        try:
            carried = seq_of_message_id(str(d["id"]))
        except BadRequest:
            carried = -1
        if carried != seq or ("SK" in d and d["SK"] != msg_sk(seq)):
            raise IntegrityError(f"{where} is not stored at its own seq (moved or copied)")
        versions = [b.sealed.version for b in bodies]
        if versions and (versions != list(range(versions[0], versions[0] + len(versions)))
                         or versions[-1] != int(d.get("version", 1))):
            raise IntegrityError(f"{where}: its body versions are out of order (rolled back?)")

    def _message_attrs(self, m: StoredMessage) -> dict[str, Any]:
        bodies = [*m.history]
        if m.sealed is not None:
            bodies.append(BodyVersion(m.sealed, m.edited_at or m.created_at))
        return {
            "id": m.id, "conversationId": m.conversation_id, "seq": m.seq,
            "senderId": m.sender_id, "kind": m.kind.value, "createdAt": m.created_at,
            "cmid": m.client_message_id, "version": m.version, "parentId": m.parent_id,
            "bodies": [self._body_attr(b) for b in bodies] if bodies else None,
            "attachments": [self._attachment_attr(a) for a in m.attachments] or None,
        }

    @staticmethod
    def _attachment_attr(a: Attachment) -> dict[str, Any]:
        out: dict[str, Any] = {"id": a.id, "key": a.key, "contentType": a.content_type,
                               "size": a.size}
        if a.sealed_name is not None:
            out.update({"nameCt": a.sealed_name.ciphertext, "nameNonce": a.sealed_name.nonce,
                        "nameKv": a.sealed_name.key_version})
        return out

    @staticmethod
    def _attachment(d: dict[str, Any]) -> Attachment:
        sealed = None
        if "nameCt" in d:
            sealed = Sealed(nonce=bytes(d["nameNonce"]), ciphertext=bytes(d["nameCt"]),
                            key_version=int(d["nameKv"]))
        return Attachment(id=d["id"], key=d["key"], content_type=d["contentType"],
                          size=int(d["size"]), sealed_name=sealed)

    def _message(self, d: dict[str, Any]) -> StoredMessage:
        bodies = [self._body(b) for b in d.get("bodies") or []]
        self._check_placement(d, bodies)
        reactions = {k[len(REACTION_PREFIX):]: frozenset(v) for k, v in d.items()
                     if k.startswith(REACTION_PREFIX) and v}
        return StoredMessage(
            conversation_id=d["conversationId"], seq=int(d["seq"]), id=d["id"],
            sender_id=d["senderId"], kind=MessageKind(d["kind"]), created_at=d["createdAt"],
            sealed=bodies[-1].sealed if bodies else None, history=bodies[:-1],
            client_message_id=d.get("cmid"), version=int(d.get("version", 1)),
            parent_id=d.get("parentId"), reply_count=int(d.get("replyCount", 0)),
            last_reply_at=d.get("lastReplyAt"), reply_users=frozenset(d.get("replyUsers") or ()),
            reactions=reactions, edited_at=d.get("editedAt"), deleted_at=d.get("deletedAt"),
            deleted_by=d.get("deletedBy"),
            attachments=[self._attachment(a) for a in d.get("attachments") or []],
        )

    def _seen(self, d: dict[str, Any]) -> StoredMessage:
        """A message item as read from the table: remembered, then converted."""
        self.images.put(d)
        return self._message(d)

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
            last_activity=d.get("lastActivity", d["joinedAt"]), muted_until=d.get("mutedUntil"),
            notified_at=d.get("notifiedAt"),
        )

    @staticmethod
    def _user(d: dict[str, Any]) -> User:
        return User(id=d["id"], display_name=d["displayName"], created_at=d["createdAt"],
                    username=d.get("username"), email=d.get("email"),
                    avatar_key=d.get("avatarKey"))

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
        """Creates the profile (and its email directory entry) unless it exists."""
        from botocore.exceptions import ClientError

        items = [{"Put": {"TableName": self.table_name, "Item": self._profile_item(user),
                          "ConditionExpression": "attribute_not_exists(PK)"}}]
        if user.email:
            items.append({"Put": {"TableName": self.table_name, "Item": self._av({
                "PK": user_pk(user.id), "SK": "EMAIL", "type": "EMAILDIR", "userId": user.id,
                "GSI2PK": "EMAILDIR", "GSI2SK": f"{user.email.casefold()}#{user.id}"})}})
        try:
            self._client().transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise
        return True

    def _profile_item(self, user: User) -> dict[str, Any]:
        return self._av({
            "PK": user_pk(user.id), "SK": "PROFILE", "type": "USER", "id": user.id,
            "displayName": user.display_name, "username": user.username, "email": user.email,
            "avatarKey": user.avatar_key, "createdAt": user.created_at,
            "GSI2PK": "USERDIR", "GSI2SK": f"{user.display_name.casefold()}#{user.id}",
        })

    def update_profile(self, user_id: str, display_name: str | None,
                       avatar_key: str | None, clear_avatar: bool) -> User | None:
        from botocore.exceptions import ClientError

        sets, removes, values = [], [], {}
        if display_name is not None:
            sets += ["displayName = :n", "GSI2SK = :k"]
            values.update({":n": display_name, ":k": f"{display_name.casefold()}#{user_id}"})
        if avatar_key is not None:
            sets.append("avatarKey = :a")
            values[":a"] = avatar_key
        elif clear_avatar:
            removes.append("avatarKey")
        expr = ("SET " + ", ".join(sets) if sets else "") + (" REMOVE " + ", ".join(removes)
                                                              if removes else "")
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "Key": self._key(user_pk(user_id), "PROFILE"),
            "ConditionExpression": "attribute_exists(PK)", "UpdateExpression": expr.strip(),
            "ReturnValues": "ALL_NEW"}
        if values:
            kwargs["ExpressionAttributeValues"] = self._av(values)
        try:
            resp = self._client().update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return self._user(self._py(resp["Attributes"]))

    def directory(self, by_email: bool, prefix: str, limit: int, start: dict[str, str] | None
                  ) -> tuple[list[User], dict[str, str] | None]:
        """Users by display-name (or email) prefix, ascending; one query plus, for the email
        index, one batch get of the profiles. Returns the users and the cursor after them."""
        values = {":p": "EMAILDIR" if by_email else "USERDIR"}
        condition = "GSI2PK = :p"
        if prefix:
            condition += " AND begins_with(GSI2SK, :q)"
            values[":q"] = prefix.casefold()
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "IndexName": GSI2, "Limit": limit + 1,
            "KeyConditionExpression": condition, "ExpressionAttributeValues": self._av(values),
        }
        if start:
            kwargs["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
        rows = [self._py(i) for i in self._client().query(**kwargs).get("Items", [])]
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = ({k: str(rows[-1][k]) for k in ("PK", "SK", "GSI2PK", "GSI2SK")}
                  if more and rows else None)
        if by_email:
            found = self._batch_get([(user_pk(r["userId"]), "PROFILE") for r in rows])
            users = [self._user(found[(user_pk(r["userId"]), "PROFILE")]) for r in rows
                     if (user_pk(r["userId"]), "PROFILE") in found]
        else:
            users = [self._user(r) for r in rows]
        return users, cursor

    def touch_presence(self, user_id: str, at: str, expires_epoch: int) -> None:
        """Records a heartbeat. The stream's old and new images show a user coming online
        (a gap before this heartbeat), which the consumer turns into PRESENCE events."""
        self._client().put_item(TableName=self.table_name, Item=self._av({
            "PK": user_pk(user_id), "SK": "PRESENCE", "type": "PRESENCE", "userId": user_id,
            "lastSeen": at, "expiresAt": expires_epoch}))

    def presence(self, user_ids: Sequence[str]) -> dict[str, str]:
        """Last seen per user (absent: never, or expired)."""
        found = self._batch_get([(user_pk(u), "PRESENCE") for u in user_ids])
        return {d["userId"]: d["lastSeen"] for d in found.values()}

    def contacts(self, user_id: str) -> set[str]:
        """Everyone who shares a conversation with the user (including the user)."""
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
        for conv in self.conversations(cids).values():
            if user_id in conv.members:  # the index may still list a membership that ended
                out |= set(conv.members)
        return out

    def get_profile(self, user_id: str) -> User | None:
        resp = self._client().get_item(TableName=self.table_name,
                                       Key=self._key(user_pk(user_id), "PROFILE"))
        item = resp.get("Item")
        return self._user(self._py(item)) if item else None

    def profiles(self, user_ids: Iterable[str]) -> dict[str, User]:
        """The profiles that exist among ``user_ids`` (BatchGetItem per 100)."""
        return self.profiles_and_direct(user_ids, None)[0]

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
                            direct_pair: tuple[str, str] | None, rate: Rate | None = None) -> None:
        """Writes the conversation atomically. Raises DirectExists if the pair already has one,
        RateExceeded if the creator's rate log refuses it (then nothing is written).

        Conversation + members + pair guard (+ the creator's rate log) go in one transaction
        when they fit (100 items); larger groups write member chunks first (the first one
        with the rate log) and the conversation item last, so a conversation is never
        visible without all of its members.
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
        metered = [self._rate_op(conv.created_by, rate)] if rate is not None else []
        chunks: list[list[dict[str, Any]]] = []
        tail = puts
        if len(metered) + len(puts) + len(final) > _BATCH_MAX:
            # the first transaction carries the rate log, so a refusal writes nothing
            cut = len(puts) - (_BATCH_MAX - len(final))
            head, tail = metered + puts[:cut], puts[cut:]
            chunks = [head[i:i + _BATCH_MAX] for i in range(0, len(head), _BATCH_MAX)]
            metered = []
        for i, chunk in enumerate(chunks):
            try:
                self._client().transact_write_items(TransactItems=chunk)
            except ClientError as exc:
                self._raise_if_rate(exc, rate if i == 0 else None)
                raise
        try:
            self._client().transact_write_items(TransactItems=metered + tail + final)
        except ClientError as exc:
            self._raise_if_rate(exc, rate if metered else None)
            reasons = exc.response.get("CancellationReasons") or []
            if direct_pair and reasons and reasons[-1].get("Code") == "ConditionalCheckFailed":
                existing = reasons[-1].get("Item", {}).get("conversationId", {}).get("S")
                raise DirectExists(existing or "") from exc
            raise

    def _raise_if_rate(self, exc: Any, rate: Rate | None) -> None:
        """Raises RateExceeded when a transaction whose first item is ``rate``'s log was
        cancelled by that item's condition."""
        reasons = exc.response.get("CancellationReasons") or []
        if rate is not None and reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            raise RateExceeded(rate.retry_after(self._py(reasons[0].get("Item") or {}))) from exc

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

    def conversations_of(self, user_id: str, conversation_ids: Sequence[str]
                         ) -> dict[str, tuple[Conversation, Member]]:
        """The conversations among ``conversation_ids`` that ``user_id`` is a member of now,
        each with the caller's current member item: one strongly consistent BatchGetItem
        (per 50 conversations). GSI1 rows are eventually consistent, so they only say which
        conversations to look at and in what order; membership, read markers and joinedSeq
        come from here."""
        keys = [k for c in conversation_ids
                for k in ((conv_pk(c), "META"), (conv_pk(c), member_sk(user_id)))]
        found = self._batch_get(keys)
        out: dict[str, tuple[Conversation, Member]] = {}
        for c in conversation_ids:
            meta = found.get((conv_pk(c), "META"))
            mem = found.get((conv_pk(c), member_sk(user_id)))
            if meta is not None and mem is not None:
                out[c] = (self._conversation(meta), self._member(mem))
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
        rows = [self._member(self._py(i)) for i in resp.get("Items", [])]
        return rows[:limit], len(rows) > limit

    @staticmethod
    def membership_cursor(m: Member) -> dict[str, str]:
        """The GSI1 position just after ``m`` (goes into an opaque nextToken)."""
        return {"PK": conv_pk(m.conversation_id), "SK": member_sk(m.user_id),
                "GSI1PK": user_pk(m.user_id),
                "GSI1SK": _activity_key(m.last_activity or m.joined_at, m.conversation_id)}

    # ---------------------------------------------------------------- messages
    def append_message(self, msg: StoredMessage, *, prev_seq: int, now: str, now_epoch: int,
                       rate: Rate | None = None,
                       digest: tuple[bytes, int] | None = None) -> AppendOutcome:
        """One TransactWriteItems: the sender is a member (and reads up to the new seq), the
        conversation moves from ``prev_seq`` to ``msg.seq``, the message is put, the sender's
        clientMessageId is claimed (with ``digest``, the payload's digest and the key version
        it was made with, so a reuse of the id with another payload can be told from a
        retry), the sender's send-rate log counts it, and for a thread reply the root's
        reply summary is updated. Never retries by itself."""

        cid, pk = msg.conversation_id, conv_pk(msg.conversation_id)
        attrs = self._message_attrs(msg)
        item = {"PK": pk, "SK": msg_sk(msg.seq), "type": "MSG", **attrs}
        if msg.parent_id:
            item["GSI3PK"] = f"THREAD#{cid}#{msg.parent_id}"
            item["GSI3SK"] = msg_sk(msg.seq)
        member: dict[str, Any] = {
            "TableName": self.table_name, "Key": self._key(pk, member_sk(msg.sender_id)),
            "ConditionExpression": "attribute_exists(PK)",
            "UpdateExpression": "SET readSeq = :seq, deliveredSeq = :seq, "
                                "lastActivity = :now, GSI1SK = :act",
            "ExpressionAttributeValues": self._av({
                ":seq": msg.seq, ":now": now, ":act": _activity_key(now, cid)}),
        }
        if msg.parent_id:
            # A reply acts on its root: only a root the sender can see (after joining).
            from cloudchat.ids import seq_of_message_id

            member["ConditionExpression"] += (" AND (attribute_not_exists(joinedSeq) "
                                              "OR joinedSeq < :root_seq)")
            member["ExpressionAttributeValues"][":root_seq"] = {
                "N": str(seq_of_message_id(msg.parent_id))}
            member["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        ops: dict[str, dict[str, Any]] = {
            "member": {"Update": member},
            "conversation": {"Update": {
                "TableName": self.table_name, "Key": self._key(pk, "META"),
                "ConditionExpression": "attribute_exists(PK) AND lastSeq = :prev",
                "UpdateExpression": "SET lastSeq = :seq, updatedAt = :now, lastMessage = :lm",
                "ExpressionAttributeValues": self._av({
                    ":prev": prev_seq, ":seq": msg.seq, ":now": now,
                    ":lm": {k: v for k, v in attrs.items() if v is not None}}),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }},
            "message": {"Put": {"TableName": self.table_name, "Item": self._av(item),
                                "ConditionExpression": "attribute_not_exists(PK)"}},
        }
        if msg.client_message_id:
            ops["guard"] = {"Put": {
                "TableName": self.table_name,
                "Item": self._av({
                    "PK": pk, "SK": f"CMID#{msg.sender_id}#{msg.client_message_id}",
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
        for a in msg.attachments:
            ops[f"upload:{a.id}"] = {"Update": {
                "TableName": self.table_name, "Key": self._key(pk, f"UPLOAD#{a.id}"),
                "ConditionExpression": "uploaderId = :me AND #s = :pending",
                "UpdateExpression": "SET #s = :attached, messageId = :mid REMOVE expiresAt",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": self._av({
                    ":me": msg.sender_id, ":pending": "PENDING", ":attached": "ATTACHED",
                    ":mid": msg.id}),
            }}
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
            if "conversation" in failed:
                old = failed["conversation"]
                if not old:
                    return AppendOutcome(not_member=True)
                return AppendOutcome(current_seq=int(old.get("lastSeq", 0)))
            if "rate" in failed and rate is not None:
                return AppendOutcome(rate_limited=True, retry_after=rate.retry_after(failed["rate"]))
            if any(n.startswith("upload:") for n in failed):
                return AppendOutcome(upload_taken=True)
            return AppendOutcome(retry=True)
        self.images.put({k: v for k, v in item.items() if v is not None})
        if msg.parent_id:
            from cloudchat.ids import seq_of_message_id

            self.images.drop(cid, seq_of_message_id(msg.parent_id))  # its reply summary moved on
        return AppendOutcome(stored=True)

    def _rate_op(self, user_id: str, rate: Rate) -> dict[str, Any]:
        """The update of a user's rate log for one more write: accepted when the oldest of
        the last ``rate.slots`` write times is at least ``rate.window_ms`` old; the log
        shifts by one (t0 oldest .. t{n-1} newest). One fixed conditional write, so it goes
        into the write's own transaction; refused, it returns the log (ALL_OLD) for the
        exact retry-after. The log records its length (``slots``): a log kept for another
        limit (the setting changed) does not refuse (its t0 is not the oldest of the last
        ``rate.slots`` writes); it is laid out anew for this one."""
        n = rate.slots
        shifts = [f"t{i} = if_not_exists(t{i + 1}, :z)" for i in range(n - 1)]
        return {"Update": {
            "TableName": self.table_name,
            "Key": self._key(user_pk(user_id), f"RATE#{rate.bucket}"),
            "ConditionExpression": "attribute_not_exists(t0) OR t0 <= :cutoff "
                                   "OR attribute_not_exists(slots) OR slots <> :slots",
            "UpdateExpression": "SET " + ", ".join([*shifts, f"t{n - 1} = :now",
                                                    "slots = :slots", "expiresAt = :exp"]),
            "ExpressionAttributeValues": self._av({
                ":slots": n,
                ":z": 0, ":cutoff": rate.now_ms - rate.window_ms, ":now": rate.now_ms,
                ":exp": (rate.now_ms + rate.window_ms) // 1000 + 60}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}

    def _transact(self, ops: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
        """Runs named TransactWriteItems operations. None if it committed; otherwise which
        named items failed their condition, with their old images where asked for."""
        from botocore.exceptions import ClientError

        try:
            self._client().transact_write_items(TransactItems=list(ops.values()))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            return self._failures(exc, list(ops))
        return None

    def _failures(self, exc: Any, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Which named transaction items failed their condition, with their old image (if
        ReturnValuesOnConditionCheckFailure asked for one). Raises if the cancellation was
        for another reason than conditions or conflicts."""
        reasons = exc.response.get("CancellationReasons") or []
        failed: dict[str, dict[str, Any]] = {}
        for name, reason in zip(names, reasons, strict=False):
            code = reason.get("Code")
            if code == "ConditionalCheckFailed":
                failed[name] = self._py(reason.get("Item") or {})
            elif code not in (None, "None", "TransactionConflict"):
                raise exc
        return failed

    def guard(self, conversation_id: str, sender_id: str, cmid: str) -> SendGuard | None:
        """A sender's claim on a clientMessageId, if it was stored (one GetItem)."""
        resp = self._client().get_item(
            TableName=self.table_name, ConsistentRead=True,
            Key=self._key(conv_pk(conversation_id), f"CMID#{sender_id}#{cmid}"))
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
        if with_conversation:
            keys.append((pk, "META"))
        keys += [(pk, msg_sk(s)) for s in seqs if s >= 1]
        found = self._batch_get(keys)
        mem = found.pop((pk, member_sk(user_id)), None)
        meta = found.pop((pk, "META"), None)
        messages = {int(d["seq"]): self._seen(d) for d in found.values()}
        return (self._member(mem) if mem else None,
                self._conversation(meta) if meta else None, messages)

    def messages_at(self, conversation_id: str, seqs: Iterable[int]) -> dict[int, StoredMessage]:
        """The messages at ``seqs`` that exist, strongly consistent (BatchGetItem per 100)."""
        pk = conv_pk(conversation_id)
        found = self._batch_get([(pk, msg_sk(s)) for s in seqs if s >= 1])
        return {int(d["seq"]): self._seen(d) for d in found.values()}

    def message_and_member(self, conversation_id: str, seq: int, user_id: str
                           ) -> tuple[StoredMessage | None, Member | None]:
        """A message and the caller's member item, in one BatchGetItem."""
        _member, _conv, found = self.read_messages(conversation_id, user_id, [seq],
                                                   with_conversation=False)
        return found.get(seq), _member

    # ---------------------------------------------------------------- message writes
    def _member_check(self, conversation_id: str, user_id: str,
                      roles: Sequence[Role] | None = None,
                      sees_seq: int | None = None) -> dict[str, Any]:
        """The caller is a member (with one of ``roles``). With ``sees_seq``: and joined
        before that message (members read from their joining on); a member item that fails
        only this comes back (ALL_OLD), so the message can be answered as not found."""
        check: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self._key(conv_pk(conversation_id), member_sk(user_id)),
            "ConditionExpression": "attribute_exists(PK)",
        }
        values: dict[str, Any] = {}
        if roles:
            names = [f":r{i}" for i in range(len(roles))]
            check["ConditionExpression"] += f" AND #role IN ({', '.join(names)})"
            check["ExpressionAttributeNames"] = {"#role": "role"}
            values.update(zip(names, [r.value for r in roles], strict=True))
        if sees_seq is not None:
            check["ConditionExpression"] += " AND (attribute_not_exists(joinedSeq) OR joinedSeq < :sees)"
            check["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            values[":sees"] = sees_seq
        if values:
            check["ExpressionAttributeValues"] = self._av(values)
        return {"ConditionCheck": check}

    def _write_message(self, conversation_id: str, seq: int, change: _Change,
                       member: dict[str, Any] | None, base: dict[str, Any] | None = None,
                       leave_out: Iterable[str] = ()) -> tuple[bool, dict[str, dict[str, Any]]]:
        """A transaction of [member check?, message update, the change's extra items (but
        those in ``leave_out``)]; returns (ok, failed). The update adds 1 to the message's
        ``rev``; with ``base``, only if the item is still at the base image's ``rev``."""
        condition = change.condition
        values = {**change.values, ":one": 1}
        if base is not None:
            if _rev(base):
                condition += " AND rev = :rev"
                values[":rev"] = _rev(base)
            else:
                condition += " AND attribute_not_exists(rev)"
        clauses = {**change.clauses, "ADD": [*change.clauses.get("ADD", ()), "rev :one"]}
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self._key(conv_pk(conversation_id), msg_sk(seq)),
            "ConditionExpression": condition,
            "UpdateExpression": _expression(**clauses),
            "ExpressionAttributeValues": self._av(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if change.names:
            update["ExpressionAttributeNames"] = change.names
        ops: dict[str, dict[str, Any]] = {}
        if member is not None:
            ops["member"] = member
        ops["message"] = {"Update": update}
        skip = set(leave_out)
        ops.update((name, op) for name, op in change.extra.items() if name not in skip)
        failed = self._transact(ops)
        return failed is None, failed or {}

    def _refused(self, failed: dict[str, dict[str, Any]], message_id: str,
                 seq: int | None = None) -> WriteOutcome:
        if "member" in failed:
            # A member item came back (sees_seq): a member, but the message predates them
            # (or, with ``seq`` and a role check, one without the role: not allowed).
            old_member = failed["member"]
            if not old_member:
                return WriteOutcome(not_member=True)
            if seq is not None and int(old_member.get("joinedSeq", 0)) < seq:
                return WriteOutcome(not_allowed=True)
            return WriteOutcome(missing=True)
        if "message" not in failed:
            return WriteOutcome(retry=True)
        old = failed["message"]
        if not old or old.get("id") != message_id:
            return WriteOutcome(missing=True)
        stored = self._seen(old)
        if stored.deleted_at:
            return WriteOutcome(deleted=True, old=stored)
        return WriteOutcome(old=stored)

    def _change_message(self, conversation_id: str, seq: int, message_id: str, user_id: str,
                        change: Callable[[dict[str, Any]], _Change],
                        check: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
                        *, as_member: bool = True) -> WriteOutcome:
        """Applies ``change`` (built from the message's current image) for a member who can
        see the message, in one transaction with the member check, conditioned on the
        image's ``rev``; answers the changed message without reading it again. ``check``
        builds the member check from the image (default: a member who sees the message);
        ``as_member=False`` (global moderators) reads the message without the member.

        Requests: 1 when this container remembers the message's current image; +1 when the
        image is stale (the refused transaction returns the current one, then it is tried
        again); +1 when it has not seen the message (one BatchGetItem of the member and the
        message); +1 when an optional item of the change fails its condition."""
        base = self.images.get(conversation_id, seq)
        if base is None or base.get("id") != message_id:
            if as_member:
                member, _, found = self.read_messages(conversation_id, user_id, [seq],
                                                      with_conversation=False)
                if member is None:
                    return WriteOutcome(not_member=True)
                stored = found.get(seq)
                if stored is None or stored.id != message_id or stored.seq <= member.joined_seq:
                    return WriteOutcome(missing=True)
            else:
                stored = self.get_message(conversation_id, seq)
                if stored is None or stored.id != message_id:
                    return WriteOutcome(missing=True)
            base = self.images.get(conversation_id, seq)
            assert base is not None  # remembered by the read
        left_out: set[str] = set()
        for _ in range(_WRITE_ATTEMPTS + 2):
            planned = change(base)
            grown = item_size(planned.apply({**base, "rev": _rev(base) + 1}))
            if grown > ITEM_SIZE_BUDGET and grown > item_size(base):
                # DynamoDB would refuse the item (ValidationException, 400 KB): say so
                # clearly, and write nothing. Exact: the write is conditioned on this image.
                return WriteOutcome(too_large=True, old=self._message(base))
            member_op = (check(base) if check is not None
                         else self._member_check(conversation_id, user_id, sees_seq=seq))
            ok, failed = self._write_message(conversation_id, seq, planned, member_op,
                                             base=base, leave_out=left_out)
            if ok:
                image = planned.apply({**base, "rev": _rev(base) + 1})
                self.images.put(image)
                return WriteOutcome(ok=True, message=self._message(image),
                                    purge=tuple(image.get("purge") or ()))
            optional = {n for n in failed if n.startswith("opt:")}
            if optional and optional == set(failed):
                left_out |= optional  # e.g. a newer message is the conversation's last now
                continue
            old = failed.get("message")
            if "member" in failed or not old or old.get("id") != message_id \
                    or _rev(old) == _rev(base):
                return self._refused(failed, message_id, seq if check is not None else None)
            base = old  # another container changed it first: again, from the current image
            self.images.put(base)
        return WriteOutcome(retry=True)

    def react(self, conversation_id: str, seq: int, message_id: str, user_id: str, emoji: str,
              *, add: bool, max_kinds: int) -> WriteOutcome:
        """Adds or removes the caller's ``emoji`` on a message (a per-emoji set of user ids,
        so repeating either is a no-op; ``reactionKinds`` lists the emoji in use, at most
        ``max_kinds``), with the member check, in one transaction."""
        attr = REACTION_PREFIX + emoji

        def change(base: dict[str, Any]) -> _Change:
            users = set(base.get(attr) or ())
            kinds = set(base.get("reactionKinds") or ())
            values: dict[str, Any] = {":mid": message_id, ":me": {user_id}}
            condition = "id = :mid AND attribute_not_exists(deletedAt)"
            if add:
                users.add(user_id)
                kinds.add(emoji)
                values.update({":e": {emoji}, ":max": max_kinds, ":es": emoji})
                condition += (" AND (attribute_not_exists(reactionKinds) OR "
                              "contains(reactionKinds, :es) OR size(reactionKinds) < :max)")
                clauses = {"ADD": ["#r :me", "reactionKinds :e"]}
            else:
                users.discard(user_id)
                clauses = {"DELETE": ["#r :me"]}
                if not users and emoji in kinds:  # the last one: the kind goes too
                    kinds.discard(emoji)
                    clauses["DELETE"].append("reactionKinds :e")
                    values[":e"] = {emoji}

            def apply(image: dict[str, Any]) -> dict[str, Any]:
                for name, value in ((attr, users), ("reactionKinds", kinds)):
                    if value:
                        image[name] = value
                    else:
                        image.pop(name, None)  # DynamoDB drops an emptied set
                return image

            return _Change(condition, clauses, values, {"#r": attr}, apply)

        out = self._change_message(conversation_id, seq, message_id, user_id, change)
        if add and out.old is not None and not out.deleted and not out.too_large:
            return WriteOutcome(limit=True, old=out.old)
        return out

    def _last_message_update(self, conversation_id: str, seq: int, message_id: str,
                             expression: str, values: dict[str, Any]) -> dict[str, Any]:
        """An optional transaction item: the conversation's copy of its last message,
        changed only while it is this message (a newer message replaces the copy for good:
        lastSeq only grows)."""
        return {"Update": {
            "TableName": self.table_name, "Key": self._key(conv_pk(conversation_id), "META"),
            "ConditionExpression": "lastSeq = :lseq AND lastMessage.id = :lmid",
            "UpdateExpression": expression,
            "ExpressionAttributeValues": self._av({**values, ":lseq": seq, ":lmid": message_id}),
        }}

    def edit_message(self, conversation_id: str, seq: int, message_id: str, editor: str,
                     body: Callable[[StoredMessage], BodyVersion], *, expected_version: int,
                     not_before: str, max_versions: int,
                     last_seq_hint: int | None = None) -> WriteOutcome:
        """Appends a new body version (earlier ones stay, encrypted, as the edit history).
        Author only, never a SYSTEM message, within the edit window, at the expected
        version, by a member. ``body`` seals the new version for the message as currently
        stored (its binding). When the message may be the conversation's last
        (``last_seq_hint`` unknown or not past it), the conversation's copy of it gets the
        new version in the same transaction (the copy keeps the current version only)."""
        may_be_last = last_seq_hint is None or last_seq_hint <= seq

        def change(base: dict[str, Any]) -> _Change:
            new_body = self._body_attr(body(self._message(base)))
            extra: dict[str, dict[str, Any]] = {}
            if may_be_last:
                extra["opt:last"] = self._last_message_update(
                    conversation_id, seq, message_id,
                    "SET lastMessage.bodies = :lb, lastMessage.version = :lv, "
                    "lastMessage.editedAt = :lat",
                    {":lb": [new_body], ":lv": expected_version + 1, ":lat": new_body["at"]})

            def apply(image: dict[str, Any]) -> dict[str, Any]:
                image.update(bodies=[*(image.get("bodies") or ()), new_body],
                             version=expected_version + 1, editedAt=new_body["at"])
                return image

            return _Change(
                "id = :mid AND senderId = :me AND kind <> :system "
                "AND attribute_not_exists(deletedAt) "
                "AND createdAt >= :nb AND version = :v AND size(bodies) < :max",
                {"SET": ["bodies = list_append(bodies, :b)", "version = :next", "editedAt = :at"]},
                {":mid": message_id, ":me": editor, ":nb": not_before, ":v": expected_version,
                 ":next": expected_version + 1, ":b": [new_body], ":at": new_body["at"],
                 ":max": max_versions, ":system": MessageKind.SYSTEM.value},
                None, apply, extra)

        out = self._change_message(conversation_id, seq, message_id, editor, change)
        old = out.old
        if out.ok or old is None or out.deleted or out.too_large:
            return out
        if (old.sender_id != editor or old.kind is MessageKind.SYSTEM
                or old.created_at < not_before):
            return WriteOutcome(not_allowed=True, old=old)
        if old.version != expected_version:
            return WriteOutcome(stale=True, old=old)
        return WriteOutcome(limit=True, old=old)

    def delete_message(self, conversation_id: str, seq: int, message_id: str, actor: str, *,
                       moderator: bool, member_roles: Sequence[Role], at: str,
                       last_seq_hint: int | None = None) -> WriteOutcome:
        """Tombstones a message in one transaction: every ciphertext of it is removed (the
        body versions, the encrypted file names on the message and on its upload items, and
        the conversation's copy when it is the last message), its upload items are marked
        DELETED (no message can claim them again), and an audit entry records who and when.
        Seq, thread structure and reactions stay (views hide a tombstone's reactions). The
        tombstone keeps its objects' S3 keys (``purge``, no names) so the caller can
        schedule them for expiry, again on a retry.

        Who: a global ``moderator`` (no membership needed; SYSTEM messages included); the
        author; or a member holding one of ``member_roles``. Members never delete SYSTEM
        messages."""
        pk = conv_pk(conversation_id)
        audit = {"Put": {"TableName": self.table_name, "Item": self._av({
            "PK": pk, "SK": f"AUDIT#{seq:012d}#{at}#{actor}", "type": "AUDIT",
            "action": "DELETE", "messageId": message_id, "actorId": actor, "at": at})}}

        def change(base: dict[str, Any]) -> _Change:
            files = list(base.get("attachments") or ())
            purge = [str(a["key"]) for a in files]
            cond = "id = :mid AND attribute_not_exists(deletedAt)"
            values: dict[str, Any] = {":mid": message_id, ":at": at, ":by": actor}
            if not moderator:
                cond += " AND kind <> :system"
                values[":system"] = MessageKind.SYSTEM.value
                if base.get("senderId") == actor:
                    cond += " AND senderId = :by"
            sets = ["deletedAt = :at", "deletedBy = :by", "version = version + :one"]
            if purge:
                sets.append("purge = :purge")
                values[":purge"] = purge
            extra: dict[str, dict[str, Any]] = {"audit": audit}
            for a in files:
                extra[f"opt:upload:{a['id']}"] = {"Update": {
                    "TableName": self.table_name, "Key": self._key(pk, f"UPLOAD#{a['id']}"),
                    "ConditionExpression": "attribute_exists(PK)",
                    "UpdateExpression": "SET #s = :deleted REMOVE nameCt, nameNonce, nameKv",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": self._av({":deleted": "DELETED"})}}
            if last_seq_hint is None or last_seq_hint <= seq:
                extra["opt:last"] = self._last_message_update(
                    conversation_id, seq, message_id,
                    "SET lastMessage.deletedAt = :at, lastMessage.deletedBy = :by "
                    "REMOVE lastMessage.bodies, lastMessage.attachments",
                    {":at": at, ":by": actor})

            def apply(image: dict[str, Any]) -> dict[str, Any]:
                for name in ("bodies", "reactionKinds", "attachments"):
                    image.pop(name, None)
                image.update(deletedAt=at, deletedBy=actor,
                             version=int(image.get("version", 1)) + 1)
                if purge:
                    image["purge"] = purge
                return image

            return _Change(cond, {"SET": sets,
                                  "REMOVE": ["bodies", "reactionKinds", "attachments"]},
                           values, None, apply, extra)

        def check(base: dict[str, Any]) -> dict[str, Any] | None:
            if moderator:
                return None
            roles = None if base.get("senderId") == actor else member_roles
            return self._member_check(conversation_id, actor, roles, sees_seq=seq)

        out = self._change_message(conversation_id, seq, message_id, actor, change, check,
                                   as_member=not moderator)
        image = self.images.get(conversation_id, seq)
        if out.deleted:
            return WriteOutcome(deleted=True, old=out.old,
                                purge=tuple((image or {}).get("purge") or ()))
        if out.old is not None or out.not_allowed:
            # refused by the message's rules or the actor's role: say which message it was
            old = out.old or (self._message(image) if image and image.get("id") == message_id
                              else None)
            return WriteOutcome(not_allowed=True, old=old)
        return out

    # ---------------------------------------------------------------- receipts & typing
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
                "TableName": self.table_name, "Key": self._key(pk, "META"),
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
        """Every member item of a conversation (bounded by the member limit), one Query."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "ConsistentRead": True,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :m)",
            "ExpressionAttributeValues": self._av({":pk": conv_pk(conversation_id),
                                                   ":m": "MEMBER#"}),
        }
        out: list[Member] = []
        while True:
            resp = self._client().query(**kwargs)
            out += [self._member(self._py(i)) for i in resp.get("Items", [])]
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
            old = exc.response.get("Item")
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
            ExpressionAttributeValues=self._av({":t": f"THREAD#{conversation_id}#{root_id}",
                                                ":after": msg_sk(after_seq)}),
            ProjectionExpression="GSI3SK", ScanIndexForward=True, Limit=limit + 1)
        seqs = [int(i["GSI3SK"]["S"].removeprefix("MSG#")) for i in resp.get("Items", [])]
        return seqs[:limit], len(seqs) > limit

    # ---------------------------------------------------------------- membership changes
    def change_members(self, conv: Conversation, *, actor: str, actor_roles: Sequence[Role],
                       system: StoredMessage, now: str, add: Sequence[Member] = (),
                       remove: Sequence[tuple[str, Role]] = (),
                       set_roles: Sequence[tuple[str, Role, Role]] = (),
                       title: str | None = None, rate: Rate | None = None) -> str:
        """Adds, removes or re-roles members in one transaction with a SYSTEM message that
        says so (it takes the next seq). Conditions: the actor still holds one of
        ``actor_roles`` (skipped when empty: leaving needs none), the conversation is still
        at ``conv.last_seq`` with the same members, every touched member is as read.
        The actor has read the SYSTEM message (their readSeq moves to it, as a sender's
        does), and ``rate`` meters the actor's writes in the same transaction.
        Returns "ok" | "seq" (moved on: re-read and retry) | "denied" | "changed";
        raises :class:`RateExceeded` when the actor's rate log refuses it."""

        pk = conv_pk(conv.id)
        members = dict(conv.members)
        for m in add:
            members[m.user_id] = m.role
        for uid, _ in remove:
            members.pop(uid, None)
        for uid, _, new in set_roles:
            members[uid] = new
        attrs = self._message_attrs(system)
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
            "TableName": self.table_name, "Key": self._key(pk, "META"),
            "ConditionExpression": "lastSeq = :prev AND version = :ver",
            "UpdateExpression": "SET lastSeq = :seq, updatedAt = :now, lastMessage = :lm, "
                                "members = :members, memberCount = :count, version = :next"
                                + (", title = :title" if title is not None else ""),
            "ExpressionAttributeValues": self._av({
                ":prev": conv.last_seq, ":seq": system.seq, ":now": now,
                ":lm": {k: v for k, v in attrs.items() if v is not None},
                ":members": {u: r.value for u, r in members.items()}, ":count": len(members),
                ":ver": conv.version, ":next": conv.version + 1,
                **({":title": title} if title is not None else {})}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}
        ops["message"] = {"Put": {
            "TableName": self.table_name,
            "Item": self._av({"PK": pk, "SK": msg_sk(system.seq), "type": "MSG", **attrs}),
            "ConditionExpression": "attribute_not_exists(PK)"}}
        for m in add:
            ops[f"add:{m.user_id}"] = {"Put": {
                "TableName": self.table_name, "Item": self._member_item(m),
                "ConditionExpression": "attribute_not_exists(PK)"}}
        for uid, role in remove:
            ops[f"remove:{uid}"] = {"Delete": {
                "TableName": self.table_name, "Key": self._key(pk, member_sk(uid)),
                "ConditionExpression": "#role = :r",
                "ExpressionAttributeNames": {"#role": "role"},
                "ExpressionAttributeValues": self._av({":r": role.value})}}
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
        if len(ops) > _BATCH_MAX:
            raise ValueError("too many membership changes for one transaction")
        failed = self._transact(ops)
        if failed is not None:
            if "actor" in failed:
                return "denied"
            if "rate" in failed and rate is not None:
                raise RateExceeded(rate.retry_after(failed["rate"]))
            if "conversation" in failed:
                return "seq"
            return "changed" if failed else "seq"
        return "ok"

    # ---------------------------------------------------------------- moderation
    def put_report(self, conversation_id: str, seq: int, message_id: str, reporter: str,
                   reason: str, at: str) -> str:
        """Records a member's report of a message (once per reporter and message).
        Returns "ok" | "duplicate" | "not_member" | "missing"."""

        pk = conv_pk(conversation_id)
        ops = {
            "member": self._member_check(conversation_id, reporter, sees_seq=seq),
            "message": {"ConditionCheck": {
                "TableName": self.table_name, "Key": self._key(pk, msg_sk(seq)),
                "ConditionExpression": "id = :mid",
                "ExpressionAttributeValues": self._av({":mid": message_id})}},
            "report": {"Put": {
                "TableName": self.table_name,
                "Item": self._av({
                    "PK": pk, "SK": f"REPORT#{seq:012d}#{reporter}", "type": "REPORT",
                    "conversationId": conversation_id, "messageId": message_id, "seq": seq,
                    "reporterId": reporter, "reason": reason, "createdAt": at,
                    "GSI2PK": "REPORTS", "GSI2SK": f"{at}#{conversation_id}#{seq:012d}#{reporter}"}),
                "ConditionExpression": "attribute_not_exists(PK)"}},
        }
        failed = self._transact(ops)
        if failed is not None:
            if "member" in failed:  # an item back: a member who joined after the message
                return "missing" if failed["member"] else "not_member"
            if "message" in failed:
                return "missing"
            return "duplicate" if "report" in failed else "retry"
        return "ok"

    def reports(self, limit: int, start: dict[str, str] | None
                ) -> tuple[list[dict[str, Any]], dict[str, StoredMessage], bool]:
        """Reports, newest first, with the reported messages (one query + one batch get)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "IndexName": GSI2,
            "KeyConditionExpression": "GSI2PK = :p",
            "ExpressionAttributeValues": self._av({":p": "REPORTS"}),
            "ScanIndexForward": False, "Limit": limit + 1,
        }
        if start:
            kwargs["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
        resp = self._client().query(**kwargs)
        rows = [self._py(i) for i in resp.get("Items", [])]
        more = len(rows) > limit
        rows = rows[:limit]
        found = self._batch_get([(conv_pk(r["conversationId"]), msg_sk(int(r["seq"]))) for r in rows])
        msgs = {d["id"]: self._seen(d) for d in found.values()}
        return rows, msgs, more

    @staticmethod
    def report_cursor(row: dict[str, Any]) -> dict[str, str]:
        return {k: str(row[k]) for k in ("PK", "SK", "GSI2PK", "GSI2SK")}

    # ---------------------------------------------------------------- fan-out (stream consumer)
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
                    ":at": at, ":k": _activity_key(at, conversation_id)}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # ---------------------------------------------------------------- uploads
    def put_upload(self, conversation_id: str, upload: dict[str, Any]) -> bool:
        """Records a pending upload, with the member check, in one transaction."""
        from botocore.exceptions import ClientError

        item = {"PK": conv_pk(conversation_id), "SK": f"UPLOAD#{upload['id']}", "type": "UPLOAD",
                "conversationId": conversation_id, "status": "PENDING", **upload}
        try:
            self._client().transact_write_items(TransactItems=[
                self._member_check(conversation_id, upload["uploaderId"]),
                {"Put": {"TableName": self.table_name, "Item": self._av(item),
                         "ConditionExpression": "attribute_not_exists(PK)"}}])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise
        return True

    def uploads(self, conversation_id: str, upload_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found = self._batch_get([(conv_pk(conversation_id), f"UPLOAD#{u}") for u in upload_ids])
        return {d["id"]: d for d in found.values()}

    # ---------------------------------------------------------------- notifications
    def set_muted(self, conversation_id: str, user_id: str, until: str | None) -> bool:
        """Mutes the conversation for the member until ``until`` (None: unmute)."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self._key(conv_pk(conversation_id), member_sk(user_id)),
            "ConditionExpression": "attribute_exists(PK)",
        }
        if until is None:
            kwargs["UpdateExpression"] = "REMOVE mutedUntil"
        else:
            kwargs["UpdateExpression"] = "SET mutedUntil = :u"
            kwargs["ExpressionAttributeValues"] = self._av({":u": until})
        try:
            self._client().update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def claim_notification(self, conversation_id: str, user_id: str, now: str,
                           not_before: str) -> bool:
        """At most one notification per member and conversation per window: True if this
        caller may notify now (the claim is a conditional write, so repeats cannot)."""
        from botocore.exceptions import ClientError

        try:
            self._client().update_item(
                TableName=self.table_name,
                Key=self._key(conv_pk(conversation_id), member_sk(user_id)),
                ConditionExpression="attribute_exists(PK) AND "
                                    "(attribute_not_exists(notifiedAt) OR notifiedAt < :nb)",
                UpdateExpression="SET notifiedAt = :now",
                ExpressionAttributeValues=self._av({":now": now, ":nb": not_before}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put_device(self, user_id: str, endpoint_arn: str, platform: str, at: str) -> None:
        import hashlib

        digest = hashlib.sha256(endpoint_arn.encode()).hexdigest()[:32]
        self._client().put_item(TableName=self.table_name, Item=self._av({
            "PK": user_pk(user_id), "SK": f"DEVICE#{digest}", "type": "DEVICE",
            "userId": user_id, "endpointArn": endpoint_arn, "platform": platform,
            "createdAt": at}))

    def devices(self, user_id: str) -> list[str]:
        resp = self._client().query(
            TableName=self.table_name, KeyConditionExpression="PK = :pk AND begins_with(SK, :d)",
            ExpressionAttributeValues=self._av({":pk": user_pk(user_id), ":d": "DEVICE#"}))
        return [self._py(i)["endpointArn"] for i in resp.get("Items", [])]
