"""Members and roles of a GROUP conversation: adding, removing, leaving, roles, renaming
(each recorded by a SYSTEM message in the same transaction), and admins creating users."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from cloudchat import ids, validation
from cloudchat.crypto import seal
from cloudchat.errors import (
    AccountDeleted,
    AccountGone,
    BadRequest,
    BlockedPairs,
    Conflict,
    Forbidden,
    NotFound,
    RateExceeded,
)
from cloudchat.models import (
    Caller,
    Conversation,
    ConversationView,
    Kind,
    Member,
    MembershipChange,
    Message,
    MessageKind,
    Page,
    Role,
    StoredMessage,
    User,
)
from cloudchat.services._base import NOT_MEMBER, iso
from cloudchat.services.blocks import refused
from cloudchat.services.conversations import ConversationsService
from cloudchat.store import CHUNK_USERS, binding, counts_after

if TYPE_CHECKING:
    from types_boto3_cognito_idp import CognitoIdentityProviderClient
    from types_boto3_cognito_idp.type_defs import AttributeTypeTypeDef


def adds_digest(user_ids: Sequence[str]) -> str:
    """What names one addMembers call for its retries: its set of user ids."""
    return hashlib.sha256("\n".join(sorted(set(user_ids))).encode()).hexdigest()[:32]


class MembersService(ConversationsService):
    """Membership and roles of GROUP conversations; admins creating users."""

    MEMBERSHIP_ATTEMPTS = 10
    # One transaction: the actor's check, the conversation, the SYSTEM message, the rate log,
    # and per user added their member item and the check that they have not blocked the actor.
    MAX_ADDED_AT_ONCE = (100 - 4) // 2
    MAX_IDS_PER_CALL = 1000  # addMembers (chunks of 49 after the first 48)
    MEMBERS_PAGE = 50  # Query.members' default page
    NAMED_AT_MOST = 10  # a SYSTEM message names this many users added; above, it counts them

    def add_members(self, caller: Caller, conversation_id: object,
                    user_ids: object) -> MembershipChange:
        """Owners and admins add members to a GROUP. New members read history from the
        system message that announces them on (they do not see what came before). Up to
        48 new members this is one transaction; more (up to ``MAX_IDS_PER_CALL``) go in
        chunks by the resumable rule of :mod:`cloudchat.store._member_pages`."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        if not isinstance(user_ids, list) or not user_ids:
            raise BadRequest("userIds must name at least one user")
        if len(user_ids) > self.MAX_IDS_PER_CALL:
            raise BadRequest(f"add at most {self.MAX_IDS_PER_CALL} members at a time")
        wanted = list(dict.fromkeys(validation.user_id(u) for u in user_ids))
        for _ in range(self.MEMBERSHIP_ATTEMPTS):
            conv, me = self._group_for_change(caller, cid)
            if me.role not in (Role.OWNER, Role.ADMIN):
                raise Forbidden("only conversation owners and admins can add members")
            digest = adds_digest(wanted)
            present = self.store.existing_members(cid, wanted)
            new = [u for u in wanted if u not in present]
            if not new:
                raise BadRequest("every user named is already a member")
            if conv.member_count + len(new) > self.settings.max_group_members:
                raise BadRequest(
                    f"a conversation has at most {self.settings.max_group_members} members")
            users, _ = self.store.profiles_and_direct([caller.user_id, *new], None)
            unknown = [u for u in new if u not in users or users[u].deleted_at is not None]
            if unknown:
                raise BadRequest("unknown member ids: " + ", ".join(unknown),
                                 info={"unknownIds": unknown})
            resuming = conv.pending_add is not None and conv.pending_add[0] == digest
            large = resuming or len(new) > self.MAX_ADDED_AT_ONCE
            if large:  # refuse before writing anything when a block is known now
                blockers = self.store.blockers_of(new, caller.user_id)
                if blockers:
                    raise refused(caller, BlockedPairs([(u, caller.user_id) for u in new
                                                        if u in blockers]), direct=False)
            if resuming:  # a retry of a call whose first chunk committed: the rest
                return self._add_rest(caller, conv, new, digest)
            now = iso(self.clock())
            seq = conv.last_seq + 1
            first = new[:self.MAX_ADDED_AT_ONCE]
            added = [Member(conversation_id=cid, user_id=u, role=Role.MEMBER, joined_at=now,
                            joined_seq=seq - 1, read_seq=seq - 1, last_activity=now)
                     for u in first]
            named = (self._names(users, new) if len(new) <= self.NAMED_AT_MOST
                     else f"{len(new)} members")
            text = f"{self._name(users, caller.user_id)} added {named}"
            try:
                change = self._apply_members(caller, conv, text, now, (Role.OWNER, Role.ADMIN),
                                             "ADDED", first, None, add=added,
                                             blocks=[(u, caller.user_id) for u in first],
                                             **({"pending": digest} if large else {}))
            except BlockedPairs as exc:
                raise refused(caller, exc, direct=False) from None
            if change is None:
                continue
            if not large:
                return change
            conv.pending_add, conv.member_count = (digest, seq), change.member_count
            return self._add_rest(caller, conv, new[len(first):], digest, change.message,
                                  first)
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
            found = self.store.get_member(cid, target)
            role = found.role if found is not None else None
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
            if me.role is Role.OWNER and conv.owner_count <= 1 and conv.member_count > 1:
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
            found = self.store.get_member(cid, target)
            if found is None:
                raise NotFound("that user is not a member of this conversation")
            old = found.role
            if old is new_role:
                raise BadRequest(f"that member is already {new_role.value}")
            if old is Role.OWNER and conv.owner_count <= 1:
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
                          cognito: Callable[[], CognitoIdentityProviderClient],
                          user_pool_id: str | None) -> User:
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
        attributes: list[AttributeTypeTypeDef] = [{"Name": "email", "Value": email},
                                                  {"Name": "email_verified", "Value": "true"}]
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

    def members_page(self, caller: Caller, conversation_id: object, limit: int | None,
                     next_token: str | None) -> Page:
        """A page of the conversation's members by user id, for members only: one
        BatchGetItem (the conversation and the caller's member item) and one Query."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        n = validation.limit(limit, self.MEMBERS_PAGE)
        after = None
        if next_token is not None:
            after = self.tokens.open(next_token, user_id=caller.user_id, operation="members",
                                     scope=cid).get("u")
            if not isinstance(after, str):
                raise BadRequest("nextToken is invalid")
        conv, me = self.store.conversation_and_member(cid, caller.user_id)
        if conv is None or me is None:
            raise Forbidden(NOT_MEMBER)
        rows, more = self.store.members_page(cid, n, after)
        token = (self.tokens.seal({"u": rows[-1].user_id}, user_id=caller.user_id,
                                  operation="members", scope=cid) if more and rows else None)
        return Page(list(rows), token)

    def _group_for_change(self, caller: Caller, cid: str) -> tuple[Conversation, Member]:
        conv, me = self.store.conversation_and_member(cid, caller.user_id)
        if conv is None or me is None:
            raise Forbidden(NOT_MEMBER)
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
        except AccountGone:
            raise AccountDeleted from None
        if outcome == "denied":
            raise Forbidden("your role in this conversation changed; you cannot do that now")
        if outcome != "ok":
            return None  # moved on or changed: re-read and retry
        self._seq_hint.note(conv.id, seq)
        count, _ = counts_after(conv, changes.get("add", ()), changes.get("remove", ()),  # type: ignore[arg-type]
                                changes.get("set_roles", ()))  # type: ignore[arg-type]
        return MembershipChange(conv.id, action, caller.user_id, tuple(user_ids), role, count,
                                self._plain(system, text))

    def _add_rest(self, caller: Caller, conv: Conversation, rest: list[str], digest: str,
                  message: Message | None = None, done: Sequence[str] = ()) -> MembershipChange:
        """The later chunks of a large addMembers, marked ``pendingAdd`` by its first
        (:mod:`cloudchat.store._member_pages`); also what a retry of the same call runs."""
        assert conv.pending_add is not None
        seq = conv.pending_add[1]
        if message is None:
            stored = self.store.get_message(conv.id, seq)
            if stored is None:  # pragma: no cover - the mark and its message commit together
                raise Conflict("the conversation changed; retry")
            message = self._decrypt(stored, conv)
        now = iso(self.clock())
        added, count, todo = list(done), conv.member_count, list(rest)
        attempts = 0
        while todo:
            chunk = todo[:CHUNK_USERS]
            members = [Member(conversation_id=conv.id, user_id=u, role=Role.MEMBER,
                              joined_at=now, joined_seq=seq - 1, read_seq=seq - 1,
                              last_activity=now) for u in chunk]
            outcome = self.store.add_member_chunk(
                conv.id, actor=caller.user_id, actor_roles=(Role.OWNER, Role.ADMIN),
                add=members, digest=digest, max_members=self.settings.max_group_members,
                last=len(todo) <= CHUNK_USERS)
            if outcome == "ok":
                added += chunk
                count += len(chunk)
                todo = todo[len(chunk):]
                continue
            if outcome == "denied":
                raise Forbidden("your role in this conversation changed; you cannot do that now")
            if outcome.startswith("blocked:"):
                pairs = [tuple(p.split(":", 1)) for p in outcome.removeprefix("blocked:").split(",")]
                raise refused(caller, BlockedPairs(pairs), direct=False)  # type: ignore[arg-type]
            attempts += 1
            if attempts > self.MEMBERSHIP_ATTEMPTS:
                raise Conflict("the conversation is too busy right now; retry the same call")
            if outcome == "moved":
                fresh = self.store.get_conversation(conv.id)
                if fresh is None:
                    raise Forbidden(NOT_MEMBER)
                if fresh.pending_add is None or fresh.pending_add[0] != digest:
                    raise Conflict("another addition changed the conversation; retry the call")
                if fresh.member_count + len(chunk) > self.settings.max_group_members:
                    raise BadRequest(
                        f"a conversation has at most {self.settings.max_group_members} members")
                count = fresh.member_count
                continue
            present = self.store.existing_members(conv.id, chunk)  # "present" or "retry"
            todo = [u for u in todo if u not in present]
        return MembershipChange(conv.id, "ADDED", caller.user_id, tuple(added), None, count,
                                message)

    @staticmethod
    def _name(users: dict[str, User], user_id: str) -> str:
        u = users.get(user_id)
        return u.display_name if u else "someone"

    def _names(self, users: dict[str, User], user_ids: list[str]) -> str:
        names = [self._name(users, u) for u in user_ids]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
