"""Keys and decryption: a conversation's data key by version (cached in the key ring, the
current version remembered per conversation), and a stored message made readable (its body,
its attachments' names and download URLs)."""

from __future__ import annotations

from cloudchat.crypto import open_sealed
from cloudchat.errors import Forbidden
from cloudchat.models import Attachment, Conversation, Message, StoredMessage
from cloudchat.services._base import NOT_MEMBER, ServiceBase
from cloudchat.store import binding


class CryptoService(ServiceBase):
    """Data keys by version, and stored messages made readable."""

    def _key_for(self, cid: str, kv: int) -> bytes:
        key = self.keys.cached(cid, kv)
        if key is not None:
            return key
        conv = self.store.get_conversation(cid)
        if conv is None:
            raise Forbidden(NOT_MEMBER)
        return self.keys.key(cid, kv, conv.wrapped_key)

    def _current_key(self, cid: str) -> tuple[bytes, int]:
        kv = self._key_version.get(cid)
        key = self.keys.cached(cid, kv) if kv is not None else None
        if key is None or kv is None:
            conv = self.store.get_conversation(cid)
            if conv is None:
                raise Forbidden(NOT_MEMBER)
            kv = conv.key_version
            key = self.keys.key(cid, kv, conv.wrapped_key)
            self._key_version[cid] = kv
            self._seq_hint.note(cid, conv.last_seq)
        return key, kv

    def _key_cached(self, cid: str) -> bool:
        kv = self._key_version.get(cid)
        return kv is not None and self.keys.cached(cid, kv) is not None

    def reveal(self, stored: StoredMessage) -> Message:
        """The decrypted message (server-side use: fan-out previews)."""
        return self._decrypt(stored, None)

    def _decrypt(self, stored: StoredMessage, conv: Conversation | None) -> Message:
        if stored.sealed is None:
            return self._plain(stored, None)
        kv = stored.sealed.key_version
        key = self.keys.cached(stored.conversation_id, kv)
        if key is None:
            conv = conv or self.store.get_conversation(stored.conversation_id)
            if conv is None:
                raise Forbidden("you are not a member of this conversation")
            key = self.keys.key(stored.conversation_id, kv, conv.wrapped_key)
        body = open_sealed(key, stored.sealed, conversation_id=stored.conversation_id,
                           message_id=stored.id, binding=binding(stored))
        return self._plain(stored, body, key)

    def _plain(self, m: StoredMessage, body: str | None, key: bytes | None = None) -> Message:
        return Message(attachments=[] if m.deleted_at else self._reveal_files(m, key),
                       id=m.id, conversation_id=m.conversation_id, seq=m.seq,
                       sender_id=m.sender_id, kind=m.kind, body=None if m.deleted_at else body,
                       created_at=m.created_at, client_message_id=m.client_message_id,
                       version=m.version, parent_id=m.parent_id, reply_count=m.reply_count,
                       last_reply_at=m.last_reply_at, reply_users=m.reply_users,
                       reactions={} if m.deleted_at else dict(m.reactions),
                       edited_at=m.edited_at, deleted_at=m.deleted_at, deleted_by=m.deleted_by,
                       mentions=m.mentions, erased=m.erased)

    def _reveal_files(self, m: StoredMessage, key: bytes | None) -> list[Attachment]:
        if not m.attachments:
            return []
        out = []
        for a in m.attachments:
            name = None
            if a.sealed_name is not None:
                k = key if key is not None else self._key_for(m.conversation_id,
                                                              a.sealed_name.key_version)
                name = open_sealed(k, a.sealed_name, conversation_id=m.conversation_id,
                                   message_id=a.id)
            out.append(Attachment(id=a.id, key=a.key, content_type=a.content_type,
                                  size=a.size, name=name, url=self.media.download_url(a, name)))
        return out
