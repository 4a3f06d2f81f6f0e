"""Uploads: the grant recorded for a pending upload, and its state (PENDING, ATTACHED, DELETED).

A message's append claims its uploads (PENDING -> ATTACHED) and a message's deletion marks
them DELETED, in those writes' own transactions (:mod:`._messages`, :mod:`._message_writes`).
"""

from __future__ import annotations

from collections.abc import Sequence

from cloudchat.models import Upload, UploadStatus
from cloudchat.store import _codec as codec
from cloudchat.store._base import StoreBase
from cloudchat.store._keys import conv_pk, upload_sk


class UploadsStore(StoreBase):
    def put_upload(self, upload: Upload) -> bool:
        """Records a pending upload, with the member check (its uploader), in one
        transaction. False if the uploader is not a member (or the id was used)."""
        from botocore.exceptions import ClientError

        if upload.status is not UploadStatus.PENDING or upload.message_id is not None:
            raise ValueError("a new upload is PENDING and on no message")
        try:
            self._client().transact_write_items(TransactItems=codec.write_items([
                self._member_check(upload.conversation_id, upload.uploader_id),
                self._alive_check(upload.conversation_id),
                {"Put": {"TableName": self.table_name, "Item": self._av(codec.upload_item(upload)),
                         "ConditionExpression": "attribute_not_exists(PK)"}}]))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise
        return True

    def uploads(self, conversation_id: str, upload_ids: Sequence[str]) -> dict[str, Upload]:
        """The uploads among ``upload_ids`` recorded in the conversation, by id (one
        strongly consistent BatchGetItem per 100)."""
        found = self._batch_get([(conv_pk(conversation_id), upload_sk(u)) for u in upload_ids])
        return {d["id"]: codec.upload(d) for d in found.values()}
