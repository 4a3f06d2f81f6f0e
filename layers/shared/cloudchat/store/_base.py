"""The base every part of the store shares: the client, batch reads, transactions and
their failures, the member check, and the image cache."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cloudchat.models import Role, StoredMessage
from cloudchat.store import _codec as codec
from cloudchat.store._images import _Images
from cloudchat.store._keys import META, conv_pk, member_sk

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

BATCH_MAX = 100  # keys per BatchGetItem, items per TransactWriteItems
BATCH_WRITE_MAX = 25  # DynamoDB: at most 25 put or delete requests per BatchWriteItem


class StoreBase:
    def __init__(self, table_name: str, client: Callable[[], DynamoDBClient]) -> None:
        self.table_name = table_name
        self._client = client
        self.images = _Images()

    # ---------------------------------------------------------------- serialization
    @staticmethod
    def _av(item: dict[str, Any]) -> dict[str, Any]:
        return codec.to_av(item)

    @staticmethod
    def _py(item: dict[str, Any]) -> dict[str, Any]:
        return codec.from_av(item)

    @staticmethod
    def _key(pk: str, sk: str) -> dict[str, Any]:
        return codec.key(pk, sk)

    def _seen(self, d: dict[str, Any]) -> StoredMessage:
        """A message item as read from the table: remembered, then converted."""
        self.images.put(d)
        return codec.message(d)
    def _batch_write(self, requests: Sequence[dict[str, Any]]) -> int:
        """BatchWriteItem of put/delete requests, 25 a request; unprocessed items are sent
        again with backoff. Returns the number of requests made."""
        made = 0
        for i in range(0, len(requests), BATCH_WRITE_MAX):
            pending: dict[str, Any] = {self.table_name: list(requests[i:i + BATCH_WRITE_MAX])}
            attempt = 0
            while pending:
                resp = self._client().batch_write_item(RequestItems=pending)
                made += 1
                pending = resp.get("UnprocessedItems") or {}
                if pending:
                    attempt += 1
                    if attempt > 8:
                        raise RuntimeError("DynamoDB left items unprocessed 8 times in a row")
                    time.sleep(min(0.05 * 2 ** attempt, 2.0))
        return made

    def _batch_get(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Strongly consistent BatchGetItem of up to any number of keys (one request per 100)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), BATCH_MAX):
            request: dict[str, Any] = {self.table_name: {
                "Keys": [self._key(pk, sk) for pk, sk in unique[i:i + BATCH_MAX]],
                "ConsistentRead": True,
            }}
            attempt = 0
            while request:
                resp = self._client().batch_get_item(RequestItems=request)
                for raw in resp.get("Responses", {}).get(self.table_name, []):
                    d = self._py(raw)
                    found[(d["PK"], d["SK"])] = d
                request = resp.get("UnprocessedKeys") or {}
                if request:
                    attempt += 1
                    time.sleep(min(0.05 * 2 ** attempt, 1.0))
        return found
    def _update_if(self, **kwargs: Any) -> bool:
        """One conditional UpdateItem: False when its condition refused it (nothing
        written), True when it was written; any other error is raised."""
        from botocore.exceptions import ClientError

        try:
            self._client().update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _transact(self, ops: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
        """Runs named TransactWriteItems operations. None if it committed; otherwise which
        named items failed their condition, with their old images where asked for."""
        from botocore.exceptions import ClientError

        try:
            self._client().transact_write_items(TransactItems=codec.write_items(list(ops.values())))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            return self._failures(exc, list(ops))
        return None

    def _failures(self, exc: Any, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Which named transaction items failed their condition, with their old image (if
        ReturnValuesOnConditionCheckFailure asked for one). Raises if the cancellation was
        for another reason than conditions or conflicts."""
        reasons = exc.response.get("CancellationReasons") or []
        failed: dict[str, dict[str, Any]] = {}
        for name, reason in zip(names, reasons, strict=False):
            code = reason.get("Code")
            if code == "ConditionalCheckFailed":
                failed[name] = self._py(reason.get("Item") or {})
            elif code not in (None, "None", "TransactionConflict"):
                raise exc
        return failed
    def _alive_check(self, conversation_id: str) -> dict[str, Any]:
        """The conversation item exists: with a member check, so that a member item left
        behind by deleteConversation (purged in the background) grants nothing."""
        return {"ConditionCheck": {
            "TableName": self.table_name, "Key": self._key(conv_pk(conversation_id), META),
            "ConditionExpression": "attribute_exists(PK)"}}

    def _member_check(self, conversation_id: str, user_id: str,
                      roles: Sequence[Role] | None = None,
                      sees_seq: int | None = None) -> dict[str, Any]:
        """The caller is a member (with one of ``roles``). With ``sees_seq``: and joined
        before that message (members read from their joining on); a member item that fails
        only this comes back (ALL_OLD), so the message can be answered as not found."""
        check: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self._key(conv_pk(conversation_id), member_sk(user_id)),
            "ConditionExpression": "attribute_exists(PK)",
        }
        values: dict[str, Any] = {}
        if roles:
            names = [f":r{i}" for i in range(len(roles))]
            check["ConditionExpression"] += f" AND #role IN ({', '.join(names)})"
            check["ExpressionAttributeNames"] = {"#role": "role"}
            values.update(zip(names, [r.value for r in roles], strict=True))
        if sees_seq is not None:
            check["ConditionExpression"] += " AND (attribute_not_exists(joinedSeq) OR joinedSeq < :sees)"
            check["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            values[":sees"] = sees_seq
        if values:
            check["ExpressionAttributeValues"] = self._av(values)
        return {"ConditionCheck": check}
