"""Users: profiles, the user directory (GSI2 by name and email) and presence."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from cloudchat.errors import AccountGone
from cloudchat.models import User
from cloudchat.store import _codec as codec
from cloudchat.store._base import StoreBase
from cloudchat.store._keys import (
    DIRECT,
    EMAIL,
    EMAIL_DIRECTORY,
    GSI2,
    PRESENCE,
    PROFILE,
    USER_DIRECTORY,
    direct_pk,
    directory_key,
    is_user_pk,
    user_pk,
)


class UsersStore(StoreBase):
    def put_profile_if_absent(self, user: User) -> bool:
        """Creates the profile (and its email directory entry) unless it exists."""
        from botocore.exceptions import ClientError

        items = [{"Put": {"TableName": self.table_name, "Item": self._av(codec.profile_item(user)),
                          "ConditionExpression": "attribute_not_exists(PK)"}}]
        if user.email:
            items.append({"Put": {"TableName": self.table_name, "Item": self._av({
                "PK": user_pk(user.id), "SK": EMAIL, "type": "EMAILDIR", "userId": user.id,
                "GSI2PK": EMAIL_DIRECTORY, "GSI2SK": directory_key(user.email, user.id)})}})
        try:
            self._client().transact_write_items(TransactItems=codec.write_items(items))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise
        return True

    def update_profile(self, user_id: str, display_name: str | None,
                       avatar_key: str | None, clear_avatar: bool) -> User | None:
        from botocore.exceptions import ClientError

        sets, removes, values = [], [], {}
        if display_name is not None:
            sets += ["displayName = :n", "GSI2SK = :k"]
            values.update({":n": display_name, ":k": directory_key(display_name, user_id)})
        if avatar_key is not None:
            sets.append("avatarKey = :a")
            values[":a"] = avatar_key
        elif clear_avatar:
            removes.append("avatarKey")
        expr = ("SET " + ", ".join(sets) if sets else "") + (" REMOVE " + ", ".join(removes)
                                                              if removes else "")
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "Key": self._key(user_pk(user_id), PROFILE),
            "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(deletedAt)",
            "UpdateExpression": expr.strip(),
            "ReturnValues": "ALL_NEW"}
        if values:
            kwargs["ExpressionAttributeValues"] = self._av(values)
        try:
            resp = self._client().update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return codec.user(self._py(resp["Attributes"]))

    def directory(self, by_email: bool, prefix: str, limit: int, start: dict[str, str] | None
                  ) -> tuple[list[User], dict[str, str] | None]:
        """Users by display-name (or email) prefix, ascending; one query plus, for the email
        index, one batch get of the profiles. Returns the users and the cursor after them."""
        values = {":p": EMAIL_DIRECTORY if by_email else USER_DIRECTORY}
        condition = "GSI2PK = :p"
        if prefix:
            condition += " AND begins_with(GSI2SK, :q)"
            values[":q"] = prefix.casefold()
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "IndexName": GSI2, "Limit": limit + 1,
            "KeyConditionExpression": condition, "ExpressionAttributeValues": self._av(values),
        }
        if start:
            kwargs["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
        rows = [self._py(i) for i in self._client().query(**kwargs).get("Items", [])]
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = ({k: str(rows[-1][k]) for k in ("PK", "SK", "GSI2PK", "GSI2SK")}
                  if more and rows else None)
        if by_email:
            found = self._batch_get([(user_pk(r["userId"]), PROFILE) for r in rows])
            users = [codec.user(found[(user_pk(r["userId"]), PROFILE)]) for r in rows
                     if (user_pk(r["userId"]), PROFILE) in found]
        else:
            users = [codec.user(r) for r in rows]
        return users, cursor

    def touch_presence(self, user_id: str, at: str, expires_epoch: int) -> bool:
        """Records a heartbeat. The stream's old and new images show a user coming online
        (a gap before this heartbeat), which the consumer turns into PRESENCE events.
        False for a deleted account (its presence item is a marker that refuses them)."""
        from botocore.exceptions import ClientError

        try:
            self._client().put_item(TableName=self.table_name, Item=self._av({
                "PK": user_pk(user_id), "SK": PRESENCE, "type": "PRESENCE", "userId": user_id,
                "lastSeen": at, "expiresAt": expires_epoch}),
                ConditionExpression="attribute_not_exists(deletedAt)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def presence(self, user_ids: Sequence[str], viewer: str | None = None) -> dict[str, str]:
        """Last seen per user (absent: never, or expired). With ``viewer``: their presence
        item is read in the same request, and a deleted account's marker refuses them."""
        keys = [(user_pk(u), PRESENCE) for u in user_ids]
        if viewer is not None:
            keys.append((user_pk(viewer), PRESENCE))
        found = self._batch_get(keys)
        if viewer is not None and "deletedAt" in found.get((user_pk(viewer), PRESENCE), {}):
            raise AccountGone
        return {d["userId"]: d["lastSeen"] for d in found.values() if "lastSeen" in d}
    def get_profile(self, user_id: str) -> User | None:
        resp = self._client().get_item(TableName=self.table_name, ConsistentRead=True,
                                       Key=self._key(user_pk(user_id), PROFILE))
        item = resp.get("Item")
        return codec.user(self._py(item)) if item else None

    def profiles(self, user_ids: Iterable[str]) -> dict[str, User]:
        """The profiles that exist among ``user_ids`` (BatchGetItem per 100)."""
        return self.profiles_and_direct(user_ids, None)[0]

    def profiles_and_direct(
        self, user_ids: Iterable[str], direct_pair: tuple[str, str] | None
    ) -> tuple[dict[str, User], str | None]:
        """Profiles that exist among ``user_ids``, and the DIRECT conversation of the pair if any."""
        keys = [(user_pk(u), PROFILE) for u in user_ids]
        if direct_pair:
            keys.append((direct_pk(*direct_pair), DIRECT))
        found = self._batch_get(keys)
        users = {d["id"]: codec.user(d) for (pk, _), d in found.items() if is_user_pk(pk)}
        direct = found.get((direct_pk(*direct_pair), DIRECT)) if direct_pair else None
        return users, (direct["conversationId"] if direct else None)
