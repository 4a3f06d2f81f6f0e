"""Account deletion (``deleteAccount``, ``adminDeleteUser``).

In the request (fast, bounded, idempotent): one transaction replaces the profile by a
"Deleted user" marker (out of the directory, both name and e-mail entries), removes the
device items (their SNS endpoints are deleted first), turns presence into a marker that
refuses heartbeats, and records the deletion job; then Cognito signs the user out
everywhere (AdminUserGlobalSignOut) and deletes them (AdminDeleteUser). The database comes
first: a crash before Cognito leaves a user who can still sign in and run it again; a crash
after leaves the job, which an admin's ``adminDeleteUser`` restarts (Cognito's "user not
found" counts as done).

In the background (the stream consumer, :mod:`cloudchat.erasure`, one bounded step per
stream record of the job item): first the user leaves every conversation (up to
``DEPARTURES_PER_STEP`` a step) with a SYSTEM message "<name> left", the last owner of a group
handing over to the longest-standing admin (else member) in the same transaction, and their
pending uploads go; then, with ``eraseMessages``, their messages in every conversation they
ever left (the ``LEFT#`` records membership changes keep, these departures included) become
tombstones, a page of a conversation's messages per step. Then the job is DONE.

The user's memberships are found through GSI1, which lags the table (eventually consistent
on AWS). A conversation joined moments before the deletion may not be listed yet, so the job
concludes "no membership left" only once the index has had ``GSI_SETTLE_S`` since the job
(re)started: a step that finds none earlier waits for the rest of that time and looks again.
(Memberships written after the deletion began are refused: the profile is the deleted
marker. On AWS, propagation takes "a fraction of a second, under normal conditions"; an
admin's ``adminDeleteUser`` re-runs the job if it ever was not enough.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cloudchat import ids, validation
from cloudchat.crypto import seal
from cloudchat.errors import BadRequest, Conflict, Forbidden
from cloudchat.models import (
    Caller,
    Conversation,
    DeletionJob,
    Kind,
    Member,
    MessageKind,
    Role,
    StoredMessage,
)
from cloudchat.services._base import iso
from cloudchat.services.members import MembersService
from cloudchat.store import binding

if TYPE_CHECKING:
    from types_boto3_cognito_idp import CognitoIdentityProviderClient
    from types_boto3_sns import SNSClient

ERASE_PAGE = 100  # message items evaluated per background step
DEPARTURES_PER_STEP = 10  # conversations left per background step (without eraseMessages)
GSI_SETTLE_S = 2.0  # how long GSI1 is given to list a membership written before the job


class AccountsService(MembersService):
    """Deleting accounts: the request's part, and the background job's steps."""

    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def delete_account(self, caller: Caller, erase_messages: object,
                       cognito: Callable[[], CognitoIdentityProviderClient],
                       sns: Callable[[], SNSClient], user_pool_id: str | None) -> DeletionJob:
        """The caller deletes their own account (re-running it resumes a deletion)."""
        return self._delete_user(caller.user_id, caller.username, erase_messages, caller.user_id,
                                 cognito, sns, user_pool_id)

    def admin_delete_user(self, caller: Caller, user_id: object, erase_messages: object,
                          cognito: Callable[[], CognitoIdentityProviderClient],
                          sns: Callable[[], SNSClient], user_pool_id: str | None) -> DeletionJob:
        """The admin group deletes any user (also one whose Cognito user is gone already)."""
        if not caller.is_admin:
            raise Forbidden("only the admin group deletes users")
        target = validation.user_id(user_id)
        return self._delete_user(target, None, erase_messages, caller.user_id, cognito, sns,
                                 user_pool_id)

    def _delete_user(self, user_id: str, username: str | None, erase_messages: object, by: str,
                     cognito: Callable[[], CognitoIdentityProviderClient],
                     sns: Callable[[], SNSClient], user_pool_id: str | None) -> DeletionJob:
        from botocore.exceptions import ClientError

        if erase_messages is not None and not isinstance(erase_messages, bool):
            raise BadRequest("eraseMessages must be true, false or null")
        if not user_pool_id:
            raise BadRequest("user administration is not configured here")
        for _ in range(self.MEMBERSHIP_ATTEMPTS):
            state = self.store.account_state(user_id)
            for endpoint in state.endpoints:
                try:
                    sns().delete_endpoint(EndpointArn=endpoint)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "NotFound":
                        raise
            # (an admin names an existing user; a caller is who they are, profile or not)
            job = self.store.begin_deletion(state, bool(erase_messages), by, iso(self.clock()),
                                            must_exist=by != user_id and state.job is None)
            if job == "no_user":
                raise BadRequest("no such user")
            if isinstance(job, DeletionJob):
                break
        else:
            raise Conflict("the account is being changed right now; retry")
        self._known_profiles.discard(user_id)
        # (Cognito takes the username, or the sub of a local user: AdminDeleteUser's Username)
        name = username or user_id
        client = cognito()
        for call in (client.admin_user_global_sign_out, client.admin_delete_user):
            try:
                call(UserPoolId=user_pool_id, Username=str(name))
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "UserNotFoundException":
                    raise
        return job

    # ------------------------------------------------------------- the background job
    def deletion_step(self, user_id: str, step: int) -> bool:
        """One bounded step of the job, if ``step`` is still the job's step (a repeated or
        outdated stream record does nothing). True if it moved the job on."""
        job = self.store.deletion_job(user_id)
        if job is None or job.status != "RUNNING" or job.step != step:
            return False
        cursor = job.cursor
        if cursor is not None:
            return self._erase_page(job, str(cursor["cid"]), int(cursor.get("after", 0)))
        # first out of every conversation (what the account can still reach), then erasure
        departed, waited = 0, False
        while departed < DEPARTURES_PER_STEP:
            conv, me = self._next_membership(user_id)
            if conv is None or me is None:
                if not waited and self._settle(job):
                    waited = True  # the index may not have listed a recent membership yet
                    continue
                break
            self._depart(conv, me)
            departed += 1
        else:
            return self.store.advance_job(job, None)  # more may follow: the next step
        if job.erase:
            # every conversation the user ever left (this job's departures included)
            left = self.store.left_conversation(user_id)
            if left is not None:
                return self._erase_page(job, left, 0)
        return self.store.advance_job(job, None, done_at=iso(self.clock()))

    def _settle(self, job: DeletionJob) -> bool:
        """Waits out what is left of ``GSI_SETTLE_S`` since the job (re)started; True if it
        waited (then the index is worth asking again)."""
        started = datetime.fromisoformat((job.started_at or job.requested_at).replace("Z", "+00:00"))
        left = (started + timedelta(seconds=GSI_SETTLE_S) - self.clock()).total_seconds()
        if left <= 0:
            return False
        self.sleep(min(left, GSI_SETTLE_S))
        return True

    def _erase_page(self, job: DeletionJob, cid: str, after: int) -> bool:
        """Tombstones the user's messages in one page of a conversation they left; after
        the last page, the conversation is off the list of those to erase."""
        found, last = self.store.sent_messages(cid, job.user_id, after, ERASE_PAGE)
        at = iso(self.clock())
        for m in found:
            out = self.store.delete_message(cid, m.seq, m.id, job.user_id, moderator=True,
                                            member_roles=(), at=at, erased=True)
            if out.purge:
                self.media.tag(out.purge, "pending")
        if last is not None:
            return self.store.advance_job(job, {"cid": cid, "after": last})
        self.store.forget_left(job.user_id, cid)
        return self.store.advance_job(job, None)

    def _next_membership(self, user_id: str) -> tuple[Conversation | None, Member | None]:
        """A conversation the user is still a member of (GSI1 lists them, eventually
        consistent; each is confirmed by a strongly consistent read)."""
        start = None
        while True:
            rows, more = self.store.memberships(user_id, 50, start)
            live = self.store.conversations_of(user_id, [m.conversation_id for m in rows])
            for m in rows:
                if m.conversation_id in live:
                    return live[m.conversation_id]
            if not more or not rows:
                return None, None
            start = self.store.membership_cursor(rows[-1])

    def _depart(self, conv: Conversation, me: Member) -> None:
        """The user leaves (SYSTEM "<name> left"); their pending uploads go. The last owner
        of a group with others in it hands over, in the same transaction, to the
        longest-standing admin, else member ("...; <name> is now an owner")."""
        uid = me.user_id
        for upload in self.store.pending_uploads_of(conv.id, uid):
            # (its object, if uploaded, is tagged `pending` since its POST: the bucket's
            # lifecycle rule expires it; without the grant no message can claim it)
            self.store.drop_upload(upload)
        for _ in range(self.MEMBERSHIP_ATTEMPTS):
            role = me.role
            heir = self._heir(conv, uid) if role is Role.OWNER and conv.kind is Kind.GROUP else None
            users = self.store.profiles([uid, *([heir.user_id] if heir else [])])
            text = f"{self._name(users, uid)} left"
            set_roles: list[tuple[str, Role, Role]] = []
            if heir is not None:
                text += f"; {self._name(users, heir.user_id)} is now an owner"
                set_roles.append((heir.user_id, heir.role, Role.OWNER))
            outcome = self._leave_as(conv, uid, role, text, set_roles)
            if outcome == "ok":
                self.keys.forget(conv.id)
                return
            fresh, mine = self.store.conversation_and_member(conv.id, uid)
            if fresh is None or mine is None:
                return
            conv, me = fresh, mine
        raise Conflict(f"conversation {conv.id} is too busy to leave; the job retries")

    def _heir(self, conv: Conversation, uid: str) -> Member | None:
        """The member who becomes an owner when the last owner ``uid`` leaves (ownerCount
        says whether another owner remains; only then are the member items read)."""
        if conv.owner_count > 1:
            return None
        others = [m for m in self.store.members(conv.id) if m.user_id != uid]
        if not others:
            return None
        rank = {Role.ADMIN: 0, Role.MEMBER: 1, Role.OWNER: 0}
        return min(others, key=lambda m: (rank[m.role], m.joined_seq, m.joined_at, m.user_id))

    def _leave_as(self, conv: Conversation, uid: str, role: Role, text: str,
                  set_roles: list[tuple[str, Role, Role]]) -> str:
        seq = conv.last_seq + 1
        mid = ids.new_message_id(seq)
        now = iso(self.clock())
        key = self.keys.key(conv.id, conv.key_version, conv.wrapped_key)
        system = StoredMessage(conversation_id=conv.id, seq=seq, id=mid, sender_id=uid,
                               kind=MessageKind.SYSTEM, created_at=now, sealed=None)
        system.sealed = seal(key, text, conversation_id=conv.id, message_id=mid,
                             key_version=conv.key_version, binding=binding(system))
        outcome: str = self.store.change_members(
            conv, actor=uid, actor_roles=(), system=system, now=now, rate=None,
            remove=[(uid, role)], set_roles=set_roles)
        return outcome
