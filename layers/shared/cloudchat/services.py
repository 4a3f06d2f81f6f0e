"""Domain services: the rules of conversations and messages. No AWS types leak out of here;
storage goes through :class:`~cloudchat.store.Store`, keys through :class:`~cloudchat.crypto.KeyRing`.

Authorization rule used everywhere: an operation on a conversation the caller is not a
member of (including one that does not exist) fails with ``Forbidden``, so ids cannot be
probed for existence.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cloudchat import ids, validation
from cloudchat.config import Settings
from cloudchat.crypto import KeyRing, open_sealed, seal
from cloudchat.errors import BadRequest, Conflict, Forbidden, NotFound, RateLimited
from cloudchat.models import (
    Attachment,
    BodyVersion,
    Caller,
    Conversation,
    ConversationView,
    Kind,
    Member,
    MembershipChange,
    Message,
    MessageKind,
    MessageVersion,
    Page,
    ReceiptEvent,
    Role,
    StoredMessage,
    TypingEvent,
    Upload,
    UploadStatus,
    User,
)
from cloudchat.store import DirectExists, Rate, RateExceeded, SendGuard, Store, WriteOutcome, binding
from cloudchat.tokens import TokenCodec

SEND_ATTEMPTS = 25
MAX_ATTACHMENTS = 10
UPLOAD_SECONDS = 300
DOWNLOAD_SECONDS = 300
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MESSAGES_DEFAULT_LIMIT = 50
TYPING_TTL_SECONDS = 6
_NOT_MEMBER = "you are not a member of this conversation"
_PENDING_TAGGING = ("<Tagging><TagSet><Tag><Key>state</Key><Value>pending</Value></Tag>"
                    "</TagSet></Tagging>")


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _send_digest(key: bytes, text: str, parent: str | None, upload_ids: list[str]) -> bytes:
    """What a send's clientMessageId names: its body, parent and attachments, as an HMAC
    keyed with the conversation's data key (a plain hash of a short body could be guessed)."""
    payload = json.dumps({"b": text, "p": parent, "a": upload_ids}, ensure_ascii=False,
                         separators=(",", ":"), sort_keys=True)
    return hmac.new(key, b"cloudchat/send/v1\0" + payload.encode(), hashlib.sha256).digest()


class _Bounded(OrderedDict[str, int]):
    """A small LRU map of hints (last known seq per conversation)."""

    def __init__(self, cap: int = 10_000) -> None:
        super().__init__()
        self._cap = cap
        self._lock = threading.Lock()

    def note(self, key: str, value: int) -> None:
        with self._lock:
            if value >= self.get(key, -1):
                self[key] = value
                self.move_to_end(key)
            while len(self) > self._cap:
                self.popitem(last=False)


class _Attached(BadRequest):
    """An attachment is on a message already (perhaps this very send's: a retry)."""

    def __init__(self, upload_id: str, message_id: str | None) -> None:
        super().__init__(f"attachment {upload_id} is already on another message")
        self.message_id = message_id


class ChatService:
    def __init__(self, store: Store, keys: KeyRing, tokens: TokenCodec, settings: Settings,
                 clock: Callable[[], datetime] = utc_now,
                 s3: Callable[[], object] | None = None) -> None:
        self._s3 = s3
        self.store = store
        self.keys = keys
        self.tokens = tokens
        self.settings = settings
        self.clock = clock
        self._seq_hint = _Bounded()
        self._key_version: dict[str, int] = {}
        self._known_profiles: set[str] = set()

    # ------------------------------------------------------------------ users
    def ensure_profile(self, caller: Caller) -> None:
        """Creates the caller's profile if missing (the PostConfirmation trigger's job in AWS;
        moto never runs triggers). One conditional write per user per process, then free."""
        if caller.user_id in self._known_profiles:
            return
        self.store.put_profile_if_absent(self._profile_from_claims(caller))
        self._known_profiles.add(caller.user_id)

    def _profile_from_claims(self, caller: Caller) -> User:
        claims = caller.claims
        email = claims.get("email")
        name = claims.get("name") or claims.get("preferred_username")
        if not name and isinstance(email, str):
            name = email.split("@", 1)[0]
        return User(id=caller.user_id, display_name=str(name or caller.username or caller.user_id),
                    created_at=iso(self.clock()), username=caller.username,
                    email=email if isinstance(email, str) else None)

    def me(self, caller: Caller) -> User:
        user = self.store.get_profile(caller.user_id)
        if user is None:
            user = self._profile_from_claims(caller)
            self.store.put_profile_if_absent(user)
            self._known_profiles.add(caller.user_id)
        return user

    def create_profile(self, user_id: str, attributes: dict[str, str], username: str | None) -> bool:
        """The Cognito PostConfirmation trigger's work: the profile from the user's attributes."""
        email = attributes.get("email")
        name = attributes.get("name") or attributes.get("preferred_username")
        if not name and email:
            name = email.split("@", 1)[0]
        user = User(id=user_id, display_name=str(name or username or user_id)[:64],
                    created_at=iso(self.clock()), username=username, email=email)
        created = self.store.put_profile_if_absent(user)
        self._known_profiles.add(user_id)
        return created

    def update_profile(self, caller: Caller, display_name: object, avatar_key: object) -> User:
        name = None
        if display_name is not None:
            name = validation.display_name(display_name)
        key = None
        clear = False
        if avatar_key is not None:
            if avatar_key == "":
                clear = True
            else:
                key = validation.avatar_key(avatar_key, caller.user_id)
        if name is None and key is None and not clear:
            raise BadRequest("nothing to update: give displayName and/or avatarKey")
        self.ensure_profile(caller)
        user = self.store.update_profile(caller.user_id, name, key, clear)
        if user is None:  # pragma: no cover - ensure_profile just created it
            raise NotFound("profile not found")
        return user

    def users(self, caller: Caller, query: object, limit: int | None,
              next_token: str | None) -> tuple[list[User], str | None]:
        """The directory: by display-name prefix, or by email prefix when the query has '@'.
        Never a scan: one index query per page."""
        q = "" if query is None else query
        if not isinstance(q, str) or len(q) > 64:
            raise BadRequest("query must be at most 64 characters")
        q = q.strip()
        by_email = "@" in q
        n = validation.limit(limit)
        scope = f"{'email' if by_email else 'name'}:{q.casefold()}"
        start = None
        if next_token is not None:
            start = self.tokens.open(next_token, user_id=caller.user_id, operation="users",
                                     scope=scope).get("k")
            if not isinstance(start, dict):
                raise BadRequest("nextToken is invalid")
        users, cursor = self.store.directory(by_email, q, n, start)
        token = (self.tokens.seal({"k": cursor}, user_id=caller.user_id, operation="users",
                                  scope=scope) if cursor else None)
        return users, token

    def users_by_ids(self, caller: Caller, user_ids: object) -> list[User]:
        """Profiles by id (one BatchGetItem), in the order asked, unknown ids left out. Like
        the directory, names are visible to every signed-in user; emails only to their
        owner (views.user)."""
        wanted = validation.user_ids(user_ids, "ids")
        found = self.store.profiles(wanted)
        return [found[u] for u in wanted if u in found]

    PRESENCE_ONLINE_SECONDS = 60
    PRESENCE_TTL_SECONDS = 24 * 3600

    def heartbeat(self, caller: Caller) -> dict[str, object]:
        now = self.clock()
        self.store.touch_presence(caller.user_id, iso(now),
                                  int(now.timestamp()) + self.PRESENCE_TTL_SECONDS)
        return {"userId": caller.user_id, "online": True, "lastSeen": iso(now)}

    def presence(self, caller: Caller, user_ids: object) -> list[dict[str, object]]:
        """Online state of people who share a conversation with the caller (only them)."""
        wanted = validation.user_ids(user_ids, "userIds")
        strangers = set(wanted) - self.store.contacts(caller.user_id)
        if strangers:
            raise Forbidden("presence is visible only for people you share a conversation with",
                            info={"userIds": sorted(strangers)})
        seen = self.store.presence(wanted)
        cutoff = iso(datetime.fromtimestamp(self.clock().timestamp()
                                            - self.PRESENCE_ONLINE_SECONDS, UTC))
        return [{"userId": u, "lastSeen": seen.get(u), "online": seen.get(u, "") >= cutoff}
                for u in wanted]

    # ------------------------------------------------------------------ conversations
    def create_conversation(self, caller: Caller, member_ids: object,
                            title: object = None) -> ConversationView:
        if not isinstance(member_ids, list):
            raise BadRequest("memberIds must be a list of user ids")
        others = list(dict.fromkeys(validation.user_id(m) for m in member_ids))
        others = [m for m in others if m != caller.user_id]
        clean_title = validation.title(title)
        if not others:
            raise BadRequest("memberIds must name at least one other user")
        if len(others) + 1 > self.settings.max_group_members:
            raise BadRequest(
                f"a conversation has at most {self.settings.max_group_members} members")
        kind = Kind.DIRECT if len(others) == 1 and clean_title is None else Kind.GROUP
        pair = (caller.user_id, others[0]) if kind is Kind.DIRECT else None
        self.ensure_profile(caller)
        users, existing = self.store.profiles_and_direct(others, pair)
        unknown = [m for m in others if m not in users]
        if unknown:
            raise BadRequest("unknown member ids: " + ", ".join(unknown),
                             info={"unknownIds": unknown})
        if existing:
            return self._existing_direct(caller, existing)

        now = iso(self.clock())
        cid = ids.new_id()
        roles = {caller.user_id: Role.OWNER, **{m: Role.MEMBER for m in others}}
        conv = Conversation(id=cid, kind=kind, title=clean_title, created_by=caller.user_id,
                            created_at=now, updated_at=now, members=roles,
                            wrapped_key=self.keys.create(cid))
        members = [Member(conversation_id=cid, user_id=u, role=r, joined_at=now,
                          last_activity=now) for u, r in roles.items()]
        try:
            self.store.create_conversation(conv, members, pair, rate=self._write_rate())
        except RateExceeded as exc:
            self.keys.forget(cid)
            raise self._too_many_writes(exc) from None
        except DirectExists as exc:
            self.keys.forget(cid)
            return self._existing_direct(caller, exc.conversation_id)
        self._key_version[cid] = conv.key_version
        self._seq_hint.note(cid, 0)
        me = next(m for m in members if m.user_id == caller.user_id)
        return ConversationView(conv, me, None)

    def _existing_direct(self, caller: Caller, conversation_id: str) -> ConversationView:
        view = self.conversation(caller, conversation_id)
        return view

    def conversation(self, caller: Caller, conversation_id: object) -> ConversationView:
        cid = ids.require_ulid(conversation_id, "conversation id")
        conv, member = self.store.conversation_and_member(cid, caller.user_id)
        if conv is None or member is None:
            raise Forbidden("you are not a member of this conversation")
        return self._view(conv, member)

    def conversations(self, caller: Caller, limit: int | None,
                      next_token: str | None) -> Page:
        n = validation.limit(limit)
        start = None
        if next_token is not None:
            start = self.tokens.open(next_token, user_id=caller.user_id, operation="conversations")
            start = start.get("k")
            if not isinstance(start, dict):
                raise BadRequest("nextToken is invalid")
        # GSI1 (eventually consistent) gives the order and the candidates; the batch get
        # (strongly consistent, on the table) decides: a membership that ended is left out,
        # and unread counts and the last message use the member item as it is now.
        members, more = self.store.memberships(caller.user_id, n, start)
        current = self.store.conversations_of(caller.user_id,
                                              [m.conversation_id for m in members])
        items = [self._view(*current[m.conversation_id]) for m in members
                 if m.conversation_id in current]
        token = None
        if more and members:
            token = self.tokens.seal({"k": self.store.membership_cursor(members[-1])},
                                     user_id=caller.user_id, operation="conversations")
        return Page(items, token)

    def _view(self, conv: Conversation, member: Member) -> ConversationView:
        self._seq_hint.note(conv.id, conv.last_seq)
        self._key_version[conv.id] = conv.key_version
        last = None
        if conv.last_message is not None and conv.last_message.seq > member.joined_seq:
            last = self._decrypt(conv.last_message, conv)
        return ConversationView(conv, member, last)

    # ------------------------------------------------------------------ messages
    def send_message(self, caller: Caller, conversation_id: object, body: object,
                     client_message_id: object, parent_id: object = None,
                     attachments: object = None) -> Message:
        cid = ids.require_ulid(conversation_id, "conversationId")
        upload_ids = self._attachment_ids(attachments)
        if upload_ids and (body is None or (isinstance(body, str) and not body.strip())):
            text = ""  # a message may be only attachments
        else:
            text = validation.body(body, self.settings.max_body_chars)
        cmid = validation.client_message_id(client_message_id)
        parent = None
        if parent_id is not None:
            parent = ids.require_ulid(parent_id, "parentId")
            ids.seq_of_message_id(parent)

        kv = self._key_version.get(cid)
        key = self.keys.cached(cid, kv) if kv is not None else None
        prev = self._seq_hint.get(cid)
        if key is None or prev is None:
            conv = self.store.get_conversation(cid)
            if conv is None:
                raise Forbidden("you are not a member of this conversation")
            kv = conv.key_version
            key = self.keys.key(cid, kv, conv.wrapped_key)
            self._key_version[cid] = kv
            prev = conv.last_seq
        assert kv is not None

        def digest_with(k: bytes) -> bytes:  # the request's parent, before any re-rooting
            return _send_digest(k, text, asked_parent, upload_ids)

        asked_parent = parent
        digest = (digest_with(key), kv)
        try:
            files = self._verified_uploads(caller, cid, upload_ids, key, kv) if upload_ids else []
        except _Attached as exc:
            resent = self._sent_before(cid, caller.user_id, cmid, exc.message_id, digest,
                                       digest_with)
            if resent is None:
                raise
            return resent  # a client's retry of this very send
        kind = MessageKind.TEXT
        if files:
            kind = (MessageKind.IMAGE if all(f.content_type.startswith("image/") for f in files)
                    else MessageKind.FILE)
        now = self.clock()
        rate = Rate("SEND", self.settings.send_rate_per_minute, int(now.timestamp() * 1000))
        for attempt in range(SEND_ATTEMPTS):
            seq = prev + 1
            if parent is not None and ids.seq_of_message_id(parent) >= seq:
                raise NotFound("the message replied to does not exist in this conversation")
            mid = ids.new_message_id(seq, int(now.timestamp() * 1000))
            msg = StoredMessage(
                conversation_id=cid, seq=seq, id=mid, sender_id=caller.user_id,
                kind=kind, created_at=iso(now), client_message_id=cmid, sealed=None,
                parent_id=parent, attachments=files,
            )
            msg.sealed = seal(key, text, conversation_id=cid, message_id=mid, key_version=kv,
                              binding=binding(msg))
            out = self.store.append_message(msg, prev_seq=prev, now=iso(now),
                                            now_epoch=int(now.timestamp()), rate=rate,
                                            digest=digest)
            if out.stored:
                self._seq_hint.note(cid, seq)
                # Only a committed send moves its objects out of `pending` (a refused one
                # leaves them to the lifecycle rule). Should S3 fail here, the client's
                # retry (same clientMessageId) answers this message and tags them again.
                self._mark_attached(files)
                return self._plain(msg, text, key)
            if out.not_member:
                raise Forbidden(_NOT_MEMBER)
            if out.rate_limited:
                raise RateLimited(
                    f"at most {self.settings.send_rate_per_minute} messages a minute; slow down",
                    info={"retryAfterSeconds": out.retry_after})
            if out.parent_missing:
                raise NotFound("the message replied to does not exist in this conversation")
            if out.parent_root is not None:
                parent = out.parent_root  # a reply to a reply joins the root's thread
                continue
            if out.upload_taken:
                raise BadRequest("an attachment is already on another message, or not yours")
            if out.duplicate_seq is not None:
                self._same_payload(cid, out.duplicate_guard, digest, digest_with)
                original = self.store.get_message(cid, out.duplicate_seq)
                if original is None:  # pragma: no cover - guard without message cannot commit
                    raise Conflict("the original message could not be read; retry")
                return self._decrypt(original, None)
            if out.current_seq is not None:
                prev = out.current_seq
                self._seq_hint.note(cid, prev)
            else:
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise Conflict("the conversation is too busy right now; retry the send")

    def messages(self, caller: Caller, conversation_id: object, limit: int | None,
                 next_token: str | None) -> Page:
        """Newest first. With a nextToken, one BatchGetItem (member check + the page)."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        n = validation.limit(limit, MESSAGES_DEFAULT_LIMIT)
        if next_token is not None:
            pos = self.tokens.open(next_token, user_id=caller.user_id, operation="messages",
                                   scope=cid)
            before = pos.get("b")
            if not isinstance(before, int) or before < 1:
                raise BadRequest("nextToken is invalid")
            seqs = list(range(max(1, before - n), before))
            member, conv, found = self.store.read_messages(
                cid, caller.user_id, seqs, with_conversation=not self._key_cached(cid))
            if member is None:
                raise Forbidden("you are not a member of this conversation")
            top = before - 1
        else:
            hint = self._seq_hint.get(cid)
            guess = list(range(max(1, hint - n + 1), hint + 1)) if hint else []
            member, conv, found = self.store.read_messages(
                cid, caller.user_id, guess, with_conversation=True)
            if member is None or conv is None:
                raise Forbidden("you are not a member of this conversation")
            top = conv.last_seq
            self._seq_hint.note(cid, top)
            self._key_version[cid] = conv.key_version
            wanted = [s for s in range(max(1, top - n + 1), top + 1) if s not in found]
            if wanted:
                _, _, more = self.store.read_messages(cid, caller.user_id, wanted,
                                                      with_conversation=False)
                found.update(more)
        floor = member.joined_seq + 1
        seqs_desc = [s for s in range(top, max(floor, top - n + 1) - 1, -1) if s in found]
        items = [self._decrypt(found[s], conv) for s in seqs_desc]
        token = None
        lowest = seqs_desc[-1] if seqs_desc else None
        if lowest is not None and lowest > floor:
            token = self.tokens.seal({"b": lowest}, user_id=caller.user_id,
                                     operation="messages", scope=cid)
        return Page(items, token)

    def messages_since(self, caller: Caller, conversation_id: object, after_seq: object,
                       limit: int | None) -> Page:
        """Oldest first, seq > afterSeq, contiguous. One BatchGetItem (up to 98 messages)."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        after = validation.seq(after_seq, "afterSeq")
        n = validation.limit(limit, MESSAGES_DEFAULT_LIMIT)
        member, conv, found = self.store.read_messages(
            cid, caller.user_id, range(after + 1, after + n + 1), with_conversation=True)
        if member is None or conv is None:
            raise Forbidden("you are not a member of this conversation")
        self._seq_hint.note(cid, conv.last_seq)
        self._key_version[cid] = conv.key_version
        items = []
        for s in range(max(after, member.joined_seq) + 1, after + n + 1):
            if s not in found:
                break
            items.append(self._decrypt(found[s], conv))
        return Page(items, None)

    def authorize_subscription(self, caller: Caller, conversation_id: object) -> Member:
        """Members only (one GetItem); the member, whose ``joined_seq`` bounds what they see."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        member = self.store.get_member(cid, caller.user_id)
        if member is None:
            raise Forbidden("you are not a member of this conversation")
        return member

    def subscription_rules(self, caller: Caller, conversation_id: object, *,
                           after_joining: bool = False) -> dict[str, Any]:
        """Authorizes a subscription on a conversation (members only, one GetItem) and returns
        the rules appsync/subscribe.js sets on it:

        - ``invalidation``: an invalidation filter matching the payload appsync/revoke.js sends
          when this member is removed or leaves, so the open subscription is closed then;
        - ``filter`` (``after_joining``): an enhanced filter, this conversation's events about
          messages after the member joined only. Subscribers get the publishing mutation's
          selection, so without it a reaction to (or edit of) an older message would carry
          that message's body to members who joined after it."""
        member = self.authorize_subscription(caller, conversation_id)
        cid = member.conversation_id
        rules: dict[str, Any] = {
            "invalidation": {"conversationId": {"eq": cid}, "userId": {"eq": caller.user_id}}}
        if after_joining:
            rules["filter"] = {"conversationId": {"eq": cid}, "seq": {"gt": member.joined_seq}}
        return rules

    # ------------------------------------------------------------------ crypto helpers
    def reveal(self, stored: StoredMessage) -> Message:
        """The decrypted message (server-side use: fan-out previews)."""
        return self._decrypt(stored, None)

    def _key_cached(self, cid: str) -> bool:
        kv = self._key_version.get(cid)
        return kv is not None and self.keys.cached(cid, kv) is not None

    def _decrypt(self, stored: StoredMessage, conv: Conversation | None) -> Message:
        if stored.sealed is None:
            return self._plain(stored, None)
        kv = stored.sealed.key_version
        key = self.keys.cached(stored.conversation_id, kv)
        if key is None:
            conv = conv or self.store.get_conversation(stored.conversation_id)
            if conv is None:
                raise Forbidden("you are not a member of this conversation")
            key = self.keys.key(stored.conversation_id, kv, conv.wrapped_key)
        body = open_sealed(key, stored.sealed, conversation_id=stored.conversation_id,
                           message_id=stored.id, binding=binding(stored))
        return self._plain(stored, body, key)

    def _plain(self, m: StoredMessage, body: str | None, key: bytes | None = None) -> Message:
        return Message(attachments=[] if m.deleted_at else self._reveal_files(m, key),
                       id=m.id, conversation_id=m.conversation_id, seq=m.seq,
                       sender_id=m.sender_id, kind=m.kind, body=None if m.deleted_at else body,
                       created_at=m.created_at, client_message_id=m.client_message_id,
                       version=m.version, parent_id=m.parent_id, reply_count=m.reply_count,
                       last_reply_at=m.last_reply_at, reply_users=m.reply_users,
                       reactions={} if m.deleted_at else dict(m.reactions),
                       edited_at=m.edited_at, deleted_at=m.deleted_at, deleted_by=m.deleted_by)

    # ------------------------------------------------------------------ message changes
    def _addressed(self, conversation_id: object, message_id: object) -> tuple[str, str, int]:
        cid = ids.require_ulid(conversation_id, "conversationId")
        mid = ids.require_ulid(message_id, "messageId")
        return cid, mid, ids.seq_of_message_id(mid)

    @staticmethod
    def _raise_refused(out: WriteOutcome) -> None:
        if out.not_member:
            raise Forbidden(_NOT_MEMBER)
        if out.missing:
            raise NotFound("message not found in this conversation")
        if out.deleted:
            raise Conflict("the message was deleted")
        if out.retry:
            raise Conflict("the message is being changed concurrently; retry")
        if out.too_large:
            raise BadRequest("this message has reached the storage limit for one message "
                             "(400 KB): it takes no more edits or reactions")

    def react(self, caller: Caller, conversation_id: object, message_id: object, emoji: object,
              *, add: bool) -> Message:
        """Adds (or removes) the caller's reaction; repeating either is a no-op."""
        cid, mid, seq = self._addressed(conversation_id, message_id)
        e = validation.emoji(emoji)
        out = self.store.react(cid, seq, mid, caller.user_id, e, add=add,
                               max_kinds=self.settings.max_reaction_kinds)
        if out.message is None:
            self._raise_refused(out)
            if out.limit:
                raise BadRequest(
                    f"a message can have at most {self.settings.max_reaction_kinds} different reactions")
            raise Conflict("the message is being changed concurrently; retry")
        return self._decrypt(out.message, None)

    def edit_message(self, caller: Caller, conversation_id: object, message_id: object,
                     body: object, expected_version: object) -> Message:
        cid, mid, seq = self._addressed(conversation_id, message_id)
        text = validation.body(body, self.settings.max_body_chars)
        version = validation.positive_seq(expected_version, "expectedVersion")
        key, kv = self._current_key(cid)
        now = self.clock()
        window = self.settings.edit_window_seconds

        def sealed(current: StoredMessage) -> BodyVersion:
            """The new version, bound like the message it is appended to (whose current
            body must itself open: an edit never vouches for a tampered message)."""
            if current.sealed is not None:
                open_sealed(self._key_for(cid, current.sealed.key_version), current.sealed,
                            conversation_id=cid, message_id=mid, binding=binding(current))
            return BodyVersion(seal(key, text, conversation_id=cid, message_id=mid,
                                    key_version=kv, version=version + 1,
                                    binding=binding(current)), iso(now))

        out = self.store.edit_message(
            cid, seq, mid, caller.user_id, sealed,
            expected_version=version, not_before=iso(datetime.fromtimestamp(
                now.timestamp() - window, UTC)), max_versions=self.settings.max_edits + 1,
            last_seq_hint=self._seq_hint.get(cid))
        if not out.ok:
            self._raise_refused(out)
            old = out.old
            if out.not_allowed and old is not None and old.kind is MessageKind.SYSTEM:
                raise Forbidden("system messages cannot be edited")
            if out.not_allowed and old is not None and old.sender_id != caller.user_id:
                raise Forbidden("only the author can edit a message")
            if out.not_allowed:
                raise Forbidden(f"messages can be edited for {window} seconds after sending")
            if out.stale and old is not None:
                raise Conflict("the message was changed since you read it",
                               info={"currentVersion": old.version})
            raise BadRequest(f"a message can be edited at most {self.settings.max_edits} times")
        if out.message is None:  # pragma: no cover - an ok write always carries its message
            raise Conflict("the message is being changed concurrently; retry")
        return self._decrypt(out.message, None)

    def delete_message(self, caller: Caller, conversation_id: object,
                       message_id: object) -> Message:
        """The author, a conversation owner/admin, or a global moderator/admin may delete;
        SYSTEM messages only a moderator (the audit entry records every delete). One
        transaction destroys every ciphertext of the message; then its S3 objects are
        tagged `pending`, which the bucket's lifecycle rule expires. Should S3 fail then,
        a retried delete (answered Conflict: it is deleted) tags them again."""
        cid, mid, seq = self._addressed(conversation_id, message_id)
        out = self.store.delete_message(
            cid, seq, mid, caller.user_id, moderator=caller.is_moderator,
            member_roles=(Role.OWNER, Role.ADMIN), at=iso(self.clock()),
            last_seq_hint=self._seq_hint.get(cid))
        if out.purge:
            self._tag(out.purge, "pending")
        if not out.ok:
            self._raise_refused(out)
            if out.old is not None and out.old.kind is MessageKind.SYSTEM:
                raise Forbidden("system messages cannot be deleted by members; "
                                "a moderator can")
            raise Forbidden("only the author, a conversation owner or admin, or a "
                            "moderator can delete this message")
        if out.message is None:  # pragma: no cover - an ok write always carries its message
            raise Conflict("the message is being changed concurrently; retry")
        return self._plain(out.message, None)

    def edit_history(self, caller: Caller, conversation_id: object,
                     message_id: object) -> list[MessageVersion]:
        """Every body version, oldest first: for the author and conversation owners/admins."""
        cid, mid, seq = self._addressed(conversation_id, message_id)
        stored, member = self.store.message_and_member(cid, seq, caller.user_id)
        if member is None:
            raise Forbidden(_NOT_MEMBER)
        if stored is None or stored.id != mid or stored.seq <= member.joined_seq:
            raise NotFound("message not found in this conversation")  # (or from before they joined)
        if stored.sender_id != caller.user_id and member.role not in (Role.OWNER, Role.ADMIN):
            raise Forbidden("only the author and conversation owners or admins see edit history")
        if stored.deleted_at or stored.sealed is None:
            return []
        versions = [*stored.history, BodyVersion(stored.sealed, stored.edited_at or stored.created_at)]
        key_for = lambda kv: self._key_for(cid, kv)  # noqa: E731
        from cloudchat.crypto import open_sealed as _open

        return [MessageVersion(b.sealed.version,
                               _open(key_for(b.sealed.key_version), b.sealed,
                                     conversation_id=cid, message_id=mid,
                                     binding=binding(stored)), b.at)
                for b in versions]

    # ------------------------------------------------------------------ receipts, typing
    def mark(self, caller: Caller, conversation_id: object, seq: object, kind: str) -> ReceiptEvent:
        """Moves the caller's read/delivered marker forward; an older receipt is a no-op."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        n = validation.positive_seq(seq, "seq")
        at = iso(self.clock())
        marker = "readSeq" if kind == "READ" else "deliveredSeq"
        for attempt in range(3):
            outcome, value = self.store.advance_marker(cid, caller.user_id, marker, n, at)
            if outcome != "conflict":
                break
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        else:
            raise Conflict("the receipt collided with a concurrent change; retry")
        if outcome == "not_member":
            raise Forbidden(_NOT_MEMBER)
        if outcome == "beyond":
            raise BadRequest(f"seq {n} is beyond the last message ({value})")
        return ReceiptEvent(cid, caller.user_id, kind, value, at)

    def read_receipts(self, caller: Caller, conversation_id: object) -> list[Member]:
        cid = ids.require_ulid(conversation_id, "conversationId")
        members = self.store.members(cid)
        if not any(m.user_id == caller.user_id for m in members):
            raise Forbidden(_NOT_MEMBER)
        return members

    def send_typing(self, caller: Caller, conversation_id: object, typing: object) -> TypingEvent:
        cid = ids.require_ulid(conversation_id, "conversationId")
        if not isinstance(typing, bool):
            raise BadRequest("typing must be true or false")
        now = self.clock()
        interval = self.settings.typing_min_interval_ms
        outcome, wait_ms = self.store.touch_typing(cid, caller.user_id, int(now.timestamp() * 1000),
                                                   interval, typing)
        if outcome == "too_fast":
            raise RateLimited(f"send typing at most every {interval} ms",
                              info={"retryAfterSeconds": max(1, -(-wait_ms // 1000))})
        if outcome == "not_member":
            raise Forbidden(_NOT_MEMBER)
        expires = datetime.fromtimestamp(now.timestamp() + (TYPING_TTL_SECONDS if typing else 0), UTC)
        return TypingEvent(cid, caller.user_id, typing, iso(expires))

    def thread(self, caller: Caller, conversation_id: object, root_id: object, limit: int | None,
               next_token: str | None) -> Page:
        """Replies to a root message, oldest first."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        root = ids.require_ulid(root_id, "rootId")
        ids.seq_of_message_id(root)
        n = validation.limit(limit, MESSAGES_DEFAULT_LIMIT)
        after = 0
        if next_token is not None:
            pos = self.tokens.open(next_token, user_id=caller.user_id, operation="thread",
                                   scope=f"{cid}/{root}")
            after = pos.get("a", -1)
            if not isinstance(after, int) or after < 0:
                raise BadRequest("nextToken is invalid")
        # GSI3 says which seqs are replies; the replies and the caller's member item come
        # from the table in one strongly consistent batch get (an index image can be stale).
        # A token's position is already past joinedSeq; on a first page, replies from
        # before the caller joined are skipped by asking again from joinedSeq.
        bound = after
        while True:
            seqs, more = self.store.thread_reply_seqs(cid, root, n, bound)
            member, _, found = self.store.read_messages(cid, caller.user_id, seqs,
                                                        with_conversation=False)
            if member is None:
                raise Forbidden(_NOT_MEMBER)
            if bound >= member.joined_seq or not seqs or seqs[0] > member.joined_seq:
                break
            bound = member.joined_seq
        rows = [found[s] for s in seqs if s in found]
        items = [self._decrypt(r, None) for r in rows]
        token = None
        if more and rows:
            token = self.tokens.seal({"a": rows[-1].seq}, user_id=caller.user_id,
                                     operation="thread", scope=f"{cid}/{root}")
        return Page(items, token)

    # ------------------------------------------------------------------ moderation
    def report_message(self, caller: Caller, conversation_id: object, message_id: object,
                       reason: object) -> dict[str, object]:
        """A member reports a message to the moderators (once; repeating is a no-op)."""
        cid, mid, seq = self._addressed(conversation_id, message_id)
        text = validation.reason(reason)
        at = iso(self.clock())
        outcome = self.store.put_report(cid, seq, mid, caller.user_id, text, at)
        if outcome == "not_member":
            raise Forbidden(_NOT_MEMBER)
        if outcome == "missing":
            raise NotFound("message not found in this conversation")
        if outcome == "retry":
            raise Conflict("the report could not be recorded right now; retry")
        return {"conversationId": cid, "messageId": mid, "reporterId": caller.user_id,
                "reason": text, "createdAt": at}

    def reported_messages(self, caller: Caller, limit: int | None,
                          next_token: str | None) -> tuple[list[tuple[dict, Message | None]], str | None]:
        """Newest reports first, each with the reported message (decrypted: moderators
        review content). The admin and moderator groups only."""
        if not caller.is_moderator:
            raise Forbidden("only moderators and admins review reports")
        n = validation.limit(limit)
        start = None
        if next_token is not None:
            start = self.tokens.open(next_token, user_id=caller.user_id,
                                     operation="reportedMessages").get("k")
            if not isinstance(start, dict):
                raise BadRequest("nextToken is invalid")
        rows, msgs, more = self.store.reports(n, start)
        out = []
        for row in rows:
            stored = msgs.get(row["messageId"])
            out.append((row, self._decrypt(stored, None) if stored else None))
        token = None
        if more and rows:
            token = self.tokens.seal({"k": self.store.report_cursor(rows[-1])},
                                     user_id=caller.user_id, operation="reportedMessages")
        return out, token

    # ------------------------------------------------------------------ members and roles
    MEMBERSHIP_ATTEMPTS = 10

    def add_members(self, caller: Caller, conversation_id: object,
                    user_ids: object) -> MembershipChange:
        """Owners and admins add members to a GROUP. New members read history from the
        system message that announces them on (they do not see what came before)."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        if not isinstance(user_ids, list) or not user_ids:
            raise BadRequest("userIds must name at least one user")
        wanted = list(dict.fromkeys(validation.user_id(u) for u in user_ids))
        for _ in range(self.MEMBERSHIP_ATTEMPTS):
            conv, me = self._group_for_change(caller, cid)
            if me.role not in (Role.OWNER, Role.ADMIN):
                raise Forbidden("only conversation owners and admins can add members")
            new = [u for u in wanted if u not in conv.members]
            if not new:
                raise BadRequest("every user named is already a member")
            if len(conv.members) + len(new) > self.settings.max_group_members:
                raise BadRequest(
                    f"a conversation has at most {self.settings.max_group_members} members")
            users, _ = self.store.profiles_and_direct([caller.user_id, *new], None)
            unknown = [u for u in new if u not in users]
            if unknown:
                raise BadRequest("unknown member ids: " + ", ".join(unknown),
                                 info={"unknownIds": unknown})
            now = iso(self.clock())
            seq = conv.last_seq + 1
            added = [Member(conversation_id=cid, user_id=u, role=Role.MEMBER, joined_at=now,
                            joined_seq=seq - 1, read_seq=seq - 1, last_activity=now)
                     for u in new]
            text = f"{self._name(users, caller.user_id)} added {self._names(users, new)}"
            change = self._apply_members(caller, conv, text, now, (Role.OWNER, Role.ADMIN),
                                         "ADDED", new, None, add=added)
            if change is not None:
                return change
        raise Conflict("the conversation is too busy right now; retry")

    def remove_member(self, caller: Caller, conversation_id: object,
                      user_id: object) -> MembershipChange:
        """Owners remove anyone (but the last owner); admins remove plain members. The
        removed user loses access at once: reads, sends and new subscriptions are refused."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        target = validation.user_id(user_id)
        if target == caller.user_id:
            return self.leave(caller, cid)
        for _ in range(self.MEMBERSHIP_ATTEMPTS):
            conv, me = self._group_for_change(caller, cid)
            role = conv.members.get(target)
            if role is None:
                raise NotFound("that user is not a member of this conversation")
            allowed = (me.role is Role.OWNER) or (me.role is Role.ADMIN and role is Role.MEMBER)
            if not allowed:
                raise Forbidden("owners remove anyone; admins remove members only")
            users, _ = self.store.profiles_and_direct([caller.user_id, target], None)
            now = iso(self.clock())
            text = f"{self._name(users, caller.user_id)} removed {self._name(users, target)}"
            change = self._apply_members(caller, conv, text, now, (me.role,), "REMOVED",
                                         [target], None, remove=[(target, role)])
            if change is not None:
                return change
        raise Conflict("the conversation is too busy right now; retry")

    def leave(self, caller: Caller, conversation_id: object) -> MembershipChange:
        """The last owner cannot leave while others remain: hand over with setMemberRole."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        for _ in range(self.MEMBERSHIP_ATTEMPTS):
            conv, me = self._group_for_change(caller, cid)
            owners = [u for u, r in conv.members.items() if r is Role.OWNER]
            if me.role is Role.OWNER and owners == [caller.user_id] and len(conv.members) > 1:
                raise BadRequest("the last owner cannot leave: make another member an owner first")
            users, _ = self.store.profiles_and_direct([caller.user_id], None)
            now = iso(self.clock())
            text = f"{self._name(users, caller.user_id)} left"
            change = self._apply_members(caller, conv, text, now, (), "LEFT", [caller.user_id],
                                         None, remove=[(caller.user_id, me.role)])
            if change is not None:
                self.keys.forget(cid)
                return change
        raise Conflict("the conversation is too busy right now; retry")

    def set_member_role(self, caller: Caller, conversation_id: object, user_id: object,
                        role: object) -> MembershipChange:
        """Owners set roles; the last owner cannot be demoted."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        target = validation.user_id(user_id)
        try:
            new_role = Role(role)  # type: ignore[arg-type]
        except ValueError:
            raise BadRequest("role must be OWNER, ADMIN or MEMBER") from None
        for _ in range(self.MEMBERSHIP_ATTEMPTS):
            conv, me = self._group_for_change(caller, cid)
            if me.role is not Role.OWNER:
                raise Forbidden("only conversation owners can change roles")
            old = conv.members.get(target)
            if old is None:
                raise NotFound("that user is not a member of this conversation")
            if old is new_role:
                raise BadRequest(f"that member is already {new_role.value}")
            owners = [u for u, r in conv.members.items() if r is Role.OWNER]
            if old is Role.OWNER and owners == [target]:
                raise BadRequest("the last owner cannot be demoted: make another owner first")
            users, _ = self.store.profiles_and_direct([caller.user_id, target], None)
            now = iso(self.clock())
            text = (f"{self._name(users, caller.user_id)} made {self._name(users, target)} "
                    f"{'an' if new_role is not Role.MEMBER else 'a'} {new_role.value.lower()}")
            change = self._apply_members(caller, conv, text, now, (Role.OWNER,), "ROLE_CHANGED",
                                         [target], new_role, set_roles=[(target, old, new_role)])
            if change is not None:
                return change
        raise Conflict("the conversation is too busy right now; retry")

    def rename(self, caller: Caller, conversation_id: object, title: object) -> ConversationView:
        """Owners and admins rename a GROUP; a SYSTEM message records it."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        new_title = validation.title(title)
        if new_title is None:
            raise BadRequest("title must not be empty")
        for _ in range(self.MEMBERSHIP_ATTEMPTS):
            conv, me = self._group_for_change(caller, cid)
            if me.role not in (Role.OWNER, Role.ADMIN):
                raise Forbidden("only conversation owners and admins can rename it")
            users, _ = self.store.profiles_and_direct([caller.user_id], None)
            now = iso(self.clock())
            text = f"{self._name(users, caller.user_id)} renamed the conversation to “{new_title}”"
            change = self._apply_members(caller, conv, text, now, (Role.OWNER, Role.ADMIN),
                                         "RENAMED", [], None, title=new_title)
            if change is not None:
                return self.conversation(caller, cid)
        raise Conflict("the conversation is too busy right now; retry")

    def admin_create_user(self, caller: Caller, email: object, display_name: object,
                          cognito: Callable[[], Any], user_pool_id: str | None) -> User:
        """Admins create users (the way in when self sign-up is off): Cognito sends the
        invitation with a temporary password; the profile exists at once."""
        from botocore.exceptions import ClientError

        if not caller.is_admin:
            raise Forbidden("only the admin group creates users")
        if not isinstance(email, str) or not re.match(r"^[^@\s]{1,64}@[^@\s]{1,255}$", email):
            raise BadRequest("email must be an email address")
        name = validation.display_name(display_name) if display_name is not None else None
        if not user_pool_id:
            raise BadRequest("user administration is not configured here")
        attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
        if name:
            attributes.append({"Name": "name", "Value": name})
        try:
            resp = cognito().admin_create_user(UserPoolId=user_pool_id, Username=email,
                                               UserAttributes=attributes,
                                               DesiredDeliveryMediums=["EMAIL"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "UsernameExistsException":
                raise Conflict("a user with that email already exists") from None
            if exc.response["Error"]["Code"] == "InvalidParameterException":
                raise BadRequest(exc.response["Error"].get("Message", "invalid user")) from None
            raise
        got = {a["Name"]: a["Value"] for a in resp["User"].get("Attributes", [])}
        sub = got["sub"]
        self.create_profile(sub, {"email": email, **({"name": name} if name else {})},
                            resp["User"].get("Username"))
        user = self.store.get_profile(sub)
        assert user is not None
        return user

    def _group_for_change(self, caller: Caller, cid: str) -> tuple[Conversation, Member]:
        conv, me = self.store.conversation_and_member(cid, caller.user_id)
        if conv is None or me is None:
            raise Forbidden(_NOT_MEMBER)
        if conv.kind is Kind.DIRECT:
            raise BadRequest("direct conversations have exactly two members; "
                             "create a group conversation instead")
        return conv, me

    def _apply_members(self, caller: Caller, conv: Conversation, text: str, now: str,
                       actor_roles: tuple[Role, ...], action: str, user_ids: list[str],
                       role: Role | None, **changes: object) -> MembershipChange | None:
        seq = conv.last_seq + 1
        mid = ids.new_message_id(seq)
        key = self.keys.key(conv.id, conv.key_version, conv.wrapped_key)
        system = StoredMessage(
            conversation_id=conv.id, seq=seq, id=mid, sender_id=caller.user_id,
            kind=MessageKind.SYSTEM, created_at=now, sealed=None)
        system.sealed = seal(key, text, conversation_id=conv.id, message_id=mid,
                             key_version=conv.key_version, binding=binding(system))
        try:
            outcome = self.store.change_members(
                conv, actor=caller.user_id, actor_roles=actor_roles, system=system, now=now,
                rate=self._write_rate(), **changes)  # type: ignore[arg-type]
        except RateExceeded as exc:
            raise self._too_many_writes(exc) from None
        if outcome == "denied":
            raise Forbidden("your role in this conversation changed; you cannot do that now")
        if outcome != "ok":
            return None  # moved on or changed: re-read and retry
        self._seq_hint.note(conv.id, seq)
        members = dict(conv.members)
        for m in changes.get("add", ()):  # type: ignore[attr-defined]
            members[m.user_id] = m.role
        for uid, _ in changes.get("remove", ()):  # type: ignore[attr-defined]
            members.pop(uid, None)
        for uid, _, new in changes.get("set_roles", ()):  # type: ignore[attr-defined]
            members[uid] = new
        return MembershipChange(conv.id, action, caller.user_id, tuple(user_ids), role, members,
                                self._plain(system, text))

    def _write_rate(self) -> Rate:
        """The per-user log of writes other than sends: creating conversations, renames
        and membership changes (each writes a SYSTEM message or members, and fans out)."""
        return Rate("WRITE", self.settings.write_rate_per_minute,
                    int(self.clock().timestamp() * 1000))

    def _too_many_writes(self, exc: RateExceeded) -> RateLimited:
        return RateLimited(
            f"at most {self.settings.write_rate_per_minute} conversation changes a minute; "
            "slow down", info={"retryAfterSeconds": exc.retry_after})

    @staticmethod
    def _name(users: dict[str, User], user_id: str) -> str:
        u = users.get(user_id)
        return u.display_name if u else "someone"

    def _names(self, users: dict[str, User], user_ids: list[str]) -> str:
        names = [self._name(users, u) for u in user_ids]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    # ------------------------------------------------------------------ notifications
    def mute(self, caller: Caller, conversation_id: object, until: object) -> dict[str, object]:
        """Mute a conversation until a time (null: unmute). Muted: no notification at all."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        when = None
        if until is not None:
            when = iso(validation.date_time(until, "until"))
        if not self.store.set_muted(cid, caller.user_id, when):
            raise Forbidden(_NOT_MEMBER)
        return {"conversationId": cid, "mutedUntil": when}

    PLATFORMS = ("APNS", "APNS_SANDBOX", "GCM")

    def register_device(self, caller: Caller, platform: object, token: object,
                        sns: Callable[[], Any]) -> dict[str, object]:
        """A mobile push endpoint for the caller (when a platform application is set up)."""
        if platform not in self.PLATFORMS:
            raise BadRequest("platform must be APNS, APNS_SANDBOX or GCM")
        if not isinstance(token, str) or not 8 <= len(token) <= 4096 or not token.isprintable():
            raise BadRequest("token must be a device token of 8 to 4096 printable characters")
        apps = dict(p.split("=", 1) for p in self.settings.push_platform_applications.split(",")
                    if "=" in p)
        arn = apps.get(str(platform))
        if not arn:
            raise BadRequest(f"push notifications for {platform} are not configured here")
        endpoint = sns().create_platform_endpoint(PlatformApplicationArn=arn, Token=token,
                                                  CustomUserData=caller.user_id)["EndpointArn"]
        self.store.put_device(caller.user_id, endpoint, str(platform), iso(self.clock()))
        return {"platform": platform, "registered": True}

    # ------------------------------------------------------------------ media
    def request_upload(self, caller: Caller, conversation_id: object, file_name: object,
                       content_type: object, size: object) -> dict[str, object]:
        """A presigned POST for one file into the conversation (members only): exact size
        and type, a key under the conversation and uploader, five minutes to use it."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        name = validation.file_name(file_name)
        ctype = validation.content_type(content_type)
        limit = self.settings.max_upload_bytes
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= limit:
            raise BadRequest(f"size must be between 1 and {limit} bytes")
        bucket = self._bucket()
        key, kv = self._current_key(cid)
        upload_id = ids.new_id()
        object_key = f"conversations/{cid}/{caller.user_id}/{upload_id}"
        sealed = seal(key, name, conversation_id=cid, message_id=upload_id, key_version=kv)
        now = self.clock()
        expires = datetime.fromtimestamp(now.timestamp() + UPLOAD_SECONDS, UTC)
        if not self.store.put_upload(Upload(
                id=upload_id, conversation_id=cid, uploader_id=caller.user_id, key=object_key,
                content_type=ctype, size=size, created_at=iso(now), sealed_name=sealed,
                expires_at=int(now.timestamp()) + 86400)):
            raise Forbidden(_NOT_MEMBER)
        fields = {"Content-Type": ctype, "x-amz-meta-uploader": caller.user_id,
                  "tagging": _PENDING_TAGGING}
        post = self._s3_client().generate_presigned_post(
            Bucket=bucket, Key=object_key, Fields=fields, ExpiresIn=UPLOAD_SECONDS,
            Conditions=[{"Content-Type": ctype}, ["content-length-range", size, size],
                        {"x-amz-meta-uploader": caller.user_id}, {"tagging": _PENDING_TAGGING}])
        return {"uploadId": upload_id, "url": post["url"], "fields": post["fields"],
                "key": object_key, "expiresAt": iso(expires), "maxBytes": size}

    def _attachment_ids(self, attachments: object) -> list[str]:
        if attachments is None:
            return []
        if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
            raise BadRequest(f"attachments must be a list of at most {MAX_ATTACHMENTS} upload ids")
        return list(dict.fromkeys(ids.require_ulid(a, "attachment id") for a in attachments))

    def _verified_uploads(self, caller: Caller, cid: str, upload_ids: list[str], key: bytes,
                          kv: int) -> list[Attachment]:
        """moto enforces no POST policy, so every attachment is checked here: the upload was
        granted to the caller in this conversation, the object exists, and it has the size,
        type and uploader the grant named."""
        from botocore.exceptions import ClientError

        records = self.store.uploads(cid, upload_ids)
        files = []
        for uid in upload_ids:
            rec = records.get(uid)
            if rec is None or rec.uploader_id != caller.user_id:
                raise BadRequest(f"attachment {uid} is not an upload of yours in this conversation")
            if rec.status is not UploadStatus.PENDING:
                raise _Attached(uid, rec.message_id)
            try:
                head = self._s3_client().head_object(Bucket=self._bucket(), Key=rec.key)
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                if code in ("404", "NoSuchKey", "NotFound"):
                    raise BadRequest(f"attachment {uid} was never uploaded") from None
                if code in ("403", "AccessDenied", "Forbidden"):
                    # The role holds s3:ListBucket, so S3 answers a missing key with 404: a
                    # 403 is a misconfigured deployment, not bad input. Logged, and masked.
                    raise RuntimeError(
                        f"S3 refused HeadObject of {rec.key} (403): the function's role "
                        "needs s3:GetObject on the object and s3:ListBucket on the bucket "
                        "(without it S3 answers 403 for a key that does not exist), and no "
                        "bucket or key policy may deny it") from exc
                raise
            if (int(head["ContentLength"]) != rec.size
                    or head.get("ContentType") != rec.content_type
                    or (head.get("Metadata") or {}).get("uploader") != caller.user_id):
                raise BadRequest(f"attachment {uid} does not match its upload grant "
                                 "(size, type or uploader)")
            files.append(rec.attachment())
        return files

    def _sent_before(self, cid: str, sender: str, cmid: str, message_id: str | None,
                     digest: tuple[bytes, int],
                     digest_with: Callable[[bytes], bytes]) -> Message | None:
        """The message this very send (sender, clientMessageId) stored earlier, if that is
        the message holding the attachment: the send is a retry (and its objects are tagged
        attached again, in case S3 failed after the first commit). The same clientMessageId
        with another payload is a Conflict."""
        guard = self.store.guard(cid, sender, cmid) if message_id else None
        if guard is None:
            return None
        self._same_payload(cid, guard, digest, digest_with)
        original = self.store.get_message(cid, guard.seq)
        if original is None or original.id != message_id:
            return None
        self._mark_attached(original.attachments)
        return self._decrypt(original, None)

    def _same_payload(self, cid: str, guard: SendGuard | None, digest: tuple[bytes, int],
                      digest_with: Callable[[bytes], bytes]) -> None:
        """A clientMessageId names one payload: its reuse with another (body, parentId or
        attachments) is a Conflict. A guard from before digests were kept passes."""
        if guard is None or guard.digest is None or guard.key_version is None:
            return
        mine = (digest[0] if guard.key_version == digest[1]
                else digest_with(self._key_for(cid, guard.key_version)))
        if not hmac.compare_digest(mine, guard.digest):
            raise Conflict("this clientMessageId was already used for another message; "
                           "a retry must repeat the body, parentId and attachments, "
                           "or use a new clientMessageId")

    def _mark_attached(self, files: list[Attachment]) -> None:
        """Attached objects lose the `pending` tag, so the lifecycle rule keeps them."""
        self._tag([f.key for f in files], "attached")

    def _tag(self, keys: list[str] | tuple[str, ...], state: str) -> None:
        """Sets the objects' `state` tag: `pending` ones the bucket's lifecycle rule
        (ExpireUnattachedUploads, template.yaml) deletes a day after their upload."""
        for k in keys:
            self._s3_client().put_object_tagging(
                Bucket=self._bucket(), Key=k,
                Tagging={"TagSet": [{"Key": "state", "Value": state}]})

    def _reveal_files(self, m: StoredMessage, key: bytes | None) -> list[Attachment]:
        if not m.attachments:
            return []
        out = []
        for a in m.attachments:
            name = None
            if a.sealed_name is not None:
                k = key if key is not None else self._key_for(m.conversation_id,
                                                              a.sealed_name.key_version)
                name = open_sealed(k, a.sealed_name, conversation_id=m.conversation_id,
                                   message_id=a.id)
            out.append(Attachment(id=a.id, key=a.key, content_type=a.content_type,
                                  size=a.size, name=name, url=self._download_url(a, name)))
        return out

    def _download_url(self, a: Attachment, name: str | None) -> str:
        """Short-lived presigned GET (signed locally: no request). Readers are members:
        every path that returns messages checked membership first."""
        inline = a.content_type in INLINE_TYPES
        params = {"Bucket": self._bucket(), "Key": a.key,
                  "ResponseContentType": a.content_type,
                  "ResponseContentDisposition": validation.content_disposition(
                      "inline" if inline else "attachment", name or a.id)}
        return str(self._s3_client().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=DOWNLOAD_SECONDS))

    def _bucket(self) -> str:
        if not self.settings.attachments_bucket:
            raise BadRequest("attachments are not enabled on this deployment")
        return self.settings.attachments_bucket

    def _s3_client(self) -> Any:
        if self._s3 is None:
            raise BadRequest("attachments are not enabled on this deployment")
        return self._s3()

    # ------------------------------------------------------------------ keys
    def _key_for(self, cid: str, kv: int) -> bytes:
        key = self.keys.cached(cid, kv)
        if key is not None:
            return key
        conv = self.store.get_conversation(cid)
        if conv is None:
            raise Forbidden(_NOT_MEMBER)
        return self.keys.key(cid, kv, conv.wrapped_key)

    def _current_key(self, cid: str) -> tuple[bytes, int]:
        kv = self._key_version.get(cid)
        key = self.keys.cached(cid, kv) if kv is not None else None
        if key is None or kv is None:
            conv = self.store.get_conversation(cid)
            if conv is None:
                raise Forbidden(_NOT_MEMBER)
            kv = conv.key_version
            key = self.keys.key(cid, kv, conv.wrapped_key)
            self._key_version[cid] = kv
            self._seq_hint.note(cid, conv.last_seq)
        return key, kv
