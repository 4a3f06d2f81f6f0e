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
