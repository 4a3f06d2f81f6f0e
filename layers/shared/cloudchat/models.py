"""Domain records. Plain dataclasses: the store builds them, services use them, views render them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from cloudchat.crypto import Sealed
from cloudchat.dataclass import dataclass, field


class Kind(StrEnum):
    DIRECT = "DIRECT"
    GROUP = "GROUP"


class Role(StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


class MessageKind(StrEnum):
    TEXT = "TEXT"
    IMAGE = "IMAGE"
    FILE = "FILE"
    SYSTEM = "SYSTEM"


@dataclass(frozen=True)
class Caller:
    """Who is calling, from the AppSync identity (a Cognito user)."""

    user_id: str
    username: str
    groups: frozenset[str] = frozenset()
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.groups

    @property
    def is_moderator(self) -> bool:
        return "moderator" in self.groups or self.is_admin


@dataclass
class User:
    id: str
    display_name: str
    created_at: str
    username: str | None = None
    email: str | None = None
    avatar_key: str | None = None
    deleted_at: str | None = None  # a deleted account's marker ("Deleted user")


@dataclass
class Member:
    conversation_id: str
    user_id: str
    role: Role
    joined_at: str
    joined_seq: int = 0
    read_seq: int = 0
    delivered_seq: int = 0
    last_activity: str = ""
    muted_until: str | None = None
    notified_at: str | None = None  # the last notification claimed (fan-out's window)
    # Seqs of messages that mention this member, counted by the fan-out while unread (the
    # ones at or below the read marker no longer count; see store/_mentions.py).
    mention_seqs: frozenset[int] = frozenset()

    @property
    def unread_mentions(self) -> int:
        floor = max(self.read_seq, self.joined_seq)
        return sum(1 for s in self.mention_seqs if s > floor)


@dataclass(frozen=True)
class BodyVersion:
    """One stored version of a message body (the last one is current)."""

    sealed: Sealed
    at: str


@dataclass(frozen=True)
class Attachment:
    """An uploaded file on a message. ``name`` is sealed at rest like a body."""

    id: str
    key: str
    content_type: str
    size: int
    name: str | None = None
    sealed_name: Sealed | None = None
    url: str | None = None



class UploadStatus(StrEnum):
    PENDING = "PENDING"  # granted; no message holds it yet (expires at ``expires_at``)
    ATTACHED = "ATTACHED"  # on message ``message_id``
    DELETED = "DELETED"  # its message was deleted: no message can claim it again


@dataclass(frozen=True)
class Upload:
    """A grant to upload one file into a conversation, as the store keeps it. ``sealed_name``
    is the file name, sealed like a body (removed when its message is deleted)."""

    id: str
    conversation_id: str
    uploader_id: str
    key: str  # the S3 object key
    content_type: str
    size: int
    created_at: str
    sealed_name: Sealed | None = None
    expires_at: int | None = None  # epoch seconds (TTL), while no message holds it
    status: UploadStatus = UploadStatus.PENDING
    message_id: str | None = None

    def attachment(self) -> Attachment:
        """The attachment this upload becomes on a message."""
        return Attachment(id=self.id, key=self.key, content_type=self.content_type,
                          size=self.size, sealed_name=self.sealed_name)


@dataclass
class StoredMessage:
    conversation_id: str
    seq: int
    id: str
    sender_id: str
    kind: MessageKind
    created_at: str
    sealed: Sealed | None
    client_message_id: str | None = None
    version: int = 1
    parent_id: str | None = None
    reply_count: int = 0
    last_reply_at: str | None = None
    reply_users: frozenset[str] = frozenset()
    reactions: dict[str, frozenset[str]] = field(default_factory=dict)
    history: list[BodyVersion] = field(default_factory=list)
    edited_at: str | None = None
    deleted_at: str | None = None
    deleted_by: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    mentions: tuple[str, ...] = ()  # members the message mentions (SendMessageInput.mentions)
    erased: bool = False  # deleted with its author's account (deleteAccount eraseMessages)


@dataclass
class Conversation:
    id: str
    kind: Kind
    title: str | None
    created_by: str
    created_at: str
    updated_at: str
    wrapped_key: bytes
    key_version: int = 1
    last_seq: int = 0
    last_message: StoredMessage | None = None
    version: int = 1
    # Members live in their own items only (CONV#<id>/MEMBER#<userId>); the conversation
    # item keeps what the rules need at constant size: the counts, and a DIRECT pair.
    member_count: int = 0
    owner_count: int = 0
    pair: tuple[str, str] | None = None
    pending_add: tuple[str, int] | None = None  # a large addMembers under way: (digest, seq)


@dataclass
class Message:
    """A decrypted message, as clients see it."""

    id: str
    conversation_id: str
    seq: int
    sender_id: str
    kind: MessageKind
    body: str | None
    created_at: str
    client_message_id: str | None
    version: int
    parent_id: str | None = None
    reply_count: int = 0
    last_reply_at: str | None = None
    reply_users: frozenset[str] = frozenset()
    reactions: dict[str, frozenset[str]] = field(default_factory=dict)
    edited_at: str | None = None
    deleted_at: str | None = None
    deleted_by: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    mentions: tuple[str, ...] = ()
    sender_blocked: bool = False  # for the caller of a page: they blocked the sender
    # searchMessages only: the (start, end) code-point spans of the body that matched
    matches: tuple[tuple[int, int], ...] | None = None
    erased: bool = False  # deleted with its author's account (deleteAccount eraseMessages)


@dataclass(frozen=True)
class MessageVersion:
    version: int
    body: str
    at: str


@dataclass(frozen=True)
class ReceiptEvent:
    conversation_id: str
    user_id: str
    kind: str  # READ | DELIVERED
    seq: int
    at: str


@dataclass(frozen=True)
class TypingEvent:
    conversation_id: str
    user_id: str
    typing: bool
    expires_at: str


@dataclass
class ConversationView:
    conversation: Conversation
    member: Member
    last_message: Message | None


@dataclass
class Page:
    items: list[Any]
    next_token: str | None = None


@dataclass(frozen=True)
class MembershipChange:
    conversation_id: str
    action: str  # ADDED | REMOVED | LEFT | ROLE_CHANGED
    actor_id: str
    user_ids: tuple[str, ...]
    role: Role | None
    member_count: int
    message: Message


@dataclass(frozen=True)
class ConversationDeletion:
    """The audit record of a deleted conversation (no content), and its purge's progress."""

    conversation_id: str
    kind: Kind
    deleted_by: str
    deleted_at: str
    member_count: int
    purge_step: int = 0
    purged_items: int = 0
    purged_at: str | None = None


@dataclass(frozen=True)
class NotificationSettings:
    """A user's notification channels (updateNotificationSettings). Never set: push on,
    e-mail off. ``email_address`` is the Cognito address verified when e-mail was turned on."""

    email: bool = False
    push: bool = True
    email_address: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class DeletionJob:
    """An account deletion: what the request recorded, and how far the background part is."""

    user_id: str
    erase: bool
    status: str  # RUNNING | DONE
    step: int
    requested_at: str
    requested_by: str
    completed_at: str | None = None
    cursor: dict[str, Any] | None = None  # {"cid": ..., "after": seq} while erasing
    started_at: str | None = None  # when it was last (re)started (default: requested_at)
