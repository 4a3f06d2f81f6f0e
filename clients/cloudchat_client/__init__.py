"""``cloudchat_client``: an async, typed Python client of the CloudChat API.

::

    from cloudchat_client import CloudChat

    async with CloudChat.from_outputs() as chat:   # or .from_stack(NAME) / .from_urls(URL, token=...)
        await chat.sign_in("alice", password)
        conversation = await chat.create_conversation([bob_id], title="Plans")
        await chat.send_message(conversation["id"], "hello")
        async with chat.follow(conversation["id"], after_seq=0) as messages:
            async for message in messages:
                print(message["seq"], message["body"])

Every query and mutation of schema.graphql is a method (``send_message``, ``messages_since``,
...) returning the TypedDicts of :mod:`cloudchat_client.types`; ``execute(name_or_text,
variables)`` runs any operation of ``operations.graphql`` (:func:`document`) or any GraphQL
text. Errors are :mod:`cloudchat_client.errors`, typed by the API's ``errorType``.

Private modules: ``_config`` (where the stack is), ``_tokens`` (Cognito sign-in and refresh),
``_transport`` (gql over HTTP and AppSync's WebSocket), ``_documents`` (operations.graphql),
``_sequence`` and ``_follow`` (ordered, deduplicated live delivery), ``_streams`` (async
iterators), ``_send`` (idempotent sends), ``_operations`` (the typed methods), ``_client``.
"""

from cloudchat_client import errors, types
from cloudchat_client._client import CloudChat
from cloudchat_client._config import (
    DEFAULT_OUTPUTS,
    Endpoint,
    endpoint_from_outputs,
    endpoint_from_stack,
    load_outputs_file,
)
from cloudchat_client._documents import MESSAGE_FIELDS, document, documents, fragment_fields
from cloudchat_client._follow import Backoff, Status
from cloudchat_client._send import new_client_message_id
from cloudchat_client._sequence import Delivery, Sequencer
from cloudchat_client._streams import Following, Messages, Subscription
from cloudchat_client._tokens import Authenticator, MemoryStore, Session, TokenStore
from cloudchat_client.errors import (
    ApiError,
    AuthError,
    BadRequest,
    CloudChatError,
    ConfigError,
    Conflict,
    Forbidden,
    IntegrityError,
    InternalFailure,
    NetworkError,
    NotFound,
    NotLoggedIn,
    RateLimited,
    StackUnreachable,
    Unauthorized,
)

__all__ = [
    "DEFAULT_OUTPUTS", "MESSAGE_FIELDS", "ApiError", "AuthError", "Authenticator", "Backoff", "BadRequest",
    "CloudChat", "CloudChatError", "ConfigError", "Conflict", "Delivery", "Endpoint", "Following",
    "Forbidden", "IntegrityError", "InternalFailure", "MemoryStore", "Messages", "NetworkError", "NotFound",
    "NotLoggedIn", "RateLimited", "Sequencer", "Session", "StackUnreachable", "Status", "Subscription",
    "TokenStore", "Unauthorized", "document", "documents", "endpoint_from_outputs", "endpoint_from_stack",
    "errors", "fragment_fields", "load_outputs_file", "new_client_message_id", "types",
]
__version__ = "0.1.0"
