"""Message writes: reactions, edits and deletion, each one transaction conditioned on the
remembered image's ``rev`` (see :mod:`cloudchat.store`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cloudchat.dataclass import dataclass, field
from cloudchat.models import BodyVersion, MessageKind, Role, StoredMessage, UploadStatus
from cloudchat.store import _codec as codec
from cloudchat.store._codec import REACTION_PREFIX
from cloudchat.store._images import rev
from cloudchat.store._keys import META, audit_sk, conv_pk, msg_sk, upload_sk
from cloudchat.store._messages import MessagesStore
from cloudchat.store._records import WriteOutcome
from cloudchat.store._search import IndexUpdate

_WRITE_ATTEMPTS = 3  # a reaction or an edit tried again this often on a stale image


def _expression(**clauses: Sequence[str]) -> str:
    """An UpdateExpression from its clauses: ``_expression(SET=[...], ADD=[...])``."""
    return " ".join(f"{kw} {', '.join(parts)}" for kw, parts in clauses.items() if parts)


@dataclass(frozen=True)
class _Change:
    """One update of a message item: its condition, UpdateExpression clauses and values,
    and how it changes an image of the item (for answering without a read)."""

    condition: str
    clauses: dict[str, list[str]]
    values: dict[str, Any]
    names: dict[str, str] | None
    apply: Callable[[dict[str, Any]], dict[str, Any]] = lambda image: image
    # Other items written in the same transaction, by name. A name starting with "opt:" is
    # optional: when only such items fail their condition, they are left out and the
    # change is tried again (e.g. the conversation's lastMessage copy, once a newer
    # message replaced it).
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)


class MessageWritesStore(MessagesStore):
    def _write_message(self, conversation_id: str, seq: int, change: _Change,
                       member: dict[str, Any] | None, base: dict[str, Any] | None = None,
                       leave_out: Iterable[str] = ()) -> tuple[bool, dict[str, dict[str, Any]]]:
        """A transaction of [member check?, message update, the change's extra items (but
        those in ``leave_out``)]; returns (ok, failed). The update adds 1 to the message's
        ``rev``; with ``base``, only if the item is still at the base image's ``rev``."""
        condition = change.condition
        values = {**change.values, ":one": 1}
        if base is not None:
            if rev(base):
                condition += " AND rev = :rev"
                values[":rev"] = rev(base)
            else:
                condition += " AND attribute_not_exists(rev)"
        clauses = {**change.clauses, "ADD": [*change.clauses.get("ADD", ()), "rev :one"]}
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self._key(conv_pk(conversation_id), msg_sk(seq)),
            "ConditionExpression": condition,
            "UpdateExpression": _expression(**clauses),
            "ExpressionAttributeValues": self._av(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if change.names:
            update["ExpressionAttributeNames"] = change.names
        ops: dict[str, dict[str, Any]] = {}
        if member is not None:
            ops["member"] = member
        ops["message"] = {"Update": update}
        skip = set(leave_out)
        ops.update((name, op) for name, op in change.extra.items() if name not in skip)
        meta = self._key(conv_pk(conversation_id), META)
        if member is not None and not any(next(iter(op.values())).get("Key") == meta
                                          for op in ops.values()):
            ops["alive"] = self._alive_check(conversation_id)  # (an orphan member item)
        failed = self._transact(ops)
        return failed is None, failed or {}

    def _refused(self, failed: dict[str, dict[str, Any]], message_id: str,
                 seq: int | None = None) -> WriteOutcome:
        if "alive" in failed:
            return WriteOutcome(not_member=True)  # the conversation was deleted
        if "member" in failed:
            # A member item came back (sees_seq): a member, but the message predates them
            # (or, with ``seq`` and a role check, one without the role: not allowed).
            old_member = failed["member"]
            if not old_member:
                return WriteOutcome(not_member=True)
            if seq is not None and int(old_member.get("joinedSeq", 0)) < seq:
                return WriteOutcome(not_allowed=True)
            return WriteOutcome(missing=True)
        if "message" not in failed:
            return WriteOutcome(retry=True)
        old = failed["message"]
        if not old or old.get("id") != message_id:
            return WriteOutcome(missing=True)
        stored = self._seen(old)
        if stored.deleted_at:
            return WriteOutcome(deleted=True, old=stored)
        return WriteOutcome(old=stored)

    def _change_message(self, conversation_id: str, seq: int, message_id: str, user_id: str,
                        change: Callable[[dict[str, Any]], _Change],
                        check: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
                        *, as_member: bool = True) -> WriteOutcome:
        """Applies ``change`` (built from the message's current image) for a member who can
        see the message, in one transaction with the member check, conditioned on the
        image's ``rev``; answers the changed message without reading it again. ``check``
        builds the member check from the image (default: a member who sees the message);
        ``as_member=False`` (global moderators) reads the message without the member.

        Requests: 1 when this container remembers the message's current image; +1 when the
        image is stale (the refused transaction returns the current one, then it is tried
        again); +1 when it has not seen the message (one BatchGetItem of the member and the
        message); +1 when an optional item of the change fails its condition."""
        base = self.images.get(conversation_id, seq)
        if base is None or base.get("id") != message_id:
            if as_member:
                member, _, found = self.read_messages(conversation_id, user_id, [seq],
                                                      with_conversation=False)
                if member is None:
                    return WriteOutcome(not_member=True)
                stored = found.get(seq)
                if stored is None or stored.id != message_id or stored.seq <= member.joined_seq:
                    return WriteOutcome(missing=True)
            else:
                stored = self.get_message(conversation_id, seq)
                if stored is None or stored.id != message_id:
                    return WriteOutcome(missing=True)
            base = self.images.get(conversation_id, seq)
            assert base is not None  # remembered by the read
        left_out: set[str] = set()
        for _ in range(_WRITE_ATTEMPTS + 2):
            planned = change(base)
            grown = codec.item_size(planned.apply({**base, "rev": rev(base) + 1}))
            if grown > codec.ITEM_SIZE_BUDGET and grown > codec.item_size(base):
                # DynamoDB would refuse the item (ValidationException, 400 KB): say so
                # clearly, and write nothing. Exact: the write is conditioned on this image.
                return WriteOutcome(too_large=True, old=codec.message(base))
            member_op = (check(base) if check is not None
                         else self._member_check(conversation_id, user_id, sees_seq=seq))
            ok, failed = self._write_message(conversation_id, seq, planned, member_op,
                                             base=base, leave_out=left_out)
            if ok:
                image = planned.apply({**base, "rev": rev(base) + 1})
                self.images.put(image)
                return WriteOutcome(ok=True, message=codec.message(image),
                                    purge=tuple(image.get("purge") or ()))
            optional = {n for n in failed if n.startswith("opt:")}
            if optional and optional == set(failed):
                left_out |= optional  # e.g. a newer message is the conversation's last now
                continue
            old = failed.get("message")
            if "member" in failed or not old or old.get("id") != message_id \
                    or rev(old) == rev(base):
                return self._refused(failed, message_id, seq if check is not None else None)
            base = old  # another container changed it first: again, from the current image
            self.images.put(base)
        return WriteOutcome(retry=True)

    def _index_change(self, cid: str, seq: int, base: dict[str, Any],
                      tokens: Sequence[bytes] | None) -> IndexUpdate:
        """The search index work of a write of the message at ``base``: its postings
        replaced by ``tokens`` (None: an edit that does not index, nothing changes)."""
        if tokens is None:
            return IndexUpdate({}, {}, ())
        return self.index_update(cid, seq, str(base.get("createdAt", "")), base, tokens)

    def react(self, conversation_id: str, seq: int, message_id: str, user_id: str, emoji: str,
              *, add: bool, max_kinds: int) -> WriteOutcome:
        """Adds or removes the caller's ``emoji`` on a message (a per-emoji set of user ids,
        so repeating either is a no-op; ``reactionKinds`` lists the emoji in use, at most
        ``max_kinds``), with the member check, in one transaction."""
        attr = REACTION_PREFIX + emoji

        def change(base: dict[str, Any]) -> _Change:
            users = set(base.get(attr) or ())
            kinds = set(base.get("reactionKinds") or ())
            values: dict[str, Any] = {":mid": message_id, ":me": {user_id}}
            condition = "id = :mid AND attribute_not_exists(deletedAt)"
            if add:
                users.add(user_id)
                kinds.add(emoji)
                values.update({":e": {emoji}, ":max": max_kinds, ":es": emoji})
                condition += (" AND (attribute_not_exists(reactionKinds) OR "
                              "contains(reactionKinds, :es) OR size(reactionKinds) < :max)")
                clauses = {"ADD": ["#r :me", "reactionKinds :e"]}
            else:
                users.discard(user_id)
                clauses = {"DELETE": ["#r :me"]}
                if not users and emoji in kinds:  # the last one: the kind goes too
                    kinds.discard(emoji)
                    clauses["DELETE"].append("reactionKinds :e")
                    values[":e"] = {emoji}

            def apply(image: dict[str, Any]) -> dict[str, Any]:
                for name, value in ((attr, users), ("reactionKinds", kinds)):
                    if value:
                        image[name] = value
                    else:
                        image.pop(name, None)  # DynamoDB drops an emptied set
                return image

            return _Change(condition, clauses, values, {"#r": attr}, apply)

        out = self._change_message(conversation_id, seq, message_id, user_id, change)
        if add and out.old is not None and not out.deleted and not out.too_large:
            return WriteOutcome(limit=True, old=out.old)
        return out

    def _last_message_update(self, conversation_id: str, seq: int, message_id: str,
                             expression: str, values: dict[str, Any]) -> dict[str, Any]:
        """An optional transaction item: the conversation's copy of its last message,
        changed only while it is this message (a newer message replaces the copy for good:
        lastSeq only grows)."""
        return {"Update": {
            "TableName": self.table_name, "Key": self._key(conv_pk(conversation_id), META),
            "ConditionExpression": "lastSeq = :lseq AND lastMessage.id = :lmid",
            "UpdateExpression": expression,
            "ExpressionAttributeValues": self._av({**values, ":lseq": seq, ":lmid": message_id}),
        }}

    def edit_message(self, conversation_id: str, seq: int, message_id: str, editor: str,
                     body: Callable[[StoredMessage], BodyVersion], *, expected_version: int,
                     not_before: str, max_versions: int,
                     last_seq_hint: int | None = None,
                     index: Sequence[bytes] | None = None) -> WriteOutcome:
        """Appends a new body version (earlier ones stay, encrypted, as the edit history).
        Author only, never a SYSTEM message, within the edit window, at the expected
        version, by a member. ``body`` seals the new version for the message as currently
        stored (its binding). When the message may be the conversation's last
        (``last_seq_hint`` unknown or not past it), the conversation's copy of it gets the
        new version in the same transaction (the copy keeps the current version only).
        ``index``: the new body's blind search tokens, which replace the old ones in the
        same transaction (:meth:`~cloudchat.store._search.SearchStore.index_update`)."""
        may_be_last = last_seq_hint is None or last_seq_hint <= seq

        def change(base: dict[str, Any]) -> _Change:
            new_body = codec.body_attr(body(codec.message(base)))
            extra: dict[str, dict[str, Any]] = {}
            if may_be_last:
                extra["opt:last"] = self._last_message_update(
                    conversation_id, seq, message_id,
                    "SET lastMessage.bodies = :lb, lastMessage.version = :lv, "
                    "lastMessage.editedAt = :lat",
                    {":lb": [new_body], ":lv": expected_version + 1, ":lat": new_body["at"]})

            indexed = self._index_change(conversation_id, seq, base, index)
            sets, removes, ix_values = indexed.clauses()
            extra.update(indexed.ops)

            def apply(image: dict[str, Any]) -> dict[str, Any]:
                image.update(bodies=[*(image.get("bodies") or ()), new_body],
                             version=expected_version + 1, editedAt=new_body["at"])
                return indexed.apply(image)

            return _Change(
                "id = :mid AND senderId = :me AND kind <> :system "
                "AND attribute_not_exists(deletedAt) "
                "AND createdAt >= :nb AND version = :v AND size(bodies) < :max",
                {"SET": ["bodies = list_append(bodies, :b)", "version = :next", "editedAt = :at",
                         *sets], "REMOVE": removes},
                {":mid": message_id, ":me": editor, ":nb": not_before, ":v": expected_version,
                 ":next": expected_version + 1, ":b": [new_body], ":at": new_body["at"],
                 ":max": max_versions, ":system": MessageKind.SYSTEM.value, **ix_values},
                None, apply, extra)

        out = self._change_message(conversation_id, seq, message_id, editor, change)
        old = out.old
        if out.ok or old is None or out.deleted or out.too_large:
            return out
        if (old.sender_id != editor or old.kind is MessageKind.SYSTEM
                or old.created_at < not_before):
            return WriteOutcome(not_allowed=True, old=old)
        if old.version != expected_version:
            return WriteOutcome(stale=True, old=old)
        return WriteOutcome(limit=True, old=old)

    def delete_message(self, conversation_id: str, seq: int, message_id: str, actor: str, *,
                       moderator: bool, member_roles: Sequence[Role], at: str,
                       last_seq_hint: int | None = None, erased: bool = False) -> WriteOutcome:
        """Tombstones a message in one transaction: every ciphertext of it is removed (the
        body versions, the encrypted file names on the message and on its upload items, and
        the conversation's copy when it is the last message), its upload items are marked
        DELETED (no message can claim them again), and an audit entry records who and when.
        Seq, thread structure and reactions stay (views hide a tombstone's reactions). The
        tombstone keeps its objects' S3 keys (``purge``, no names) so the caller can
        schedule them for expiry, again on a retry.

        Who: a global ``moderator`` (no membership needed; SYSTEM messages included); the
        author; or a member holding one of ``member_roles``. Members never delete SYSTEM
        messages. ``erased``: the tombstone of a deleted account's message (eraseMessages).
        """
        pk = conv_pk(conversation_id)
        audit = {"Put": {"TableName": self.table_name, "Item": self._av({
            "PK": pk, "SK": audit_sk(seq, at, actor), "type": "AUDIT",
            "action": "DELETE", "messageId": message_id, "actorId": actor, "at": at})}}

        def change(base: dict[str, Any]) -> _Change:
            files = list(base.get("attachments") or ())
            purge = [str(a["key"]) for a in files]
            cond = "id = :mid AND attribute_not_exists(deletedAt)"
            values: dict[str, Any] = {":mid": message_id, ":at": at, ":by": actor}
            if not moderator:
                cond += " AND kind <> :system"
                values[":system"] = MessageKind.SYSTEM.value
                if base.get("senderId") == actor:
                    cond += " AND senderId = :by"
            sets = ["deletedAt = :at", "deletedBy = :by", "version = version + :one"]
            if erased:
                sets.append("erased = :erased")
                values[":erased"] = True
            if purge:
                sets.append("purge = :purge")
                values[":purge"] = purge
            extra: dict[str, dict[str, Any]] = {"audit": audit}
            for a in files:
                extra[f"opt:upload:{a['id']}"] = {"Update": {
                    "TableName": self.table_name, "Key": self._key(pk, upload_sk(a["id"])),
                    "ConditionExpression": "attribute_exists(PK)",
                    "UpdateExpression": "SET #s = :deleted REMOVE nameCt, nameNonce, nameKv",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": self._av({":deleted": UploadStatus.DELETED.value})}}
            if last_seq_hint is None or last_seq_hint <= seq:
                extra["opt:last"] = self._last_message_update(
                    conversation_id, seq, message_id,
                    "SET lastMessage.deletedAt = :at, lastMessage.deletedBy = :by "
                    "REMOVE lastMessage.bodies, lastMessage.attachments",
                    {":at": at, ":by": actor})

            indexed = self._index_change(conversation_id, seq, base, ())  # postings go
            ix_sets, ix_removes, ix_values = indexed.clauses()
            extra.update(indexed.ops)
            values.update(ix_values)

            def apply(image: dict[str, Any]) -> dict[str, Any]:
                for name in ("bodies", "reactionKinds", "attachments"):
                    image.pop(name, None)
                image.update(deletedAt=at, deletedBy=actor,
                             version=int(image.get("version", 1)) + 1)
                if erased:
                    image["erased"] = True
                if purge:
                    image["purge"] = purge
                return indexed.apply(image)

            return _Change(cond, {"SET": [*sets, *ix_sets],
                                  "REMOVE": ["bodies", "reactionKinds", "attachments",
                                             *ix_removes]},
                           values, None, apply, extra)

        def check(base: dict[str, Any]) -> dict[str, Any] | None:
            if moderator:
                return None
            roles = None if base.get("senderId") == actor else member_roles
            return self._member_check(conversation_id, actor, roles, sees_seq=seq)

        out = self._change_message(conversation_id, seq, message_id, actor, change, check,
                                   as_member=not moderator)
        image = self.images.get(conversation_id, seq)
        if out.deleted:
            return WriteOutcome(deleted=True, old=out.old,
                                purge=tuple((image or {}).get("purge") or ()))
        if out.old is not None or out.not_allowed:
            # refused by the message's rules or the actor's role: say which message it was
            old = out.old or (codec.message(image) if image and image.get("id") == message_id
                              else None)
            return WriteOutcome(not_allowed=True, old=old)
        return out
