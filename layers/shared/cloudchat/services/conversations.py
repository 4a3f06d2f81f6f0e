"""Conversations: creating one (a DIRECT pair has one conversation), reading one, and the
caller's list of them, most recent activity first."""

from __future__ import annotations

from cloudchat import ids, validation
from cloudchat.errors import (
    AccountDeleted,
    AccountGone,
    BadRequest,
    BlockedPairs,
    DirectExists,
    Forbidden,
    RateExceeded,
)
from cloudchat.models import Caller, Conversation, ConversationView, Kind, Member, Page, Role
from cloudchat.services._base import iso
from cloudchat.services._keys import CryptoService
from cloudchat.services.blocks import refused
from cloudchat.services.users import UsersService
from cloudchat.store import list_key


class ConversationsService(UsersService, CryptoService):
    """Creating, reading and listing conversations."""

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
        users, existing = self.store.profiles_and_direct([*others, caller.user_id], pair)
        mine = users.get(caller.user_id)
        if mine is not None and mine.deleted_at is not None:
            raise AccountDeleted
        unknown = [m for m in others if m not in users or users[m].deleted_at is not None]
        if unknown:
            raise BadRequest("unknown member ids: " + ", ".join(unknown),
                             info={"unknownIds": unknown})
        if existing:
            return self._existing_direct(caller, existing)

        now = iso(self.clock())
        cid = ids.new_id()
        roles = {caller.user_id: Role.OWNER, **{m: Role.MEMBER for m in others}}
        conv = Conversation(id=cid, kind=kind, title=clean_title, created_by=caller.user_id,
                            created_at=now, updated_at=now, member_count=len(roles),
                            owner_count=1, pair=(min(pair), max(pair)) if pair else None,
                            wrapped_key=self.keys.create(cid))
        members = [Member(conversation_id=cid, user_id=u, role=r, joined_at=now,
                          last_activity=now) for u, r in roles.items()]
        # A block forbids a DIRECT conversation either way, and adding its blocker to a group.
        blocks = ([(others[0], caller.user_id), (caller.user_id, others[0])] if pair
                  else [(m, caller.user_id) for m in others])
        try:
            self.store.create_conversation(conv, members, pair, rate=self._write_rate(),
                                           blocks=blocks)
        except RateExceeded as exc:
            self.keys.forget(cid)
            raise self._too_many_writes(exc) from None
        except BlockedPairs as exc:
            self.keys.forget(cid)
            raise refused(caller, exc, direct=pair is not None) from None
        except DirectExists as exc:
            self.keys.forget(cid)
            return self._existing_direct(caller, exc.conversation_id)
        except AccountGone:
            self.keys.forget(cid)
            raise AccountDeleted from None
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
        """The caller's conversations, most recent activity first: their GSI1 rows (a
        member item's list position, which the stream consumer moves) merged with their
        large conversations (:mod:`cloudchat.fanout_large`: positions not moved per member,
        so listed by the conversation's own last activity). The token holds a cursor into
        each: the GSI1 key after the last row listed, the activity key of the last large
        one listed."""
        n = validation.limit(limit)
        start: dict[str, str] | None = None
        after_large: str | None = None
        if next_token is not None:
            opened = self.tokens.open(next_token, user_id=caller.user_id, operation="conversations")
            start, after_large = opened.get("k"), opened.get("l")
            if ((start is not None and not isinstance(start, dict))
                    or (after_large is not None and not isinstance(after_large, str))
                    or (start is None and after_large is None)):
                raise BadRequest("nextToken is invalid")
        large_ids = self.store.large_conversation_ids(caller.user_id)
        # GSI1 (eventually consistent) gives the order and the candidates; the batch get
        # (strongly consistent, on the table) decides: a membership that ended is left out,
        # and unread counts and the last message use the member item as it is now. Rows of
        # large conversations are skipped there (over-read by as many), listed by activity.
        rows, more_rows = self.store.memberships(caller.user_id, n + len(large_ids), start)
        skip = set(large_ids)
        small = [m for m in rows if m.conversation_id not in skip]
        more_small = more_rows or len(small) > n
        small = small[:n]
        current = self.store.conversations_of(
            caller.user_id, [*(m.conversation_id for m in small), *large_ids])
        large = sorted(((k, c) for c in large_ids if c in current
                        and (k := large_key(*current[c])) and (after_large is None
                                                               or k < after_large)),
                       reverse=True)
        # (list key, conversation, its GSI1 row: None for a large one), newest first
        merged: list[tuple[str, str, Member | None]] = sorted(
            [*((activity_key_of(m), m.conversation_id, m) for m in small),
             *((k, c, None) for k, c in large)], key=lambda e: e[0], reverse=True)
        page = merged[:n]
        taken_small = [row for _, _, row in page if row is not None]
        taken_large = [k for k, _, row in page if row is None]
        items = [self._view(*current[cid]) for _, cid, _ in page if cid in current]
        more = (more_small or len(small) > len(taken_small)
                or len(large) > len(taken_large))
        token = None
        if more and page:
            token = self.tokens.seal({
                "k": self.store.membership_cursor(taken_small[-1]) if taken_small else start,
                "l": taken_large[-1] if taken_large else after_large,
            }, user_id=caller.user_id, operation="conversations")
        return Page(items, token)

    def _view(self, conv: Conversation, member: Member) -> ConversationView:
        self._seq_hint.note(conv.id, conv.last_seq)
        self._key_version[conv.id] = conv.key_version
        last = None
        if conv.last_message is not None and conv.last_message.seq > member.joined_seq:
            last = self._decrypt(conv.last_message, conv)
        return ConversationView(conv, member, last)


def activity_key_of(member: Member) -> str:
    """A GSI1 row's list key (as GSI1 sorts it)."""
    return list_key(member.last_activity or member.joined_at, member.conversation_id)


def large_key(conv: Conversation, member: Member) -> str:
    """A large conversation's list key: its last message (or creation), or the member's own
    list position when later (they joined after it, or it crossed the threshold since)."""
    last = conv.last_message.created_at if conv.last_message is not None else conv.created_at
    return list_key(max(last, member.last_activity or member.joined_at), conv.id)
