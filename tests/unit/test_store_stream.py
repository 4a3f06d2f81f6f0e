"""The store decodes stream images for the stream consumer (no AWS)."""

import base64
import json
from typing import Any

import pytest

from cloudchat.models import Member, Role
from cloudchat.store import (
    ConversationImage,
    MessageImage,
    PresenceImage,
    decode_stream_image,
)
from cloudchat.store import _codec as codec
from cloudchat.store import _keys as keys

CID = "01JC0000000000000000000000"
USER = "11111111-1111-4111-8111-111111111111"


def _as_lambda_delivers(image: dict[str, Any]) -> dict[str, Any]:
    """A Lambda stream event is JSON: binary attributes arrive base64-encoded."""
    def default(value: Any) -> str:
        return base64.b64encode(bytes(value)).decode()

    return json.loads(json.dumps(image, default=default))


def _member() -> Member:
    return Member(conversation_id=CID, user_id=USER, role=Role.ADMIN,
                  joined_at="2026-01-01T00:00:00.000Z", joined_seq=3, read_seq=5,
                  delivered_seq=5, last_activity="2026-01-02T00:00:00.000Z")


def test_a_member_image_is_the_member() -> None:
    raw = codec.to_av(codec.member_item(_member()))
    assert decode_stream_image(raw) == _member()
    assert decode_stream_image(_as_lambda_delivers(raw)) == _member()


def test_a_message_image_is_a_pointer_to_the_message() -> None:
    raw = codec.to_av({"PK": keys.conv_pk(CID), "SK": keys.msg_sk(7), "type": "MSG",
                       "conversationId": CID, "seq": 7, "id": "01JC0000000000000000000007",
                       "bodies": [{"ct": b"\x00\xff", "nonce": b"n" * 12, "kv": 1, "v": 1,
                                   "at": "2026-01-01T00:00:00.000Z"}]})
    want = MessageImage(conversation_id=CID, seq=7, id="01JC0000000000000000000007")
    assert decode_stream_image(raw) == want
    assert decode_stream_image(_as_lambda_delivers(raw)) == want


def test_a_message_image_copied_to_another_seq_still_decodes() -> None:
    """The consumer confirms messages against the table; the stream image is only a pointer
    (a copied row must not stop the stream: the table read refuses it)."""
    raw = codec.to_av({"PK": keys.conv_pk(CID), "SK": keys.msg_sk(9), "type": "MSG",
                       "conversationId": CID, "seq": 7, "id": "01JC0000000000000000000007"})
    assert decode_stream_image(raw) == MessageImage(CID, 7, "01JC0000000000000000000007")


@pytest.mark.parametrize("title", ["Team", None])
def test_a_conversation_image_carries_its_title(title: str | None) -> None:
    raw = codec.to_av({"PK": keys.conv_pk(CID), "SK": keys.META, "type": "CONV", "id": CID,
                       "title": title, "wrappedKey": b"\x01\x02"})
    assert decode_stream_image(_as_lambda_delivers(raw)) == ConversationImage(id=CID, title=title)


def test_a_presence_image_carries_the_heartbeat() -> None:
    raw = codec.to_av({"PK": keys.user_pk(USER), "SK": keys.PRESENCE, "type": "PRESENCE",
                       "userId": USER, "lastSeen": "2026-01-01T00:00:00.000Z",
                       "expiresAt": 1_767_312_000})
    assert decode_stream_image(raw) == PresenceImage(USER, "2026-01-01T00:00:00.000Z")


@pytest.mark.parametrize("raw", [
    None, {},
    codec.to_av({"PK": keys.conv_pk(CID), "SK": keys.guard_sk(USER, "c1"), "type": "SENDGUARD",
                 "seq": 1}),
    codec.to_av({"PK": keys.user_pk(USER), "SK": keys.rate_sk("SEND"), "t0": 1}),
], ids=["absent", "empty", "send-guard", "untyped"])
def test_other_images_decode_to_nothing(raw: dict[str, Any] | None) -> None:
    assert decode_stream_image(raw) is None


def test_a_deleted_conversations_audit_record_is_a_purge_step() -> None:
    from cloudchat.models import ConversationDeletion, Kind
    from cloudchat.store import DeletionImage
    from cloudchat.store._deletion import deletion_item, deletion_record

    deletion = ConversationDeletion(conversation_id=CID, kind=Kind.GROUP, deleted_by=USER,
                                    deleted_at="2026-01-03T00:00:00.000Z", member_count=3)
    item = deletion_item(deletion)
    assert item["PK"] == keys.deletion_pk(CID) != keys.conv_pk(CID)  # outside what is purged
    assert not {"title", "members", "lastMessage", "wrappedKey"} & set(item)  # no content
    assert deletion_record(item) == deletion
    raw = codec.to_av(item)
    assert decode_stream_image(_as_lambda_delivers(raw)) == DeletionImage(CID, 0, purged=False)
    done = codec.to_av({**item, "purgeStep": 4, "purgedAt": "2026-01-03T00:00:01.000Z"})
    assert decode_stream_image(done) == DeletionImage(CID, 4, purged=True)
