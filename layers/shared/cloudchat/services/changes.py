"""Changes to a sent message: reactions, edits (within a window, at most so many), deletes
(which destroy every ciphertext of the message), and the edit history."""

from __future__ import annotations

from datetime import UTC, datetime

from cloudchat import validation
from cloudchat.crypto import open_sealed, seal
from cloudchat.errors import BadRequest, Conflict, Forbidden, NotFound
from cloudchat.models import BodyVersion, Caller, Message, MessageKind, MessageVersion, Role, StoredMessage
from cloudchat.services._base import NOT_MEMBER, iso
from cloudchat.services.media import MediaService
from cloudchat.services.search import body_tokens
from cloudchat.store import WriteOutcome, binding


class ChangesService(MediaService):
    """Reactions, edits, deletes and edit history."""

    @staticmethod
    def _raise_refused(out: WriteOutcome) -> None:
        if out.not_member:
            raise Forbidden(NOT_MEMBER)
        if out.missing:
            raise NotFound("message not found in this conversation")
        if out.deleted:
            raise Conflict("the message was deleted")
        if out.retry:
            raise Conflict("the message is being changed concurrently; retry")
        if out.too_large:
            raise BadRequest("this message has reached the storage limit for one message "
                             "(400 KB): it takes no more edits or reactions")

    def react(self, caller: Caller, conversation_id: object, message_id: object, emoji: object,
              *, add: bool) -> Message:
        """Adds (or removes) the caller's reaction; repeating either is a no-op."""
        cid, mid, seq = self._addressed(conversation_id, message_id)
        e = validation.emoji(emoji)
        out = self.store.react(cid, seq, mid, caller.user_id, e, add=add,
                               max_kinds=self.settings.max_reaction_kinds)
        if out.message is None:
            self._raise_refused(out)
            if out.limit:
                raise BadRequest(
                    f"a message can have at most {self.settings.max_reaction_kinds} different reactions")
            raise Conflict("the message is being changed concurrently; retry")
        return self._decrypt(out.message, None)

    def edit_message(self, caller: Caller, conversation_id: object, message_id: object,
                     body: object, expected_version: object) -> Message:
        cid, mid, seq = self._addressed(conversation_id, message_id)
        text = validation.body(body, self.settings.max_body_chars)
        version = validation.positive_seq(expected_version, "expectedVersion")
        key, kv = self._current_key(cid)
        now = self.clock()
        window = self.settings.edit_window_seconds

        def sealed(current: StoredMessage) -> BodyVersion:
            """The new version, bound like the message it is appended to (whose current
            body must itself open: an edit never vouches for a tampered message)."""
            if current.sealed is not None:
                open_sealed(self._key_for(cid, current.sealed.key_version), current.sealed,
                            conversation_id=cid, message_id=mid, binding=binding(current))
            return BodyVersion(seal(key, text, conversation_id=cid, message_id=mid,
                                    key_version=kv, version=version + 1,
                                    binding=binding(current)), iso(now))

        out = self.store.edit_message(
            cid, seq, mid, caller.user_id, sealed,
            expected_version=version, not_before=iso(datetime.fromtimestamp(
                now.timestamp() - window, UTC)), max_versions=self.settings.max_edits + 1,
            last_seq_hint=self._seq_hint.get(cid), index=body_tokens(key, text))
        if not out.ok:
            self._raise_refused(out)
            old = out.old
            if out.not_allowed and old is not None and old.kind is MessageKind.SYSTEM:
                raise Forbidden("system messages cannot be edited")
            if out.not_allowed and old is not None and old.sender_id != caller.user_id:
                raise Forbidden("only the author can edit a message")
            if out.not_allowed:
                raise Forbidden(f"messages can be edited for {window} seconds after sending")
            if out.stale and old is not None:
                raise Conflict("the message was changed since you read it",
                               info={"currentVersion": old.version})
            raise BadRequest(f"a message can be edited at most {self.settings.max_edits} times")
        if out.message is None:  # pragma: no cover - an ok write always carries its message
            raise Conflict("the message is being changed concurrently; retry")
        return self._decrypt(out.message, None)

    def delete_message(self, caller: Caller, conversation_id: object,
                       message_id: object) -> Message:
        """The author, a conversation owner/admin, or a global moderator/admin may delete;
        SYSTEM messages only a moderator (the audit entry records every delete). One
        transaction destroys every ciphertext of the message; then its S3 objects are
        tagged `pending`, which the bucket's lifecycle rule expires. Should S3 fail then,
        a retried delete (answered Conflict: it is deleted) tags them again."""
        cid, mid, seq = self._addressed(conversation_id, message_id)
        out = self.store.delete_message(
            cid, seq, mid, caller.user_id, moderator=caller.is_moderator,
            member_roles=(Role.OWNER, Role.ADMIN), at=iso(self.clock()),
            last_seq_hint=self._seq_hint.get(cid))
        if out.purge:
            self.media.tag(out.purge, "pending")
        if not out.ok:
            self._raise_refused(out)
            if out.old is not None and out.old.kind is MessageKind.SYSTEM:
                raise Forbidden("system messages cannot be deleted by members; "
                                "a moderator can")
            raise Forbidden("only the author, a conversation owner or admin, or a "
                            "moderator can delete this message")
        if out.message is None:  # pragma: no cover - an ok write always carries its message
            raise Conflict("the message is being changed concurrently; retry")
        return self._plain(out.message, None)

    def edit_history(self, caller: Caller, conversation_id: object,
                     message_id: object) -> list[MessageVersion]:
        """Every body version, oldest first: for the author and conversation owners/admins."""
        cid, mid, seq = self._addressed(conversation_id, message_id)
        stored, member = self.store.message_and_member(cid, seq, caller.user_id)
        if member is None:
            raise Forbidden(NOT_MEMBER)
        if stored is None or stored.id != mid or stored.seq <= member.joined_seq:
            raise NotFound("message not found in this conversation")  # (or from before they joined)
        if stored.sender_id != caller.user_id and member.role not in (Role.OWNER, Role.ADMIN):
            raise Forbidden("only the author and conversation owners or admins see edit history")
        if stored.deleted_at or stored.sealed is None:
            return []
        versions = [*stored.history, BodyVersion(stored.sealed, stored.edited_at or stored.created_at)]
        key_for = lambda kv: self._key_for(cid, kv)  # noqa: E731
        from cloudchat.crypto import open_sealed as _open

        return [MessageVersion(b.sealed.version,
                               _open(key_for(b.sealed.key_version), b.sealed,
                                     conversation_id=cid, message_id=mid,
                                     binding=binding(stored)), b.at)
                for b in versions]
