"""Uploads: the grant recorded for a pending upload, and its state (PENDING, ATTACHED, DELETED)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudchat.store._base import StoreBase
from cloudchat.store._keys import conv_pk, upload_sk


class UploadsStore(StoreBase):
    def put_upload(self, conversation_id: str, upload: dict[str, Any]) -> bool:
        """Records a pending upload, with the member check, in one transaction."""
        from botocore.exceptions import ClientError

        item = {"PK": conv_pk(conversation_id), "SK": upload_sk(upload['id']), "type": "UPLOAD",
                "conversationId": conversation_id, "status": "PENDING", **upload}
        try:
            self._client().transact_write_items(TransactItems=[
                self._member_check(conversation_id, upload["uploaderId"]),
                {"Put": {"TableName": self.table_name, "Item": self._av(item),
                         "ConditionExpression": "attribute_not_exists(PK)"}}])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise
        return True

    def uploads(self, conversation_id: str, upload_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found = self._batch_get([(conv_pk(conversation_id), upload_sk(u)) for u in upload_ids])
        return {d["id"]: d for d in found.values()}
