"""Users: profiles (created from the Cognito identity on first use, or by the
PostConfirmation trigger), the directory, and presence."""

from __future__ import annotations

from datetime import UTC, datetime

from cloudchat import validation
from cloudchat.errors import AccountDeleted, AccountGone, BadRequest, Forbidden
from cloudchat.models import Caller, User
from cloudchat.services._base import ServiceBase, iso


class UsersService(ServiceBase):
    """Profiles, the directory and presence."""

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
        if user is not None and user.deleted_at is not None:
            raise AccountDeleted
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
        if user is None:  # (ensure_profile just created it, unless the account was deleted)
            raise AccountDeleted
        return user

    def users(self, caller: Caller, query: object, limit: int | None,
              next_token: str | None) -> tuple[list[User], str | None]:
        """The directory: by display-name prefix, or by email prefix when the query has '@'.
        Never a scan: one index query per page and one BatchGetItem, of the caller's own
        profile (a deleted account is refused) and of the blocks that leave out the users who
        blocked the caller (a page can be shorter than ``limit``, never empty while more
        follow)."""
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
        while True:
            users, cursor = self.store.directory(by_email, q, n, start)
            # who blocked the caller, and the caller's own profile (a deleted account is
            # refused: the index read cannot say), in one BatchGetItem
            hidden, deleted = self.store.blockers_and_deletion([u.id for u in users],
                                                               caller.user_id)
            if deleted:
                raise AccountDeleted
            users = [u for u in users if u.id not in hidden]
            if users or cursor is None:
                break
            start = cursor
        token = (self.tokens.seal({"k": cursor}, user_id=caller.user_id, operation="users",
                                  scope=scope) if cursor else None)
        return users, token

    def users_by_ids(self, caller: Caller, user_ids: object) -> list[User]:
        """Profiles by id (one BatchGetItem), in the order asked, unknown ids left out. Like
        the directory, names are visible to every signed-in user; emails only to their
        owner (views.user)."""
        wanted = validation.user_ids(user_ids, "ids")
        found = self.store.profiles([*wanted, caller.user_id])  # (the caller's: same request)
        mine = found.get(caller.user_id)
        if mine is not None and mine.deleted_at is not None:
            raise AccountDeleted
        return [found[u] for u in wanted if u in found]

    PRESENCE_ONLINE_SECONDS = 60
    PRESENCE_TTL_SECONDS = 24 * 3600

    def heartbeat(self, caller: Caller) -> dict[str, object]:
        now = self.clock()
        if not self.store.touch_presence(caller.user_id, iso(now),
                                         int(now.timestamp()) + self.PRESENCE_TTL_SECONDS):
            raise AccountDeleted
        return {"userId": caller.user_id, "online": True, "lastSeen": iso(now)}

    def presence(self, caller: Caller, user_ids: object) -> list[dict[str, object]]:
        """Online state of people who share a conversation with the caller (only them)."""
        wanted = validation.user_ids(user_ids, "userIds")
        strangers = set(wanted) - self.store.contacts(caller.user_id)
        if strangers:  # (co-members of a large conversation are checked one by one)
            strangers -= self.store.shares_large(caller.user_id, sorted(strangers))
        if strangers:
            raise Forbidden("presence is visible only for people you share a conversation with",
                            info={"userIds": sorted(strangers)})
        try:
            seen = self.store.presence(wanted, viewer=caller.user_id)
        except AccountGone:
            raise AccountDeleted from None
        cutoff = iso(datetime.fromtimestamp(self.clock().timestamp()
                                            - self.PRESENCE_ONLINE_SECONDS, UTC))
        return [{"userId": u, "lastSeen": seen.get(u), "online": seen.get(u, "") >= cutoff}
                for u in wanted]
