"""The item codec: AttributeValues <-> Python values, and domain records <-> items.

Records are the dataclasses of :mod:`cloudchat.models`; an item here is a dict of
attribute name to Python value (what :func:`from_av` gives), keys built by :mod:`._keys`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

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
    Upload,
    UploadStatus,
    User,
)
from cloudchat.store._keys import (
    PROFILE,
    USER_DIRECTORY,
    activity_key,
    conv_pk,
    directory_key,
    member_sk,
    msg_sk,
    upload_sk,
    user_pk,
)

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
    from botocore.exceptions import ClientError
    from types_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

REACTION_PREFIX = "rx#"  # a message's reactions: one set of user ids per emoji, "rx#<emoji>"


@functools.cache
def _types() -> tuple[TypeSerializer, TypeDeserializer]:
    """boto3's (de)serialisers, imported on first use (not at cold start)."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def to_av(item: dict[str, Any]) -> dict[str, Any]:
    """An item (or an expression's values) as AttributeValues; None values are left out."""
    ser = _types()[0]
    return {k: ser.serialize(v) for k, v in item.items() if v is not None}


def from_av(item: dict[str, Any]) -> dict[str, Any]:
    value = _decoder()
    return {k: value(v) for k, v in item.items()}


@functools.cache
def _decoder() -> Callable[[dict[str, Any]], Any]:
    """boto3's ``TypeDeserializer.deserialize``, the same values (Decimal numbers in
    DYNAMODB_CONTEXT, ``Binary``, sets), by a table lookup per value instead of a formatted
    ``getattr`` per value: a page of 50 messages decodes ~thousands of values (bench.handler).
    Anything else (an empty or unknown type) goes to boto3's, which raises its TypeError."""
    from boto3.dynamodb.types import DYNAMODB_CONTEXT, Binary

    slow: Callable[[Any], Any] = _types()[1].deserialize
    number = DYNAMODB_CONTEXT.create_decimal

    def value(av: dict[str, Any]) -> Any:
        for kind in av:  # the first key, as boto3 reads it
            if kind == "S":  # (the common kinds without a call)
                return av["S"]
            if kind == "N":
                return number(av["N"])
            decode = table.get(kind)
            return slow(av) if decode is None else decode(av[kind])
        return slow(av)

    table: dict[str, Callable[[Any], Any]] = {
        "S": lambda v: v, "N": number, "B": Binary, "BOOL": lambda v: v, "NULL": lambda v: None,
        "SS": set, "NS": lambda v: set(map(number, v)), "BS": lambda v: set(map(Binary, v)),
        "L": lambda v: [value(x) for x in v], "M": lambda v: {k: value(x) for k, x in v.items()},
    }
    return value


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def write_items(items: Sequence[dict[str, Any]]) -> Sequence[TransactWriteItemTypeDef]:
    """The store's TransactWriteItems as the stubs type them: the same list (the items are
    plain dicts, laid out in this package and checked by its tests against DynamoDB's rules)."""
    return cast("Sequence[TransactWriteItemTypeDef]", items)


def error_response(exc: ClientError) -> dict[str, Any]:
    """A ClientError's parsed answer, whole: the stubs' TypedDict names only the keys every
    service sends, and DynamoDB adds the old ``Item`` of a failed condition and cancellation
    reasons whose ``Item`` is an attribute-value map."""
    return cast("dict[str, Any]", exc.response)


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


def body_attr(b: BodyVersion) -> dict[str, Any]:
    out = {"ct": b.sealed.ciphertext, "nonce": b.sealed.nonce, "kv": b.sealed.key_version,
           "v": b.sealed.version, "at": b.at}
    if b.sealed.fmt != LEGACY_FORMAT:
        out["f"] = b.sealed.fmt  # (absent: a body written before the bound format)
    return out


def body(d: dict[str, Any]) -> BodyVersion:
    return BodyVersion(Sealed(nonce=bytes(d["nonce"]), ciphertext=bytes(d["ct"]),
                              key_version=int(d["kv"]), version=int(d.get("v", 1)),
                              fmt=int(d.get("f", LEGACY_FORMAT))), d["at"])


def check_placement(d: dict[str, Any], bodies: list[BodyVersion]) -> None:
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


def message_attrs(m: StoredMessage) -> dict[str, Any]:
    bodies = [*m.history]
    if m.sealed is not None:
        bodies.append(BodyVersion(m.sealed, m.edited_at or m.created_at))
    return {
        "id": m.id, "conversationId": m.conversation_id, "seq": m.seq,
        "senderId": m.sender_id, "kind": m.kind.value, "createdAt": m.created_at,
        "cmid": m.client_message_id, "version": m.version, "parentId": m.parent_id,
        "bodies": [body_attr(b) for b in bodies] if bodies else None,
        "attachments": [attachment_attr(a) for a in m.attachments] or None,
        "mentions": list(m.mentions) or None,
    }


def attachment_attr(a: Attachment) -> dict[str, Any]:
    out: dict[str, Any] = {"id": a.id, "key": a.key, "contentType": a.content_type,
                           "size": a.size}
    out.update(sealed_name_attrs(a.sealed_name))
    return out


def attachment(d: dict[str, Any]) -> Attachment:
    return Attachment(id=d["id"], key=d["key"], content_type=d["contentType"],
                      size=int(d["size"]), sealed_name=sealed_name(d))


def sealed_name_attrs(sealed: Sealed | None) -> dict[str, Any]:
    """A file name's sealed form as item attributes (attachments and uploads alike)."""
    if sealed is None:
        return {}
    return {"nameCt": sealed.ciphertext, "nameNonce": sealed.nonce, "nameKv": sealed.key_version}


def sealed_name(d: dict[str, Any]) -> Sealed | None:
    if "nameCt" not in d:
        return None
    return Sealed(nonce=bytes(d["nameNonce"]), ciphertext=bytes(d["nameCt"]),
                  key_version=int(d["nameKv"]))


def message(d: dict[str, Any]) -> StoredMessage:
    bodies = [body(b) for b in d.get("bodies") or []]
    check_placement(d, bodies)
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
        attachments=[attachment(a) for a in d.get("attachments") or []],
        mentions=tuple(d.get("mentions") or ()),
        erased=bool(d.get("erased")),
    )


def conversation(d: dict[str, Any]) -> Conversation:
    last = d.get("lastMessage")
    return Conversation(
        id=d["id"], kind=Kind(d["kind"]), title=d.get("title"), created_by=d["createdBy"],
        created_at=d["createdAt"], updated_at=d["updatedAt"],
        wrapped_key=bytes(d["wrappedKey"]), key_version=int(d.get("keyVersion", 1)),
        last_seq=int(d.get("lastSeq", 0)),
        last_message=message(last) if last else None,
        version=int(d.get("version", 1)),
        **conversation_counts(d),
    )


def conversation_counts(d: dict[str, Any]) -> dict[str, Any]:
    """memberCount, ownerCount and a DIRECT pair of a conversation item. An item written
    before members left it still holds the member map (``members``): its counts and pair
    come from the map until the next membership change rewrites the item without it."""
    legacy: dict[str, str] = d.get("members") or {}
    pair = d.get("pair") or (sorted(legacy) if d.get("kind") == "DIRECT" and len(legacy) == 2
                             else None)
    owners = d.get("ownerCount")
    if owners is None:
        owners = sum(1 for r in legacy.values() if r == Role.OWNER.value)
    pending = d.get("pendingAdd")
    return {"member_count": int(d.get("memberCount", len(legacy))), "owner_count": int(owners),
            "pair": (str(pair[0]), str(pair[1])) if pair else None,
            "pending_add": (str(pending["digest"]), int(pending["seq"])) if pending else None}


def member(d: dict[str, Any]) -> Member:
    return Member(
        conversation_id=d["conversationId"], user_id=d["userId"], role=Role(d["role"]),
        joined_at=d["joinedAt"], joined_seq=int(d.get("joinedSeq", 0)),
        read_seq=int(d.get("readSeq", 0)), delivered_seq=int(d.get("deliveredSeq", 0)),
        last_activity=d.get("lastActivity", d["joinedAt"]), muted_until=d.get("mutedUntil"),
        notified_at=d.get("notifiedAt"),
        mention_seqs=frozenset(int(s) for s in d.get("mentionSeqs") or ()),
    )


def user(d: dict[str, Any]) -> User:
    return User(id=d["id"], display_name=d["displayName"], created_at=d["createdAt"],
                username=d.get("username"), email=d.get("email"),
                avatar_key=d.get("avatarKey"), deleted_at=d.get("deletedAt"))


def member_item(m: Member) -> dict[str, Any]:
    return {
        "PK": conv_pk(m.conversation_id), "SK": member_sk(m.user_id), "type": "MEMBER",
        "conversationId": m.conversation_id, "userId": m.user_id, "role": m.role.value,
        "joinedAt": m.joined_at, "joinedSeq": m.joined_seq, "readSeq": m.read_seq,
        "deliveredSeq": m.delivered_seq, "lastActivity": m.last_activity or m.joined_at,
        "GSI1PK": user_pk(m.user_id),
        "GSI1SK": activity_key(m.last_activity or m.joined_at, m.conversation_id),
    }


def profile_item(user: User) -> dict[str, Any]:
    return {
        "PK": user_pk(user.id), "SK": PROFILE, "type": "USER", "id": user.id,
        "displayName": user.display_name, "username": user.username, "email": user.email,
        "avatarKey": user.avatar_key, "createdAt": user.created_at,
        "GSI2PK": USER_DIRECTORY, "GSI2SK": directory_key(user.display_name, user.id),
    }


def upload_item(u: Upload) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": conv_pk(u.conversation_id), "SK": upload_sk(u.id), "type": "UPLOAD",
        "conversationId": u.conversation_id, "status": u.status.value, "id": u.id,
        "key": u.key, "uploaderId": u.uploader_id, "contentType": u.content_type,
        "size": u.size, "createdAt": u.created_at, "expiresAt": u.expires_at,
        "messageId": u.message_id,
        **sealed_name_attrs(u.sealed_name),
    }
    return item


def upload(d: dict[str, Any]) -> Upload:
    return Upload(id=d["id"], conversation_id=d["conversationId"], uploader_id=d["uploaderId"],
                  key=d["key"], content_type=d["contentType"], size=int(d["size"]),
                  created_at=d["createdAt"], sealed_name=sealed_name(d),
                  expires_at=int(d["expiresAt"]) if "expiresAt" in d else None,
                  status=UploadStatus(d.get("status", UploadStatus.PENDING.value)),
                  message_id=d.get("messageId"))
