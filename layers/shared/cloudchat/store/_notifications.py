"""Notifications: mutes, the per-window notification claim, and push devices."""

from __future__ import annotations

from typing import Any

from cloudchat.store._base import StoreBase
from cloudchat.store._keys import DEVICE_PREFIX, PROFILE, conv_pk, device_sk, member_sk, user_pk


class NotificationsStore(StoreBase):
    def set_muted(self, conversation_id: str, user_id: str, until: str | None) -> bool:
        """Mutes the conversation for the member until ``until`` (None: unmute)."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self._key(conv_pk(conversation_id), member_sk(user_id)),
            "ConditionExpression": "attribute_exists(PK)",
        }
        if until is None:
            kwargs["UpdateExpression"] = "REMOVE mutedUntil"
        else:
            kwargs["UpdateExpression"] = "SET mutedUntil = :u"
            kwargs["ExpressionAttributeValues"] = self._av({":u": until})
        try:
            self._client().update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def claim_notification(self, conversation_id: str, user_id: str, now: str,
                           not_before: str) -> bool:
        """At most one notification per member and conversation per window: True if this
        caller may notify now (the claim is a conditional write, so repeats cannot)."""
        from botocore.exceptions import ClientError

        try:
            self._client().update_item(
                TableName=self.table_name,
                Key=self._key(conv_pk(conversation_id), member_sk(user_id)),
                ConditionExpression="attribute_exists(PK) AND "
                                    "(attribute_not_exists(notifiedAt) OR notifiedAt < :nb)",
                UpdateExpression="SET notifiedAt = :now",
                ExpressionAttributeValues=self._av({":now": now, ":nb": not_before}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put_device(self, user_id: str, endpoint_arn: str, platform: str, at: str) -> bool:
        """Records a push device, in one transaction with a check of the user's profile:
        False for a deleted account (nothing written)."""
        from botocore.exceptions import ClientError

        try:
            self._client().transact_write_items(TransactItems=[
                {"ConditionCheck": {"TableName": self.table_name,
                                    "Key": self._key(user_pk(user_id), PROFILE),
                                    "ConditionExpression": "attribute_not_exists(deletedAt)"}},
                {"Put": {"TableName": self.table_name, "Item": self._av({
                    "PK": user_pk(user_id), "SK": device_sk(endpoint_arn), "type": "DEVICE",
                    "userId": user_id, "endpointArn": endpoint_arn, "platform": platform,
                    "createdAt": at})}}])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise
        return True

    def devices(self, user_id: str) -> list[str]:
        resp = self._client().query(
            TableName=self.table_name, KeyConditionExpression="PK = :pk AND begins_with(SK, :d)",
            ExpressionAttributeValues=self._av({":pk": user_pk(user_id), ":d": DEVICE_PREFIX}))
        return [self._py(i)["endpointArn"] for i in resp.get("Items", [])]
