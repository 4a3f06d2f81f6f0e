"""Domain services: the rules of conversations and messages. No AWS types leak out of here;
storage goes through :class:`~cloudchat.store.Store`, keys through
:class:`~cloudchat.crypto.KeyRing`, S3 through :class:`~cloudchat.services.media.MediaBucket`.

Authorization rule used everywhere: an operation on a conversation the caller is not a
member of (including one that does not exist) fails with ``Forbidden``, so ids cannot be
probed for existence.

:class:`ChatService` is the one entry point (``svc.send_message(...)``); it is composed of
one mixin per capability, each in its own module::

    _base          ServiceBase: the shared state (store, key ring, tokens, settings, clock,
                   media bucket, seq and key-version hints); iso(); the write rate limit
    _keys          CryptoService: data keys by version; a stored message made readable
    users          UsersService: profiles, the directory, presence
    conversations  ConversationsService: create, read, the caller's list
    media          MediaService: upload grants, attachment checks, lifecycle tags;
                   MediaBucket: every S3 call (presigned POST/GET, HeadObject, tagging)
    messages       MessagesService: send, pages, catch-up by seq, subscription rules
    threads        ThreadsService: a root message's replies
    changes        ChangesService: reactions, edits, deletes, edit history
    receipts       ReceiptsService: read/delivered markers, read receipts, typing
    members        MembersService: add, remove, leave, roles, rename; admins create users
    moderation     ModerationService: reports and their review
    notifications  NotificationsService: mute, mobile push devices
    blocks         BlocksService: block, unblock, the caller's blocks (and what a block does)
    search         SearchService: blind index tokens of message bodies, searchMessages
    deletion       DeletionService: deleteConversation (crypto-shredding)
    accounts       AccountsService: deleteAccount / adminDeleteUser, and the background
                   job's steps (run by the stream consumer, cloudchat.erasure)

A mixin inherits what it builds on (``MessagesService(MediaService)``,
``MembersService(ConversationsService)``, ...), so its bases say which other modules it may
use.
"""

from __future__ import annotations

from cloudchat.services._base import MESSAGES_DEFAULT_LIMIT, ServiceBase, iso, utc_now
from cloudchat.services._keys import CryptoService
from cloudchat.services.accounts import AccountsService
from cloudchat.services.blocks import BlocksService
from cloudchat.services.changes import ChangesService
from cloudchat.services.conversations import ConversationsService
from cloudchat.services.deletion import DeletionService
from cloudchat.services.media import (
    DOWNLOAD_SECONDS,
    INLINE_TYPES,
    MAX_ATTACHMENTS,
    UPLOAD_SECONDS,
    MediaBucket,
    MediaService,
)
from cloudchat.services.members import MembersService
from cloudchat.services.messages import SEND_ATTEMPTS, MessagesService
from cloudchat.services.moderation import ModerationService
from cloudchat.services.notifications import NotificationsService
from cloudchat.services.receipts import TYPING_TTL_SECONDS, ReceiptsService
from cloudchat.services.search import SearchService
from cloudchat.services.threads import ThreadsService
from cloudchat.services.users import UsersService

__all__ = [
    "DOWNLOAD_SECONDS", "INLINE_TYPES", "MAX_ATTACHMENTS", "MESSAGES_DEFAULT_LIMIT",
    "SEND_ATTEMPTS", "TYPING_TTL_SECONDS", "UPLOAD_SECONDS", "ChatService", "MediaBucket",
    "iso", "utc_now",
]


class ChatService(AccountsService, MembersService, ConversationsService, UsersService,
                  MessagesService, ChangesService, MediaService, ThreadsService, ModerationService,
                  SearchService, CryptoService, ReceiptsService, NotificationsService,
                  BlocksService, DeletionService, ServiceBase):
    """Every capability of the domain, over one store, key ring and token codec
    (``ChatService(store, keys, tokens, settings, clock=utc_now, s3=None)``)."""
