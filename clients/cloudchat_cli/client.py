"""The CLI's selection of a Message, and the library's transports under their old names
(bench/soak.py imports them from here).

The CLI selects (and ``--json`` prints) these fields, a subset of operations.graphql's
``MessageFields``: its output format, which scripts and tests/cli rely on. The library and the
web client select the whole fragment.
"""

from cloudchat_client._transport import (
    AckingTransport,
    Api,
    Event,
    EventError,
    RealtimeConnection,
    api_error,
    is_network_error,
)

__all__ = ["MESSAGE_FIELDS", "AckingTransport", "Api", "Event", "EventError", "RealtimeConnection",
           "api_error", "is_network_error"]

MESSAGE_FIELDS = (
    "id conversationId seq senderId kind body createdAt clientMessageId version parentId "
    "replyCount reactions { emoji count userIds } editedAt deletedAt"
)
