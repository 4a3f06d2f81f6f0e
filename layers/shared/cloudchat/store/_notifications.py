"""Notifications: mutes, the per-window notification claim, push devices, and each user's
notification settings (e-mail and push on or off)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudchat.models import NotificationSettings, User
from cloudchat.store import _codec as codec
from cloudchat.store._base import StoreBase
from cloudchat.store._keys import (
    DEVICE_PREFIX,
    NOTIFY,
    PRESENCE,
    PROFILE,
    conv_pk,
    device_sk,
    member_sk,
    user_pk,
)


def _settings(item: dict[str, Any] | None) -> NotificationSettings:
    if not item:
        return NotificationSettings()
    return NotificationSettings(email=bool(item.get("email")), push=bool(item.get("push", True)),
                                email_address=item.get("emailAddress"),
                                updated_at=item.get("updatedAt"))


class NotificationsStore(StoreBase):
    def set_muted(self, conversation_id: str, user_id: str, until: str | None) -> bool:
        """Mutes the conversation for the member until ``until`` (None: unmute)."""

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
        return self._update_if(**kwargs)

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

    # ------------------------------------------------------------ notification settings
    def profile_and_settings(self, user_id: str) -> tuple[User | None, NotificationSettings]:
        """The profile and the notification settings, in one BatchGetItem."""
        found = self._batch_get([(user_pk(user_id), PROFILE), (user_pk(user_id), NOTIFY)])
        profile = found.get((user_pk(user_id), PROFILE))
        return (codec.user(profile) if profile else None,
                _settings(found.get((user_pk(user_id), NOTIFY))))

    def put_notification_settings(self, user_id: str, *, email: bool | None, push: bool | None,
                                  address: str | None, at: str) -> NotificationSettings:
        """Sets the channels given (None: unchanged); turning e-mail on records ``address``,
        turning it off forgets the address. One UpdateItem (it creates the item)."""
        sets = ["#t = :t", "userId = :u", "updatedAt = :at"]
        values: dict[str, Any] = {":t": "NOTIFY", ":u": user_id, ":at": at}
        removes = []
        if push is not None:
            sets.append("push = :p")
            values[":p"] = push
        if email is not None:
            sets.append("email = :e")
            values[":e"] = email
            if email:
                sets.append("emailAddress = :a")
                values[":a"] = address
            else:
                removes.append("emailAddress")
        expr = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        resp = self._client().update_item(
            TableName=self.table_name, Key=self._key(user_pk(user_id), NOTIFY),
            UpdateExpression=expr, ExpressionAttributeNames={"#t": "type"},
            ExpressionAttributeValues=self._av(values), ReturnValues="ALL_NEW")
        return _settings(self._py(resp["Attributes"]))

    def presence_and_settings(
        self, user_ids: Sequence[str]
    ) -> tuple[dict[str, str], dict[str, NotificationSettings]]:
        """Last seen (absent: never, or expired) and notification settings per user, in one
        BatchGetItem per 50 users (the stream consumer's notification pass)."""
        keys = [(user_pk(u), sk) for u in user_ids for sk in (PRESENCE, NOTIFY)]
        found = self._batch_get(keys)
        seen = {d["userId"]: d["lastSeen"] for (_, sk), d in found.items() if sk == PRESENCE}
        settings = {u: _settings(found.get((user_pk(u), NOTIFY))) for u in user_ids}
        return seen, settings
