"""Moved to :mod:`cloudchat_client` (the transports are ``cloudchat_client._transport``); this
name stays until bench/soak.py imports the library instead."""

from cloudchat_client._transport import (
    MESSAGE_FIELDS,
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
