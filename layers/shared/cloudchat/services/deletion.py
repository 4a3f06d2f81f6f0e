"""Deleting a conversation, for every member, with crypto-shredding.

Owners delete a GROUP; either member deletes a DIRECT (for both). One transaction destroys
the conversation's wrapped data keys (the conversation item goes), checks the caller's
membership and role inside the write (their member item is deleted on that condition),
revokes every other member at once (their member items go too, as many as fit; a larger
group's rest go with the background purge and grant nothing meanwhile: every member check
also needs the conversation item), releases a DIRECT pair's
guard, and leaves an audit record without content. From then on every ciphertext of the
conversation is unreadable: no wrapped key is left to unwrap, and no member item is left for
a read (or a warm container's cached plaintext key) to pass. The stream consumer purges the
remaining items in the background (:mod:`cloudchat.purge`)."""

from __future__ import annotations

from cloudchat import ids
from cloudchat.errors import Conflict, Forbidden
from cloudchat.models import Caller, ConversationDeletion, Kind, Role
from cloudchat.services._base import NOT_MEMBER, ServiceBase, iso


class DeletionService(ServiceBase):
    """deleteConversation."""

    DELETE_ATTEMPTS = 10

    def delete_conversation(self, caller: Caller, conversation_id: object) -> ConversationDeletion:
        """Deletes the conversation for everyone (see the module docstring). A non-member,
        a conversation that does not exist and one already deleted all answer Forbidden
        (ids cannot be probed); a GROUP's members and admins are Forbidden too."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        for _ in range(self.DELETE_ATTEMPTS):
            conv, me = self.store.conversation_and_member(cid, caller.user_id)
            if conv is None or me is None:
                raise Forbidden(NOT_MEMBER)
            roles: tuple[Role, ...] = ()
            if conv.kind is Kind.GROUP:
                if me.role is not Role.OWNER:
                    raise Forbidden("only the owners of a group conversation can delete it")
                roles = (Role.OWNER,)
            deletion = ConversationDeletion(
                conversation_id=cid, kind=conv.kind, deleted_by=caller.user_id,
                deleted_at=iso(self.clock()), member_count=conv.member_count)
            outcome = self.store.delete_conversation(conv, deletion, roles)
            if outcome.status == "denied":
                raise Forbidden("your role in this conversation changed; you cannot delete it now")
            if outcome.status == "ok":
                self.keys.forget(cid)
                self._key_version.pop(cid, None)
                return deletion
        raise Conflict("the conversation is too busy right now; retry")
