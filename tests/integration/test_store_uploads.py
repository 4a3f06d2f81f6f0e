"""The store keeps upload grants as typed records (cloudchat.models.Upload)."""

import pytest

from cloudchat import api
from cloudchat.crypto import Sealed
from cloudchat.models import Upload, UploadStatus
from tests.integration.conftest import USERS, Stack
from tests.integration.test_messages import new_conversation


def _grant(cid: str, who: str, upload_id: str = "01JC0000000000000000000001") -> Upload:
    return Upload(id=upload_id, conversation_id=cid, uploader_id=USERS[who],
                  key=f"conversations/{cid}/{USERS[who]}/{upload_id}", content_type="image/png",
                  size=2048, created_at="2026-01-01T00:00:00.000Z",
                  sealed_name=Sealed(nonce=b"n" * 12, ciphertext=b"name", key_version=1),
                  expires_at=1_767_312_000)


def test_a_members_upload_is_read_back_as_it_was_put(stack: Stack) -> None:
    store = api.service().store
    cid = new_conversation(stack, members=[USERS["bob"]])
    grant = _grant(cid, "bob")
    assert store.put_upload(grant) is True
    assert store.uploads(cid, [grant.id, "01JC0000000000000000000002"]) == {grant.id: grant}
    assert store.put_upload(grant) is False  # an id is granted once


def test_a_non_member_gets_no_upload(stack: Stack) -> None:
    store = api.service().store
    cid = new_conversation(stack, members=[USERS["bob"]])
    grant = _grant(cid, "mallory")
    assert store.put_upload(grant) is False
    assert store.uploads(cid, [grant.id]) == {}


@pytest.mark.parametrize("change", [{"status": UploadStatus.ATTACHED},
                                    {"message_id": "01JC0000000000000000000009"}])
def test_only_a_pending_upload_on_no_message_can_be_put(stack: Stack, change: dict) -> None:
    from dataclasses import replace

    store = api.service().store
    cid = new_conversation(stack, members=[USERS["bob"]])
    grant = replace(_grant(cid, "alice"), **change)
    with pytest.raises(ValueError):
        store.put_upload(grant)
    assert store.uploads(cid, [grant.id]) == {}
