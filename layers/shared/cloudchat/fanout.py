"""The stream consumer's work: everything that grows with the number of members happens
here, off the request path, from the table's DynamoDB stream.

* a new message moves every member's conversation-list entry to the new last activity
  (never backwards, so out-of-order and repeated records are harmless) and publishes a
  MESSAGE user event (preview, unread count) to each member's ``onUserEvent`` channel;
* a member added or removed gets ADDED_TO_CONVERSATION / REMOVED_FROM_CONVERSATION;
* a title change publishes CONVERSATION_RENAMED to every member.

Records arrive at least once and may repeat, and moto even emits records for cancelled
transactions: every step is idempotent, and each record is confirmed against the table
(strongly consistent read) before anything is published.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from cloudchat.models import Member, MessageKind, StoredMessage
from cloudchat.services import ChatService, iso

PREVIEW_CHARS = 80


class Publisher(Protocol):
    def publish_user_events(self, events: list[dict[str, Any]]) -> None: ...


def _wire(value: dict[str, Any]) -> dict[str, Any]:
    """Lambda's stream events carry binary attributes base64-encoded (JSON)."""
    import base64

    (kind, v), = value.items()
    if kind == "B" and isinstance(v, str):
        return {"B": base64.b64decode(v)}
    if kind == "BS":
        return {"BS": [base64.b64decode(x) if isinstance(x, str) else x for x in v]}
    if kind == "M":
        return {"M": {k: _wire(x) for k, x in v.items()}}
    if kind == "L":
        return {"L": [_wire(x) for x in v]}
    return value


def image(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stream record image as Python values."""
    from boto3.dynamodb.types import TypeDeserializer

    de = TypeDeserializer()
    return {k: de.deserialize(_wire(v)) for k, v in (raw or {}).items()}


class Notifier(Protocol):
    def notify(self, user_id: str, subject: str, text: str, data: dict[str, Any],
               devices: list[str]) -> None: ...


class Fanout:
    def __init__(self, service: ChatService, publisher: Callable[[], Publisher | None],
                 notifier: Callable[[], Notifier | None] = lambda: None) -> None:
        self.service = service
        self.store = service.store
        self._publisher = publisher
        self._notifier = notifier

    def handle(self, record: Mapping[str, Any]) -> None:
        """One DynamoDB stream record (Lambda's event shape). Raises to have it retried."""
        ddb = record.get("dynamodb") or {}
        new = image(ddb.get("NewImage"))
        old = image(ddb.get("OldImage"))
        kind = (new or old).get("type")
        name = record.get("eventName")
        if kind == "MSG" and name == "INSERT":
            self._message(new)
        elif kind == "MEMBER" and name == "INSERT":
            self._membership(new, "ADDED_TO_CONVERSATION")
        elif kind == "MEMBER" and name == "REMOVE":
            self._membership(old, "REMOVED_FROM_CONVERSATION")
        elif kind == "CONV" and name == "MODIFY" and new.get("title") != old.get("title"):
            self._renamed(new)
        elif kind == "PRESENCE" and name in ("INSERT", "MODIFY"):
            self._presence(new, old)

    # ------------------------------------------------------------------ handlers
    def _message(self, image: dict[str, Any]) -> None:
        cid, seq = image["conversationId"], int(image["seq"])
        stored = self.store.get_message(cid, seq)
        if stored is None or stored.id != image["id"]:
            return  # a record of a write that did not commit (moto): nothing happened
        members = self.store.members(cid)
        at = stored.created_at
        for m in members:
            self.store.bump_activity(cid, m.user_id, at)
        body = self.service.reveal(stored).body or ""
        preview = body[:PREVIEW_CHARS] + ("…" if len(body) > PREVIEW_CHARS else "")
        events = [{
            "userId": m.user_id, "type": "MESSAGE", "conversationId": cid, "seq": seq,
            "senderId": stored.sender_id, "preview": preview, "at": at,
            "unreadCount": (0 if m.user_id == stored.sender_id
                            else max(0, seq - max(m.read_seq, m.joined_seq))),
        } for m in members if seq > m.joined_seq]
        self._publish(events)
        if stored.kind is not MessageKind.SYSTEM:
            self._notify(stored, [m for m in members if m.user_id != stored.sender_id
                                  and seq > m.joined_seq], preview)

    def _notify(self, stored: StoredMessage, recipients: list[Member], preview: str) -> None:
        """Members who are offline and have not muted the conversation get one notification
        per conversation per window (claimed by a conditional write: repeats cannot)."""
        notifier = self._notifier()
        if notifier is None or not recipients:
            return
        now = self.service.clock()
        now_iso = iso(now)
        unmuted = [m for m in recipients if not (m.muted_until and m.muted_until > now_iso)]
        if not unmuted:
            return
        seen = self.store.presence([m.user_id for m in unmuted])
        online_after = iso(datetime.fromtimestamp(
            now.timestamp() - self.service.PRESENCE_ONLINE_SECONDS, UTC))
        offline = [m for m in unmuted if seen.get(m.user_id, "") < online_after]
        if not offline:
            return
        window = self.service.settings.notify_window_seconds
        not_before = iso(datetime.fromtimestamp(now.timestamp() - window, UTC))
        conv = self.store.get_conversation(stored.conversation_id)
        sender = self.store.get_profile(stored.sender_id)
        subject = f"New message in {conv.title}" if conv and conv.title else "New message"
        text = f"{sender.display_name if sender else 'Someone'}: {preview}" if preview else (
            f"{sender.display_name if sender else 'Someone'} sent a file")
        data = {"conversationId": stored.conversation_id, "seq": stored.seq}
        for m in offline:
            if self.store.claim_notification(stored.conversation_id, m.user_id, now_iso, not_before):
                notifier.notify(m.user_id, subject, text, data, self.store.devices(m.user_id))

    def _membership(self, image: dict[str, Any], event_type: str) -> None:
        cid, uid = image["conversationId"], image["userId"]
        current = self.store.get_member(cid, uid)
        if (current is None) != (event_type == "REMOVED_FROM_CONVERSATION"):
            return  # the change did not commit, or was undone since
        conv = self.store.get_conversation(cid)
        self._publish([{"userId": uid, "type": event_type, "conversationId": cid,
                        "title": conv.title if conv else None,
                        "at": image.get("joinedAt") or (conv.updated_at if conv else None)}])

    def _renamed(self, image: dict[str, Any]) -> None:
        cid = image["id"]
        conv = self.store.get_conversation(cid)
        if conv is None or conv.title != image.get("title"):
            return
        self._publish([{"userId": u, "type": "CONVERSATION_RENAMED", "conversationId": cid,
                        "title": conv.title, "at": conv.updated_at} for u in conv.members])

    def _presence(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """A heartbeat after a gap (or the first one) means the user came online: their
        contacts hear it. Going offline is not an event: clients treat lastSeen older than
        a minute as offline."""
        seen, before = new.get("lastSeen", ""), old.get("lastSeen")
        gap = self.service.PRESENCE_ONLINE_SECONDS
        if before:
            t_new = datetime.fromisoformat(seen.replace("Z", "+00:00"))
            t_old = datetime.fromisoformat(str(before).replace("Z", "+00:00"))
            if (t_new - t_old).total_seconds() <= gap:
                return
        user = new["userId"]
        self._publish([{"userId": c, "type": "PRESENCE", "senderId": user, "online": True,
                        "at": seen} for c in sorted(self.store.contacts(user)) if c != user])

    def _publish(self, events: list[dict[str, Any]]) -> None:
        publisher = self._publisher()
        if publisher is not None and events:
            publisher.publish_user_events(events)
