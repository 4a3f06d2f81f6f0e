"""Messages: sending (one transaction when warm; a retry with the same clientMessageId
answers the first send), pages newest first, catching up after a seq, and the rules of a
subscription on a conversation."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from cloudchat import ids, validation
from cloudchat.crypto import seal
from cloudchat.errors import (
    AccountDeleted,
    AlreadyAttached,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
)
from cloudchat.models import Caller, Member, Message, MessageKind, Page, StoredMessage
from cloudchat.services._base import MESSAGES_DEFAULT_LIMIT, NOT_MEMBER, iso
from cloudchat.services.blocks import flag_blocked
from cloudchat.services.media import MediaService
from cloudchat.services.search import body_tokens
from cloudchat.store import Rate, SendGuard, binding

SEND_ATTEMPTS = 25


def _send_digest(key: bytes, text: str, parent: str | None, upload_ids: list[str],
                 mentions: tuple[str, ...] = ()) -> bytes:
    """What a send's clientMessageId names: its body, parent, attachments and mentions (in
    any order; absent when none, so digests of sends without mentions are unchanged), as an
    HMAC keyed with the conversation's data key (a plain hash of a short body could be
    guessed)."""
    fields: dict[str, object] = {"b": text, "p": parent, "a": upload_ids}
    if mentions:
        fields["m"] = sorted(mentions)
    payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hmac.new(key, b"cloudchat/send/v1\0" + payload.encode(), hashlib.sha256).digest()


def _refuse_outsiders(strangers: Sequence[str]) -> None:
    if strangers:
        raise BadRequest("mentions must be members of this conversation; not members: "
                         + ", ".join(strangers))
EVERYONE = "*"  # appsync/revoke.js: the userId of a deleted conversation's invalidations (never
# a user id: validation.user_id allows A-Z, a-z, 0-9, "_" and "-" only)


class MessagesService(MediaService):
    """Sending, paging, catching up, and subscription rules."""

    def send_message(self, caller: Caller, conversation_id: object, body: object,
                     client_message_id: object, parent_id: object = None,
                     attachments: object = None, mentions: object = None) -> Message:
        """Mentions must be members (checked in the send's own transaction: a non-member
        mention is a BadRequest and nothing is written); mentioning yourself is allowed
        (shown, never notified)."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        mentioned = validation.mentions(mentions)
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
            return _send_digest(k, text, asked_parent, upload_ids, mentioned)

        asked_parent = parent
        digest = (digest_with(key), kv)
        try:
            files = self._verified_uploads(caller, cid, upload_ids, key, kv) if upload_ids else []
        except AlreadyAttached as exc:
            resent = self._sent_before(cid, caller.user_id, cmid, exc.message_id, digest,
                                       digest_with)
            if resent is None:
                raise
            return resent  # a client's retry of this very send
        kind = MessageKind.TEXT
        if files:
            kind = (MessageKind.IMAGE if all(f.content_type.startswith("image/") for f in files)
                    else MessageKind.FILE)
        index = body_tokens(key, text)  # the blind search index (services.search)
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
                parent_id=parent, attachments=files, mentions=mentioned,
            )
            msg.sealed = seal(key, text, conversation_id=cid, message_id=mid, key_version=kv,
                              binding=binding(msg))
            out = self.store.append_message(msg, prev_seq=prev, now=iso(now),
                                            now_epoch=int(now.timestamp()), rate=rate,
                                            digest=digest, index=index)
            if out.stored:
                self._seq_hint.note(cid, seq)
                # Only a committed send moves its objects out of `pending` (a refused one
                # leaves them to the lifecycle rule). Should S3 fail here, the client's
                # retry (same clientMessageId) answers this message and tags them again.
                self._mark_attached(files)
                return self._plain(msg, text, key)
            if out.not_member:
                raise Forbidden(NOT_MEMBER)
            if out.account_deleted:
                raise AccountDeleted
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
            _refuse_outsiders(out.mention_outsiders)
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
            member, conv, found, blocked = self.store.read_messages_and_blocks(
                cid, caller.user_id, seqs, with_conversation=not self._key_cached(cid))
            if member is None:
                raise Forbidden("you are not a member of this conversation")
            top = before - 1
        else:
            hint = self._seq_hint.get(cid)
            guess = list(range(max(1, hint - n + 1), hint + 1)) if hint else []
            member, conv, found, blocked = self.store.read_messages_and_blocks(
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
        flag_blocked(items, blocked)
        token = None
        lowest = seqs_desc[-1] if seqs_desc else None
        if lowest is not None and lowest > floor:
            token = self.tokens.seal({"b": lowest}, user_id=caller.user_id,
                                     operation="messages", scope=cid)
        return Page(items, token)

    def messages_since(self, caller: Caller, conversation_id: object, after_seq: object,
                       limit: int | None) -> Page:
        """Oldest first, seq > afterSeq, contiguous. One BatchGetItem (up to 97 messages: with
        the caller's member item, block set and the conversation)."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        after = validation.seq(after_seq, "afterSeq")
        n = validation.limit(limit, MESSAGES_DEFAULT_LIMIT)
        member, conv, found, blocked = self.store.read_messages_and_blocks(
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
        flag_blocked(items, blocked)
        return Page(items, None)

    def authorize_subscription(self, caller: Caller, conversation_id: object) -> Member:
        """Members only (one BatchGetItem of the member and the conversation: a member item
        deleteConversation left to the purge grants nothing); the member, whose
        ``joined_seq`` bounds what they see."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        conv, member = self.store.conversation_and_member(cid, caller.user_id)
        if conv is None or member is None:
            raise Forbidden("you are not a member of this conversation")
        return member

    def subscription_rules(self, caller: Caller, conversation_id: object, *,
                           after_joining: bool = False) -> dict[str, Any]:
        """Authorizes a subscription on a conversation (members only, one request) and returns
        the rules appsync/subscribe.js sets on it:

        - ``invalidation``: an invalidation filter matching the payload appsync/revoke.js sends
          when this member is removed or leaves, or the conversation is deleted (userId
          ``*``, :data:`EVERYONE`), so the open subscription is closed then;
        - ``filter`` (``after_joining``): an enhanced filter, this conversation's events about
          messages after the member joined only. Subscribers get the publishing mutation's
          selection, so without it a reaction to (or edit of) an older message would carry
          that message's body to members who joined after it."""
        member = self.authorize_subscription(caller, conversation_id)
        cid = member.conversation_id
        rules: dict[str, Any] = {  # ("*": every member, when the conversation is deleted)
            "invalidation": {"conversationId": {"eq": cid},
                             "userId": {"in": [caller.user_id, EVERYONE]}}}
        if after_joining:
            rules["filter"] = {"conversationId": {"eq": cid}, "seq": {"gt": member.joined_seq}}
        return rules
