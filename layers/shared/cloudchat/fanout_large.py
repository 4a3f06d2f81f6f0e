"""The stream consumer's work for large conversations (over ``LargeGroupThreshold``
members, ``Settings.large_group_threshold``): per message, nothing that grows with the
number of members.

Below the threshold :mod:`cloudchat.fanout` does what it always did. Above it:

* **list positions move at read time.** The consumer does not move each member's
  conversation-list position; every member has a large-membership marker instead
  (``USER#<id>/LARGE#<cid>``), and the ``conversations`` list merges those conversations by
  the conversation's own last activity (:mod:`cloudchat.services.conversations`). Markers
  are written here, from member records: a member who joins a large conversation gets one;
  the member whose arrival takes a conversation over the threshold makes the consumer write
  every member's (one walk of the member items, once per conversation) and only then flag
  the conversation large (``CONV#<id>/FANOUT largeSince``), so no member's list ever lacks
  it. A large conversation stays large when members leave (no flapping).
* **user events go to online members only**: those with a fresh online record
  (``CONV#<id>/ONLINE#<userId>``, which the consumer writes from each member's heartbeat for
  every large conversation they are in, valid as long as presence counts them online), and
  the members the message mentions. Members offline catch up from the list (unread counts
  are ``lastSeq - readSeq`` there) and ``messagesSince``, as every client does on
  reconnecting.
* **notifications coalesce by conversation**: the first message after a window claims the
  conversation's sweep (one conditional write); the sweep walks the member items and
  notifies each offline member not notified within the window (their own claim, as below
  the threshold). Other messages of the window notify no one. A redelivered record of the
  message that claimed the sweep runs it again: the members' claims keep it to one each.

Per message this costs: one BatchGetItem (messages with the fan-out state), a member Query
bounded by the threshold (it tells a conversation that crossed it but is not flagged yet;
skipped once this process has seen the conversation flagged), one Query of online records,
one BatchGetItem of the online (and mentioned) members' items, one block check of them, and
one publish per online member; plus once per window the sweep.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cloudchat.models import Member, MessageKind, StoredMessage
from cloudchat.services import iso
from cloudchat.store import FanoutState

if TYPE_CHECKING:
    from cloudchat.fanout import Fanout, _Notes

# The marker walk's page: member items a Query reads at a time (well under 1 MB).
WALK_PAGE = 500
# Conversations this process has seen flagged large (a flag is never cleared), so their
# messages skip the member Query that tells a conversation not flagged yet; bounded.
KNOWN_MAX = 10_000
_known: set[str] = set()


class LargeGroups:
    """Large-conversation work of one :class:`~cloudchat.fanout.Fanout`."""

    def __init__(self, fanout: Fanout) -> None:
        self.fanout = fanout
        self.service = fanout.service
        self.store = fanout.store
        self.threshold = self.service.settings.large_group_threshold

    @staticmethod
    def known(conversation_id: str) -> bool:
        """Whether this process has seen the conversation flagged large."""
        return conversation_id in _known

    @staticmethod
    def remember(conversation_id: str) -> None:
        if len(_known) >= KNOWN_MAX:
            _known.clear()
        _known.add(conversation_id)

    # ---------------------------------------------------------------- membership records
    def member_added(self, member: Member) -> None:
        """A member who joined: their marker if the conversation is large; every member's,
        then the flag, if this arrival is the one that took it over the threshold."""
        cid = member.conversation_id
        _, state = self.store.messages_and_state(cid, [])
        now = iso(self.service.clock())
        if state.large:
            self.store.put_large_markers(cid, [member.user_id], now)
            self._online_now(cid, [member.user_id])
            return
        _, more = self.store.members_upto(cid, self.threshold)
        if not more:
            return
        for page in self.store.member_pages(cid, WALK_PAGE):
            self.store.put_large_markers(cid, [m.user_id for m in page], now)
            self._online_now(cid, [m.user_id for m in page])
        self.store.mark_large(cid, now)

    def _online_now(self, cid: str, user_ids: list[str]) -> None:
        """Members online right now get their online record in the conversation at once
        (one presence BatchGetItem per 100), not only at their next heartbeat."""
        now = self.service.clock()
        for uid, last_seen in sorted(self.store.presence(user_ids).items()):
            until = _until(last_seen, self.service.PRESENCE_ONLINE_SECONDS)
            if until > now:
                self.store.put_online(uid, [cid], iso(until), int(until.timestamp()) + 3600)

    def member_removed(self, member: Member) -> None:
        """A member who left or was removed loses the marker (none: nothing happens)."""
        self.store.delete_large_marker(member.conversation_id, member.user_id)

    # ------------------------------------------------------------------------ presence
    def heartbeat(self, user_id: str, last_seen: str) -> None:
        """The user is online in each large conversation they are in, for as long as
        presence counts a heartbeat (``PRESENCE_ONLINE_SECONDS``)."""
        cids = self.store.large_conversation_ids(user_id)
        if not cids:
            return
        until = _until(last_seen, self.service.PRESENCE_ONLINE_SECONDS)
        self.store.put_online(user_id, cids, iso(until), int(until.timestamp()) + 3600)

    # ------------------------------------------------------------------------- messages
    def recipients(self, cid: str, messages: Iterable[StoredMessage]) -> list[Member]:
        """The members a large conversation's new messages are fanned out to: online now,
        or mentioned by one of them (their member items, as they are now)."""
        wanted = set(self.store.online_members(cid, iso(self.service.clock())))
        for m in messages:
            wanted.update(m.mentions)
        if not wanted:
            return []
        found = self.store.members_named(cid, sorted(wanted))
        return [found[u] for u in sorted(found)]

    def sweep(self, stored: StoredMessage, state: FanoutState, notes: _Notes,
              skip: set[str]) -> None:
        """The window's notification sweep, if ``stored`` is the message that claims it:
        every offline member who sees it (but its sender, those who blocked the sender and
        ``skip``, the mentioned: they were notified of the mention) is notified once.
        ``state`` is the fan-out state read with the message: a sweep claimed within the
        window by another message means no claim is even tried (no write per message)."""
        if stored.kind is MessageKind.SYSTEM or self.fanout.notifier() is None:
            return
        now = self.service.clock()
        window = self.service.settings.notify_window_seconds
        not_before = iso(datetime.fromtimestamp(now.timestamp() - window, UTC))
        if state.sweep_at and state.sweep_at >= not_before and state.sweep_seq != stored.seq:
            return
        if not self.store.claim_sweep(stored.conversation_id, stored.seq, iso(now), not_before):
            return
        for page in self.store.member_pages(stored.conversation_id, WALK_PAGE):
            seeing = self.fanout._recipients(stored, page)
            unblocked = self.fanout._unblocked(stored, seeing)
            notes.notify(stored, [m for m in unblocked if m.user_id not in skip])


def _until(last_seen: str, online_seconds: int) -> datetime:
    """Until when a heartbeat at ``last_seen`` (ISO) counts the user online."""
    seen = datetime.fromisoformat(last_seen.replace("Z", "+00:00"))
    return seen + timedelta(seconds=online_seconds)
