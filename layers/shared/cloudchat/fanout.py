"""The stream consumer's work: everything that grows with the number of members happens
here, off the request path, from the table's DynamoDB stream.

* a new message moves every member's conversation-list entry to the new last activity
  (never backwards, so out-of-order and repeated records are harmless) and publishes a
  MESSAGE user event (preview, unread count) to each member's ``onUserEvent`` channel (one
  per member for a run of a conversation's messages in a batch: of the latest);
  over ``LargeGroupThreshold`` members, neither per member (:mod:`cloudchat.fanout_large`);
* a member added or removed gets ADDED_TO_CONVERSATION / REMOVED_FROM_CONVERSATION;
* a title change publishes CONVERSATION_RENAMED to every member;
* a message's mentions are counted, and the mentioned get a MENTION event and a
  notification even when muted (:mod:`cloudchat.fanout_mentions`);
* a member who blocked a message's sender is not notified of it, gets no preview of it and
  no MENTION from it (:meth:`Fanout._unblocked`);
* a message write that queued search postings (more than its transaction could take, see
  :mod:`cloudchat.store._search`) gets them written;
* a deleted conversation's audit record drives the purge of its items, one bounded step
  per record (:mod:`cloudchat.purge`);
* an account deletion job's record runs its next step (:mod:`cloudchat.erasure`).

Records arrive at least once and may repeat, and moto even emits records for cancelled
transactions: every step is idempotent, and each record is confirmed against the table
(strongly consistent read) before anything is published.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from cloudchat import erasure, notices
from cloudchat.fanout_groups import both, for_each
from cloudchat.fanout_large import LargeGroups
from cloudchat.fanout_mentions import MentionFanout
from cloudchat.models import Member, MessageKind, NotificationSettings, StoredMessage
from cloudchat.notifier import EmailNotice
from cloudchat.publisher import CONCURRENCY
from cloudchat.purge import Purge
from cloudchat.services import ChatService, iso
from cloudchat.store import (
    AccountDeletionImage,
    ConversationImage,
    DeletionImage,
    FanoutState,
    MessageImage,
    PresenceImage,
    StreamImage,
    decode_stream_image,
)

PREVIEW_CHARS = 80
# User events per publish call. The publisher sends each event as a request of its own (one
# ``publishUserEvent`` root field, no aliases), concurrently across users; a call is the unit
# a failure redoes, so this bounds the events published twice after a failure.
PUBLISH_BATCH = 2 * CONCURRENCY  # (two rounds of requests per call)


class Publisher(Protocol):
    def publish_user_events(self, events: list[dict[str, Any]]) -> None: ...


def _preview(service: ChatService, stored: StoredMessage) -> str:
    body = service.reveal(stored).body or ""
    return body[:PREVIEW_CHARS] + ("…" if len(body) > PREVIEW_CHARS else "")


def _runs(images: list[MessageImage]) -> list[list[MessageImage]]:
    """Consecutive new messages of one conversation, together."""
    runs: list[list[MessageImage]] = []
    for img in images:
        if runs and runs[-1][0].conversation_id == img.conversation_id:
            runs[-1].append(img)
        else:
            runs.append([img])
    return runs


class Notifier(Protocol):
    def notify(self, user_id: str, subject: str, text: str, data: dict[str, Any],
               devices: list[str], email: EmailNotice | None = None) -> None: ...


class Fanout:
    def __init__(self, service: ChatService, publisher: Callable[[], Publisher | None],
                 notifier: Callable[[], Notifier | None] = lambda: None) -> None:
        self.service = service
        self.store = service.store
        self._publisher = publisher
        self.notifier = notifier
        self.last_error: Exception | None = None
        # (conversation, sender) -> (members looked up, who of them blocked the sender)
        self._blockers: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
        self.large = LargeGroups(self)

    def handle_batch(self, records: Sequence[Mapping[str, Any]]) -> int | None:
        """A batch of stream records, in order. Returns None when all were handled, else the
        index of the first record not handled (``last_error`` says why): Lambda re-delivers
        from there. Records before it are done and not redone, so each user event is
        published once unless the stream itself repeats a record.

        New messages are taken together until the next record that does other work: one
        BatchGetItem confirms them, one Query per conversation reads its members, each
        member's conversation-list position moves once (to the latest message), presence,
        titles and names are read once, and a member is notified at most once per window.
        A run of consecutive messages of one conversation gives each member one MESSAGE
        event, of its latest message (the inbox shows the last message and the unread count
        as of it; the messages themselves reach subscribers through ``onMessage``). Events
        go out in order, up to ``PUBLISH_BATCH`` per publish call (one request per event,
        concurrent across users, in order for each user), a run's never split between two
        calls unless it alone has more. Under load a batch holds many messages, so the
        fan-out's requests per message fall."""
        pending: list[tuple[int, MessageImage]] = []
        index = 0
        try:
            for index, record in enumerate(records):
                ddb = record.get("dynamodb") or {}
                new = decode_stream_image(ddb.get("NewImage"))
                old = decode_stream_image(ddb.get("OldImage"))
                name = record.get("eventName")
                if isinstance(new, MessageImage) and new.index_pending:
                    self.store.complete_index(new.conversation_id, new.seq)
                if isinstance(new, MessageImage) and name == "INSERT":
                    pending.append((index, new))
                    continue
                work = self._work(name, new, old)
                if work is not None:
                    self._messages(pending)
                    work()
            index = len(records)
            self._messages(pending)
        except Exception as exc:
            self.last_error = exc
            return min([index, *(i for i, _ in pending)])
        return None

    def _work(self, name: Any, new: StreamImage | None,
              old: StreamImage | None) -> Callable[[], None] | None:
        if isinstance(new, Member) and name == "INSERT":
            return lambda: self._membership(new, "ADDED_TO_CONVERSATION")
        if isinstance(old, Member) and name == "REMOVE":
            return lambda: self._membership(old, "REMOVED_FROM_CONVERSATION")
        if (isinstance(new, ConversationImage) and name == "MODIFY"
                and new.title != (old.title if isinstance(old, ConversationImage) else None)):
            return lambda: self._renamed(new)
        if isinstance(new, PresenceImage) and name in ("INSERT", "MODIFY"):
            return lambda: self._presence(new, old if isinstance(old, PresenceImage) else None)
        if isinstance(new, DeletionImage) and name in ("INSERT", "MODIFY"):
            return lambda: self._purge(new)
        if isinstance(new, AccountDeletionImage) and name in ("INSERT", "MODIFY"):
            return lambda: erasure.run_step(self.service, new)
        return None

    # ------------------------------------------------------------------ handlers
    def _messages(self, pending: list[tuple[int, MessageImage]]) -> None:
        """Fans out the pending new messages; each leaves ``pending`` once its user events
        are published, its members' list positions moved and its notifications sent, so
        after an exception what is left is what was not done. A chunk's user events go out
        before the rest (list positions; notifications with their presence reads, claims
        and sends): nothing the events do not need makes them late. Conversations over
        the threshold go through :mod:`cloudchat.fanout_large`: no list positions moved,
        events for online (and mentioned) members only, one notification sweep per
        window."""
        if not pending:
            return
        self._blockers.clear()
        wanted: dict[str, dict[int, str]] = {}
        for _, img in pending:
            wanted.setdefault(img.conversation_id, {})[img.seq] = img.id
        confirmed: dict[tuple[str, int], StoredMessage] = {}
        members: dict[str, list[Member]] = {}
        large: dict[str, FanoutState] = {}  # the large ones, with their fan-out state
        bumps: dict[str, Callable[[], None]] = {}  # list positions to move, by conversation
        threshold = self.large.threshold
        for cid, ids in wanted.items():
            read = partial(self.store.messages_and_state, cid, sorted(ids))
            listed: list[Member]
            if self.large.known(cid):  # (large for good: its members are not read)
                (found, state), (listed, more) = read(), ([], False)
            else:
                (found, state), (listed, more) = both(
                    read, partial(self.store.members_upto, cid, threshold))  # (two at once)
            # Records of writes that did not commit (moto emits them) confirm nothing.
            mine = [m for s, m in sorted(found.items()) if ids.get(s) == m.id]
            if not mine:
                continue
            confirmed.update({(cid, m.seq): m for m in mine})
            if state.large:
                self.large.remember(cid)
                large[cid] = state
                members[cid] = self.large.recipients(cid, mine)
                continue
            # (over the threshold but not flagged yet: its markers are being written)
            members[cid] = self.store.members(cid) if more else listed
            last_at = max(m.created_at for m in mine)
            behind = [m for m in members[cid]  # (as read; the write is conditional anyway)
                      if m.last_activity < last_at]
            # (after the events, with the notifications: no event waits for them)
            bumps[cid] = partial(for_each, partial(self._bump, cid, last_at), behind)
        notes = _Notes(self)
        mentions = MentionFanout(self.service, self.notifier, lambda m: _preview(self.service, m))
        try:
            self._fan_out(pending, confirmed, members, large, bumps, notes, mentions)
        finally:
            # A mention counted is notified even if what follows failed: a redelivery
            # counts it no more, so it would not be notified then.
            mentions.notify_pending()

    def _fan_out(self, pending: list[tuple[int, MessageImage]],
                 confirmed: dict[tuple[str, int], StoredMessage],
                 members: dict[str, list[Member]], large: dict[str, FanoutState],
                 bumps: dict[str, Callable[[], None]], notes: _Notes,
                 mentions: MentionFanout) -> None:
        """The events and notifications of the confirmed messages, chunk by chunk."""
        chunk: list[dict[str, Any]] = []
        later: list[Callable[[], None]] = []  # the chunk's notifications, after its events
        in_chunk = 0  # the first entries of ``pending``, whose events are all in ``chunk``
        for run in _runs([img for _, img in pending]):
            latest: StoredMessage | None = None
            events: list[dict[str, Any]] = []
            notices: list[Callable[[], None]] = []
            if run[0].conversation_id in bumps:  # (the members' list positions, once)
                notices.append(bumps.pop(run[0].conversation_id))
            for img in run:
                stored = confirmed.get((img.conversation_id, img.seq))
                if stored is not None:
                    cid = stored.conversation_id
                    everyone = self._recipients(stored, members[cid])
                    unblocked = self._unblocked(stored, everyone)  # (blockers: no notice)
                    mentioned, mention_events = mentions.handle(stored, unblocked)  # muted too
                    events += mention_events
                    if cid in large:
                        notices.append(partial(self.large.sweep, stored, large[cid], notes,
                                               mentioned))
                    else:
                        notices.append(partial(
                            notes.notify, stored,
                            [m for m in unblocked if m.user_id not in mentioned]))
                    latest = stored
            if latest is not None:
                events += self._message_events(latest, members[latest.conversation_id])
            if chunk and len(chunk) + len(events) > PUBLISH_BATCH:
                self._publish(chunk)
                self._after(later, mentions)
                del pending[:in_chunk]
                chunk, later, in_chunk = [], [], 0
            chunk.extend(events)
            later.extend(notices)
            in_chunk += len(run)
        self._publish(chunk)
        self._after(later, mentions)
        del pending[:in_chunk]

    @staticmethod
    def _after(notices: list[Callable[[], None]], mentions: MentionFanout) -> None:
        """A published chunk's notifications: mentions' first, then the rest in order."""
        mentions.notify_pending()
        for notice in notices:
            notice()

    def _bump(self, cid: str, at: str, member: Member) -> None:
        self.store.bump_activity(cid, member.user_id, at)

    @staticmethod
    def _recipients(stored: StoredMessage, members: list[Member]) -> list[Member]:
        """Who may be notified of a message: members who see it, but its sender."""
        if stored.kind is MessageKind.SYSTEM:
            return []
        return [m for m in members
                if m.user_id != stored.sender_id and stored.seq > m.joined_seq]

    def _unblocked(self, stored: StoredMessage, members: list[Member]) -> list[Member]:
        """The block check of every notice of a message (push, e-mail, user-event preview):
        ``members`` less those who blocked its sender. One BatchGetItem of their block pair
        items per conversation and sender in a batch."""
        if stored.kind is MessageKind.SYSTEM or not members:
            return members
        checked, blockers = self._blockers.setdefault(
            (stored.conversation_id, stored.sender_id), (set(), set()))
        unknown = [m.user_id for m in members
                   if m.user_id not in checked and m.user_id != stored.sender_id]
        if unknown:
            blockers |= self.store.blockers_of(unknown, stored.sender_id)
            checked.update(unknown)
        return [m for m in members if m.user_id not in blockers]

    def _message_events(self, stored: StoredMessage, members: list[Member]) -> list[dict[str, Any]]:
        """The MESSAGE user events of a conversation's latest message: one per member who
        sees it (summary and unread count as of that message; no preview for a member who
        blocked its sender)."""
        cid, seq = stored.conversation_id, stored.seq
        preview = _preview(self.service, stored)
        shown = {m.user_id for m in self._unblocked(stored, members)}
        return [{
            "userId": m.user_id, "type": "MESSAGE", "conversationId": cid, "seq": seq,
            "senderId": stored.sender_id, "at": stored.created_at,
            "preview": preview if m.user_id in shown else None,
            "unreadCount": (0 if m.user_id == stored.sender_id
                            else max(0, seq - max(m.read_seq, m.joined_seq))),
        } for m in members if seq > m.joined_seq]

    def _membership(self, image: Member, event_type: str) -> None:
        cid, uid = image.conversation_id, image.user_id
        current = self.store.get_member(cid, uid)
        if (current is None) != (event_type == "REMOVED_FROM_CONVERSATION"):
            return  # the change did not commit, or was undone since
        if current is None:
            self.large.member_removed(image)
        else:
            self.large.member_added(current)
        conv = self.store.get_conversation(cid)
        self._publish([{"userId": uid, "type": event_type, "conversationId": cid,
                        "title": conv.title if conv else None,
                        "at": image.joined_at or (conv.updated_at if conv else None)}])

    def _renamed(self, image: ConversationImage) -> None:
        cid = image.id
        conv = self.store.get_conversation(cid)
        if conv is None or conv.title != image.title:
            return
        self._publish([{"userId": u, "type": "CONVERSATION_RENAMED", "conversationId": cid,
                        "title": conv.title, "at": conv.updated_at}
                       for u in (m.user_id for m in self.store.members(cid))])

    def _presence(self, new: PresenceImage, old: PresenceImage | None) -> None:
        """A heartbeat after a gap (or the first one) means the user came online: their
        contacts hear it. Going offline is not an event: clients treat lastSeen older than
        a minute as offline."""
        seen, before = new.last_seen, old.last_seen if old is not None else None
        if seen:
            self.large.heartbeat(new.user_id, seen)  # (online in their large conversations)
        gap = self.service.PRESENCE_ONLINE_SECONDS
        if before:
            t_new = datetime.fromisoformat(seen.replace("Z", "+00:00"))
            t_old = datetime.fromisoformat(str(before).replace("Z", "+00:00"))
            if (t_new - t_old).total_seconds() <= gap:
                return
        user = new.user_id
        self._publish([{"userId": c, "type": "PRESENCE", "senderId": user, "online": True,
                        "at": seen} for c in sorted(self.store.contacts(user)) if c != user])

    def _purge(self, image: DeletionImage) -> None:
        Purge(self.service).step(image)

    def _publish(self, events: list[dict[str, Any]]) -> None:
        publisher = self._publisher()
        if publisher is not None and events:
            publisher.publish_user_events(events)


class _Notes:
    """Notifications for one run of new messages: members who are offline get one
    notification per conversation per window (claimed by a conditional write: repeats
    cannot), on the channels :func:`cloudchat.notices.channels` decides (none when muted;
    push and/or e-mail as each member set them). Presence and notification settings (one
    BatchGetItem), conversations and names are read once per run, and a member claimed (or
    found claimed) in this run is not claimed again."""

    def __init__(self, fanout: Fanout) -> None:
        self.fanout = fanout
        self.store = fanout.store
        self.service = fanout.service
        self.now = self.service.clock()
        self._seen: dict[str, str] = {}
        self._settings: dict[str, NotificationSettings] = {}
        self._looked_up: set[str] = set()
        self._conversations: dict[str, Any] = {}
        self._profiles: dict[str, Any] = {}
        self._claimed: set[tuple[str, str]] = set()

    def notify(self, stored: StoredMessage, recipients: list[Member]) -> None:
        notifier = self.fanout.notifier()
        if notifier is None or not recipients:
            return
        cid = stored.conversation_id
        now_iso = iso(self.now)
        window = self.service.settings.notify_window_seconds
        not_before = iso(datetime.fromtimestamp(self.now.timestamp() - window, UTC))
        candidates = [m for m in recipients
                      if notices.may_notify(stored, m, now=now_iso)
                      and (cid, m.user_id) not in self._claimed
                      and not (m.notified_at and m.notified_at >= not_before)]
        if not candidates:
            return
        unknown = [m.user_id for m in candidates if m.user_id not in self._looked_up]
        if unknown:
            seen, settings = self.store.presence_and_settings(unknown)
            self._seen.update(seen)
            self._settings.update(settings)
            self._looked_up.update(unknown)
        online_after = iso(datetime.fromtimestamp(
            self.now.timestamp() - self.service.PRESENCE_ONLINE_SECONDS, UTC))
        email_enabled = bool(self.service.settings.notice_sender)
        targets = [(m, ways) for m in candidates
                   if self._seen.get(m.user_id, "") < online_after
                   and (ways := notices.channels(stored, m, self._settings[m.user_id],
                                                 now=now_iso, email_enabled=email_enabled))]
        if not targets:
            return
        if cid not in self._conversations:
            self._conversations[cid] = self.store.get_conversation(cid)
        if stored.sender_id not in self._profiles:
            self._profiles[stored.sender_id] = self.store.get_profile(stored.sender_id)
        conv, sender = self._conversations[cid], self._profiles[stored.sender_id]
        preview = _preview(self.service, stored)
        subject = f"New message in {conv.title}" if conv and conv.title else "New message"
        name = sender.display_name if sender else "Someone"
        text = f"{name}: {preview}" if preview else f"{name} sent a file"
        data = {"conversationId": cid, "seq": stored.seq}
        mail = notices.email_notice(name, conv.title if conv else None, preview,
                                    self.service.settings.notice_includes_text)
        self._claimed.update((cid, m.user_id) for m, _ in targets)

        def send(target: tuple[Member, notices.Channels]) -> None:
            m, ways = target
            if self.store.claim_notification(cid, m.user_id, now_iso, not_before):
                devices = self.store.devices(m.user_id) if ways.push else []
                email = EmailNotice(ways.email, *mail) if ways.email else None
                notifier.notify(m.user_id, subject, text, data, devices, email)

        for_each(send, targets)
