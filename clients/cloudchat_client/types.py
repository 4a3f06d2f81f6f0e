"""The shapes of the API's answers (schema.graphql's types, as operations.graphql selects them).

``total=False`` where a selection may leave a field out; every field of the fragments in
operations.graphql is present in the answers of this package's methods.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "AccountDeletion",
    "Attachment",
    "BlockedUser",
    "Conversation", "ConversationPage", "DeviceRegistration", "Member", "MemberReceipt",
    "MembershipChange", "Message", "MessagePage", "MessageVersion", "MuteState",
    "NotificationSettings", "Presence",
    "Reaction", "Receipt", "Report", "ReportPage", "SearchHit", "SearchPage", "TextSpan",
    "TypingEvent",
    "Unblocked",
    "UploadTicket", "User", "UserEvent",
    "UserPage",
]
__all__ += ["ConversationDeletion"]

MessageKind = Literal["TEXT", "IMAGE", "FILE", "SYSTEM"]
MemberRole = Literal["OWNER", "ADMIN", "MEMBER"]


class Reaction(TypedDict):
    emoji: str
    count: int
    userIds: list[str]
    reactedByMe: bool


class Attachment(TypedDict):
    id: str
    name: str
    contentType: str
    size: int
    url: str


class Message(TypedDict):
    id: str
    conversationId: str
    seq: int
    senderId: str
    kind: MessageKind
    body: str | None
    createdAt: str
    clientMessageId: str | None
    version: int
    parentId: str | None
    replyCount: int
    lastReplyAt: str | None
    replyUserIds: list[str]
    reactions: list[Reaction]
    attachments: list[Attachment]
    editedAt: str | None
    deletedAt: str | None
    deletedBy: str | None
    mentions: list[str]  # the members it mentions
    senderBlocked: bool
    erased: bool | None  # a tombstone of a deleted account's message (eraseMessages)


class MessagePage(TypedDict):
    items: list[Message]
    nextToken: str | None


class TextSpan(TypedDict):
    """A matched part of a body: code points [start, end) (``body[start:end]`` in Python)."""

    start: int
    end: int


class SearchHit(Message):
    """A message found by ``searchMessages``, with the parts of its body that matched."""

    matches: list[TextSpan]


class SearchPage(TypedDict):
    items: list[SearchHit]
    nextToken: str | None


class MessageVersion(TypedDict):
    version: int
    body: str
    at: str


class Member(TypedDict):
    userId: str
    role: MemberRole
    joinedAt: NotRequired[str | None]


class Conversation(TypedDict):
    id: str
    kind: Literal["DIRECT", "GROUP"]
    title: str | None
    createdBy: str
    peerId: str | None  # DIRECT: the other member
    myRole: MemberRole | None  # your role in it
    memberCount: int  # the members themselves: ChatApi.members (paged)
    lastSeq: int
    unreadCount: int
    mutedUntil: str | None
    createdAt: str
    updatedAt: str
    lastMessage: Message | None
    unreadMentionCount: int  # unread messages that mention you


class MemberPage(TypedDict):
    items: list[Member]
    nextToken: str | None


class ConversationPage(TypedDict):
    items: list[Conversation]
    nextToken: str | None


class MembershipChange(TypedDict):
    conversationId: str
    action: Literal["ADDED", "REMOVED", "LEFT", "ROLE_CHANGED"]
    actorId: str
    userIds: list[str]
    role: MemberRole | None
    memberCount: int
    message: Message


class NotificationSettings(TypedDict):
    email: bool
    push: bool
    emailAddress: str | None
    emailAvailable: bool
    emailIncludesText: bool
    updatedAt: str | None


class User(TypedDict):
    id: str
    username: str | None
    displayName: str
    email: str | None
    avatarKey: str | None
    createdAt: str
    #: on ``me`` only (null elsewhere)
    notificationSettings: NotRequired[NotificationSettings | None]
    deletedAt: str | None  # a deleted account ("Deleted user")


class UserPage(TypedDict):
    items: list[User]
    nextToken: str | None


class Presence(TypedDict):
    userId: str
    online: bool
    lastSeen: str | None


class Receipt(TypedDict):
    conversationId: str
    userId: str
    kind: Literal["READ", "DELIVERED"]
    seq: int
    at: str


class MemberReceipt(TypedDict):
    userId: str
    readSeq: int
    deliveredSeq: int


class TypingEvent(TypedDict):
    conversationId: str
    userId: str
    typing: bool
    expiresAt: str


class Report(TypedDict, total=False):
    conversationId: str
    messageId: str
    reporterId: str
    reason: str
    createdAt: str
    message: Message | None  # reportedMessages only


class ReportPage(TypedDict):
    items: list[Report]
    nextToken: str | None


class UploadTicket(TypedDict):
    uploadId: str
    url: str
    fields: Any  # AWSJSON: a JSON string
    key: str
    expiresAt: str
    maxBytes: int


class MuteState(TypedDict):
    conversationId: str
    mutedUntil: str | None


class DeviceRegistration(TypedDict):
    platform: Literal["APNS", "APNS_SANDBOX", "GCM"]
    registered: bool


class UserEvent(TypedDict):
    userId: str
    type: Literal["MESSAGE", "ADDED_TO_CONVERSATION", "REMOVED_FROM_CONVERSATION", "CONVERSATION_RENAMED",
                  "PRESENCE", "MENTION"]
    conversationId: str | None
    seq: int | None
    senderId: str | None
    preview: str | None
    unreadCount: int | None
    title: str | None
    online: bool | None
    at: str | None
    unreadMentionCount: int | None  # (MENTION)


class BlockedUser(TypedDict):
    userId: str
    blockedAt: str


class Unblocked(TypedDict):
    userId: str
    wasBlocked: bool


class ConversationDeletion(TypedDict):
    """deleteConversation's answer: who deleted which conversation when (no content)."""

    conversationId: str
    kind: Literal["DIRECT", "GROUP"]
    deletedBy: str
    deletedAt: str
    memberCount: int


class AccountDeletion(TypedDict):
    userId: str
    status: Literal["RUNNING", "DONE"]
    eraseMessages: bool
    requestedAt: str
    completedAt: str | None
