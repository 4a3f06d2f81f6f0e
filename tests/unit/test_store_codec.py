"""The store's codec: records <-> items round trips (no AWS)."""

from typing import Any

import pytest

from cloudchat.crypto import Sealed
from cloudchat.models import Upload, UploadStatus
from cloudchat.store import _codec as codec
from cloudchat.store import _keys as keys

CID = "01JC0000000000000000000000"
UPLOADER = "11111111-1111-4111-8111-111111111111"


def _through_dynamodb(item: dict[str, Any]) -> dict[str, Any]:
    """What a read gives back for a written item (AttributeValues both ways)."""
    return codec.from_av(codec.to_av(item))


def _upload(**over: Any) -> Upload:
    fields: dict[str, Any] = {
        "id": "01JC0000000000000000000001", "conversation_id": CID, "uploader_id": UPLOADER,
        "key": f"conversations/{CID}/{UPLOADER}/01JC0000000000000000000001",
        "content_type": "image/png", "size": 2048, "created_at": "2026-01-01T00:00:00.000Z",
        "sealed_name": Sealed(nonce=b"n" * 12, ciphertext=b"sealed name", key_version=2),
        "expires_at": 1_767_312_000}
    return Upload(**{**fields, **over})


@pytest.mark.parametrize("upload", [
    _upload(),
    _upload(sealed_name=None, expires_at=None, status=UploadStatus.DELETED,
            message_id="01JC0000000000000000000009"),
    _upload(status=UploadStatus.ATTACHED, message_id="01JC0000000000000000000009",
            expires_at=None),
], ids=["pending", "deleted", "attached"])
def test_an_upload_round_trips_through_its_item(upload: Upload) -> None:
    assert codec.upload(_through_dynamodb(codec.upload_item(upload))) == upload


def test_an_upload_item_is_keyed_under_its_conversation() -> None:
    item = codec.upload_item(_upload())
    assert (item["PK"], item["SK"]) == (keys.conv_pk(CID), keys.upload_sk(_upload().id))
    assert (item["type"], item["status"]) == ("UPLOAD", "PENDING")
    assert "messageId" not in codec.to_av(item)  # absent attributes are not written as null


def test_an_upload_item_with_an_unknown_status_is_refused() -> None:
    item = _through_dynamodb(codec.upload_item(_upload()))
    item["status"] = "LOST"
    with pytest.raises(ValueError):
        codec.upload(item)


def test_an_upload_becomes_an_attachment_with_its_sealed_name() -> None:
    up = _upload()
    att = up.attachment()
    assert (att.id, att.key, att.content_type, att.size, att.sealed_name) == (
        up.id, up.key, up.content_type, up.size, up.sealed_name)
    assert att.name is None and att.url is None


def test_only_the_keys_module_spells_a_key() -> None:
    """``cloudchat/store/_keys.py`` is the only place a PK/SK/GSI key string is built."""
    import re
    from pathlib import Path

    import cloudchat

    key = re.compile(r'f?"(CONV|MSG|MEMBER|USER|UPLOAD|CMID|RATE|DIRECT|THREAD|REPORT|AUDIT|'
                     r'DEVICE|BLOCK)#')
    root = Path(cloudchat.__file__).parent
    spelled = [str(p.relative_to(root)) for p in sorted(root.rglob("*.py"))
               if p.name != "_keys.py" and key.search(p.read_text())]
    assert spelled == []
    assert key.search((root / "store" / "_keys.py").read_text())  # (the pattern finds keys)


def test_store_outcomes_are_internal_errors_not_chat_errors() -> None:
    from cloudchat import errors, store

    assert store.RateExceeded is errors.RateExceeded and store.DirectExists is errors.DirectExists
    assert not issubclass(errors.RateExceeded, errors.ChatError)
    assert not issubclass(errors.DirectExists, errors.ChatError)
    assert errors.RateExceeded(7).retry_after == 7
    assert errors.DirectExists("c1").conversation_id == "c1"
    assert not issubclass(errors.AccountGone, errors.ChatError)
    assert issubclass(errors.AccountDeleted, errors.Unauthorized)
