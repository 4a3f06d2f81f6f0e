"""Members and roles of a GROUP conversation: adding, removing, leaving, roles, renaming
(each recorded by a SYSTEM message in the same transaction), and admins creating users."""

from __future__ import annotations

import re
from collections.abc import Callable
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
    MessageKind,
    Role,
    StoredMessage,
    User,
)
from cloudchat.services._base import NOT_MEMBER, iso
from cloudchat.services.blocks import refused
from cloudchat.services.conversations import ConversationsService
from cloudchat.store import binding

if TYPE_CHECKING:
    from types_boto3_cognito_idp import CognitoIdentityProviderClient
    from types_boto3_cognito_idp.type_defs import AttributeTypeTypeDef


class MembersService(ConversationsService):
    """Membership and roles of GROUP conversations; admins creating users."""

    MEMBERSHIP_ATTEMPTS = 10
    # One transaction: the actor's check, the conversation, the SYSTEM message, the rate log,
    # and per user added their member item and the check that they have not blocked the actor.
    MAX_ADDED_AT_ONCE = (100 - 4) // 2

    def add_members(self, caller: Caller, conversation_id: object,
                    user_ids: object) -> MembershipChange:
        """Owners and admins add members to a GROUP. New members read history from the
        system message that announces them on (they do not see what came before)."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        if not isinstance(user_ids, list) or not user_ids:
            raise BadRequest("userIds must name at least one user")
        wanted = list(dict.fromkeys(validation.user_id(u) for u in user_ids))
        if len(wanted) > self.MAX_ADDED_AT_ONCE:
            raise BadRequest(f"add at most {self.MAX_ADDED_AT_ONCE} members at a time")
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
            unknown = [u for u in new if u not in users or users[u].deleted_at is not None]
            if unknown:
                raise BadRequest("unknown member ids: " + ", ".join(unknown),
                                 info={"unknownIds": unknown})
            now = iso(self.clock())
            seq = conv.last_seq + 1
            added = [Member(conversation_id=cid, user_id=u, role=Role.MEMBER, joined_at=now,
                            joined_seq=seq - 1, read_seq=seq - 1, last_activity=now)
                     for u in new]
            text = f"{self._name(users, caller.user_id)} added {self._names(users, new)}"
            try:
                change = self._apply_members(caller, conv, text, now, (Role.OWNER, Role.ADMIN),
                                             "ADDED", new, None, add=added,
                                             blocks=[(u, caller.user_id) for u in new])
            except BlockedPairs as exc:
                raise refused(caller, exc, direct=False) from None
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
        members = dict(conv.members)
        for m in changes.get("add", ()):  # type: ignore[attr-defined]
            members[m.user_id] = m.role
        for uid, _ in changes.get("remove", ()):  # type: ignore[attr-defined]
            members.pop(uid, None)
        for uid, _, new in changes.get("set_roles", ()):  # type: ignore[attr-defined]
            members[uid] = new
        return MembershipChange(conv.id, action, caller.user_id, tuple(user_ids), role, members,
                                self._plain(system, text))

    @staticmethod
    def _name(users: dict[str, User], user_id: str) -> str:
        u = users.get(user_id)
        return u.display_name if u else "someone"

    def _names(self, users: dict[str, User], user_ids: list[str]) -> str:
        names = [self._name(users, u) for u in user_ids]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
