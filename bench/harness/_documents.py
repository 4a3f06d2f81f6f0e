"""Every GraphQL document the benchmarks send, in one place: one ``Message`` fragment that
``sendMessage``, ``onMessage`` and ``messagesSince`` all select (the benchmarks compare what is
sent with what is delivered and stored, so the selections must be the same)."""

from __future__ import annotations

MESSAGE_FIELDS = """
fragment MessageFields on Message {
  id conversationId seq senderId kind body createdAt clientMessageId version
  parentId replyCount lastReplyAt replyUserIds
  reactions { emoji count userIds reactedByMe }
  editedAt deletedAt deletedBy
}"""

ME = "query { me { id } }"
CREATE_CONVERSATION = (
    "mutation C($input: CreateConversationInput!) { createConversation(input: $input) { id kind } }"
)
SEND_MESSAGE = (
    "mutation Send($input: SendMessageInput!) { sendMessage(input: $input) { ...MessageFields } }"
    + MESSAGE_FIELDS
)
ON_MESSAGE = (
    "subscription OnMessage($conversationId: ID!) "
    "{ onMessage(conversationId: $conversationId) { ...MessageFields } }" + MESSAGE_FIELDS
)
MESSAGES_SINCE = (
    "query Since($c: ID!, $after: Int!, $limit: Int) { messagesSince(conversationId: $c, "
    "afterSeq: $after, limit: $limit) { items { ...MessageFields } nextToken } }" + MESSAGE_FIELDS
)
ON_USER_EVENT = (
    "subscription OnUserEvent($userId: ID!) { onUserEvent(userId: $userId) "
    "{ userId type conversationId seq senderId preview unreadCount at } }"
)

# bench/realtime/echo.graphql, the engine and simulator modes' schema
ECHO = "mutation Echo($input: EchoInput!) { echo(input: $input) { channel seq body clientId } }"
ON_ECHO = "subscription OnEcho($channel: ID!) { onEcho(channel: $channel) { channel seq body clientId } }"

#: ~60-character message bodies: ``f"{key} {BODY_PAD}"``
BODY_PAD = "lorem ipsum dolor sit amet " * 2
