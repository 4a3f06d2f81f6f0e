"""Every GraphQL document the benchmarks send, in one place. The API's are the client
library's (``cloudchat_client.document``, from ``operations.graphql``): ``sendMessage``,
``onMessage`` and ``messagesSince`` all select the one ``MessageFields`` fragment, as the web
client does (the benchmarks compare what is sent with what is delivered and stored, so the
selections must be the same). Only the echo schema's documents are bench's own."""

from __future__ import annotations

from cloudchat_client import document

ME = document("Me")
CREATE_CONVERSATION = document("CreateConversation")
SEND_MESSAGE = document("SendMessage")
ON_MESSAGE = document("OnMessage")
#: variables ``conversationId``, ``afterSeq``, ``limit``
MESSAGES_SINCE = document("MessagesSince")
ON_USER_EVENT = document("OnUserEvent")
#: The ``MessageFields`` fragment's text, as each message document carries it.
MESSAGE_FIELDS = SEND_MESSAGE[SEND_MESSAGE.index("fragment MessageFields on Message"):]

# bench/realtime/echo.graphql, the engine and simulator modes' schema
ECHO = "mutation Echo($input: EchoInput!) { echo(input: $input) { channel seq body clientId } }"
ON_ECHO = "subscription OnEcho($channel: ID!) { onEcho(channel: $channel) { channel seq body clientId } }"

#: ~60-character message bodies: ``f"{key} {BODY_PAD}"``
BODY_PAD = "lorem ipsum dolor sit amet " * 2
