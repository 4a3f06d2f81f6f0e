"""The stream consumer's work for mentions (:mod:`cloudchat.fanout` calls it for each new
message): each mentioned member who sees the message, but its sender, gets

* the mention counted (``store.note_mention``: idempotent, keyed by seq, so a repeated
  stream record counts nothing twice);
* a ``MENTION`` user event with their unread mentions in the conversation (published again
  for a repeated record, as every user event: clients dedupe by conversation and seq);
* a notification **even when they muted the conversation**, when they are offline (online
  members get the event), on the channels they turned on (push, e-mail:
  :func:`cloudchat.notices.channels` with ``mention=True``): once per mention, claimed by the
  write that counted it. A mentioned member's regular new-message notification is left out
  for that message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cloudchat import notices
from cloudchat.models import Member, NotificationSettings, StoredMessage
from cloudchat.notifier import EmailNotice
from cloudchat.services import ChatService, iso

if TYPE_CHECKING:
    from cloudchat.fanout import Notifier


class MentionFanout:
    """Mentions of one batch's new messages (presence and names read once per batch)."""

    def __init__(self, service: ChatService, notifier: Callable[[], Notifier | None],
                 preview: Callable[[StoredMessage], str]) -> None:
        self.service = service
        self.store = service.store
        self.notifier = notifier
        self.preview = preview
        self._counted: dict[tuple[str, str], set[int]] = {}  # member's set, as this batch left it
        self._seen: dict[str, str] = {}
        self._settings: dict[str, NotificationSettings] = {}
        self._names: dict[str, str] = {}
        self._titles: dict[str, str | None] = {}
        # notifications of mentions counted, sent by notify_pending (after the events)
        self._pending: list[tuple[StoredMessage, list[Member], str]] = []

    def handle(self, stored: StoredMessage, recipients: list[Member]
               ) -> tuple[set[str], list[dict[str, Any]]]:
        """The mentioned members among ``recipients`` (who see the message, but its sender)
        and their MENTION events; counts and notifies them."""
        wanted = set(stored.mentions)
        targets = [m for m in recipients if m.user_id in wanted]
        if not targets or stored.deleted_at:
            return set(), []
        cid, seq = stored.conversation_id, stored.seq
        preview = self.preview(stored)
        events: list[dict[str, Any]] = []
        first: list[Member] = []
        for m in targets:
            counted = self._counted.setdefault((cid, m.user_id), set(m.mention_seqs))
            floor = max(m.read_seq, m.joined_seq)
            if self.store.note_mention(cid, m.user_id, seq, frozenset(counted), floor):
                first.append(m)
            if seq > floor:
                counted.add(seq)
            events.append({
                "userId": m.user_id, "type": "MENTION", "conversationId": cid, "seq": seq,
                "senderId": stored.sender_id, "preview": preview, "at": stored.created_at,
                "unreadCount": max(0, seq - floor),
                "unreadMentionCount": sum(1 for s in counted if s > floor)})
        self._pending.append((stored, first, preview))
        return {m.user_id for m in targets}, events

    def notify_pending(self) -> None:
        """Sends the notifications of the mentions counted so far (the fan-out calls it
        once their events are published)."""
        pending, self._pending = self._pending, []
        for stored, first, preview in pending:
            self._notify(stored, first, preview)

    def _notify(self, stored: StoredMessage, members: list[Member], preview: str) -> None:
        notifier = self.notifier()
        if notifier is None or not members:
            return
        unknown = [m.user_id for m in members if m.user_id not in self._seen]
        if unknown:
            seen, settings = self.store.presence_and_settings(unknown)
            self._seen.update({u: seen.get(u, "") for u in unknown})
            self._settings.update(settings)
        clock = self.service.clock()
        now = clock.timestamp()
        online_after = iso(datetime.fromtimestamp(now - self.service.PRESENCE_ONLINE_SECONDS, UTC))
        email_enabled = bool(self.service.settings.notice_sender)
        offline = [(m, ways) for m in members if self._seen[m.user_id] < online_after
                   and (ways := notices.channels(stored, m, self._settings[m.user_id],
                                                 now=iso(clock), email_enabled=email_enabled,
                                                 mention=True))]
        if not offline:
            return
        if stored.sender_id not in self._names:
            profile = self.store.get_profile(stored.sender_id)
            self._names[stored.sender_id] = profile.display_name if profile else "Someone"
        cid = stored.conversation_id
        if cid not in self._titles:
            conv = self.store.get_conversation(cid)
            self._titles[cid] = conv.title if conv else None
        title = self._titles[cid]
        subject = f"You were mentioned in {title}" if title else "You were mentioned"
        name = self._names[stored.sender_id]
        text = f"{name} mentioned you: {preview}" if preview else f"{name} mentioned you"
        data = {"conversationId": stored.conversation_id, "seq": stored.seq, "mention": True}
        mail = notices.email_notice(name, title, preview,
                                    self.service.settings.notice_includes_text, mention=True)
        for m, ways in offline:
            devices = self.store.devices(m.user_id) if ways.push else []
            email = EmailNotice(ways.email, *mail) if ways.email else None
            notifier.notify(m.user_id, subject, text, data, devices, email)
