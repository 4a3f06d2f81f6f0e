"""The DynamoDB store: the only code that knows table keys and item layouts.

One table (see DESIGN.md), keys ``PK``/``SK``; GSI1 lists a user's conversations by last
activity; GSI2 is the user directory (and the reports); GSI3 indexes thread replies;
``expiresAt`` is the TTL attribute. :class:`Store` is one object made of a part per
aggregate, all on one base; services and the stream consumer use only what is here.

The map of the package (private modules, each readable in one sitting):

==========================  =================================================================
``_keys``                   every PK/SK/GSI key format (the table of items is its docstring)
``_codec``                  AttributeValues <-> Python values, records <-> items, item sizes,
                            the binding of message bodies
``_stream``                 stream images as typed records (:func:`decode_stream_image`), for
                            the stream consumer (:mod:`cloudchat.fanout`)
``_images``                 the image cache of message items (:class:`_Images`)
``_records``                what conditional writes answer (:class:`AppendOutcome`, ...)
``_base``                   client, BatchGetItem, TransactWriteItems and their failures, the
                            member check
``_rates``                  per-user rate logs (:class:`Rate`), one write in the metered transaction
``_users``                  profiles, directory, presence
``_conversations``          conversations, a user's memberships (GSI1) and contacts
``_messages``               the conditional append, send guards, reads by seq
``_message_writes``         react, edit, delete (conditioned on the remembered image)
``_members``                membership changes, read/delivered markers, typing, member list,
                            list positions, thread index
``_member_pages``           the member list by pages, large addMembers' later chunks
``_moderation``             reports
``_uploads``                upload grants
``_notifications``          mutes, notification claims, push devices
``_mentions``               the membership check of a send's mentions; unread mentions
``_blocks``                 blocks: pair items (checked inside the writes they forbid) and
                            each user's block set (read with a message page)
``_search``                 the blind search index: postings written with each message write
                            (at most 40 in its transaction, the rest queued for the consumer)
``_deletion``               deleting a conversation (the crypto-shredding transaction, the
                            audit record) and the purge of its items
``_accounts``               account deletion: the request's transaction, the background job
``_large``                  large conversations: fan-out state, large-membership markers,
                            online members, the notification sweep's claim
==========================  =================================================================

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

from typing import TYPE_CHECKING, Any

from cloudchat.errors import BlockedPairs, DirectExists, RateExceeded
from cloudchat.store._accounts import DELETED_NAME, AccountsStore
from cloudchat.store._blocks import MAX_BLOCKS, BlocksStore
from cloudchat.store._codec import ITEM_SIZE_BUDGET, binding, item_size
from cloudchat.store._conversations import ConversationsStore
from cloudchat.store._deletion import DeleteOutcome, DeletionStore, PurgePage
from cloudchat.store._images import _Images
from cloudchat.store._keys import activity_key as list_key
from cloudchat.store._large import FanoutState, LargeStore
from cloudchat.store._member_pages import CHUNK_USERS, MemberPagesStore
from cloudchat.store._members import MembersStore, counts_after
from cloudchat.store._mentions import MentionsStore
from cloudchat.store._message_writes import MessageWritesStore
from cloudchat.store._moderation import ModerationStore
from cloudchat.store._notifications import NotificationsStore
from cloudchat.store._rates import RATE_LOG_SLOTS, Rate
from cloudchat.store._records import AppendOutcome, SendGuard, WriteOutcome
from cloudchat.store._search import TX_INDEX_ACTIONS, Posting
from cloudchat.store._uploads import UploadsStore
from cloudchat.store._users import UsersStore

if TYPE_CHECKING:  # (loaded on first use by __getattr__ below)
    from cloudchat.store._stream import (
        AccountDeletionImage,
        ConversationImage,
        DeletionImage,
        MessageImage,
        PresenceImage,
        StreamImage,
        decode_stream_image,
        stream_partition,
    )

__all__ = [
    "CHUNK_USERS",
    "DELETED_NAME",
    "ITEM_SIZE_BUDGET",
    "MAX_BLOCKS",
    "RATE_LOG_SLOTS",
    "TX_INDEX_ACTIONS",
    "AccountDeletionImage",
    "AppendOutcome",
    "BlockedPairs",
    "ConversationImage",
    "DeleteOutcome",
    "DeletionImage",
    "DirectExists",
    "FanoutState",
    "MessageImage",
    "Posting",
    "PresenceImage",
    "PurgePage",
    "Rate",
    "RateExceeded",
    "SendGuard",
    "Store",
    "StreamImage",
    "WriteOutcome",
    "_Images",
    "binding",
    "counts_after",
    "decode_stream_image",
    "item_size",
    "list_key",
    "stream_partition",
]

#: the stream images (``_stream``): only the stream consumer reads them, so a resolver's cold
#: start does not build their five record classes (bench/cold_start.py)
_STREAM_NAMES = frozenset({"AccountDeletionImage", "ConversationImage", "DeletionImage", "MessageImage",
                           "PresenceImage", "StreamImage", "decode_stream_image", "stream_partition"})


def __getattr__(name: str) -> Any:
    if name in _STREAM_NAMES:
        from cloudchat.store import _stream

        return getattr(_stream, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Store(UsersStore, ConversationsStore, MessageWritesStore, MembersStore, ModerationStore,
            UploadsStore, NotificationsStore, MentionsStore, BlocksStore, DeletionStore,
            AccountsStore, LargeStore, MemberPagesStore):
    """The table, one part per aggregate (see the map above)."""
