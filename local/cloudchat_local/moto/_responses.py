"""DynamoDB and DynamoDB Streams answers dumped directly as DynamoDB JSON.

**What moto does.** Every answer goes through moto's generic, model-driven serializer, which
walks every attribute value of every item (and every stream record image) against the
botocore service model. In the local stack that was most of the moto process's time
(GetRecords from the stream poller; the item operations from every resolver).

**What we change.** ``GetRecords`` and the item operations (``GetItem``, ``Query``,
``TransactWriteItems``, ...) are answered with ``dynamo_json_dump`` of the result moto
already computed, which is DynamoDB JSON (binary base64, timestamps as epoch seconds, None
members left out), as DynamoDB answers them. Errors and every other action keep moto's path.

**Why.** Speed only: botocore reads the same answers (tests/local compare them with moto's own
serializer's through a moto server).

**Upstream.** No issue found in getmoto/moto. Pull request text ready to send: "DynamoDB /
DynamoDB Streams: skip the generic serializer for item operations — their results are already
DynamoDB JSON; dump them with dynamo_json_dump (as moto 4 did), which is several times faster
on items with many attributes."
"""

from __future__ import annotations

from typing import Any

from cloudchat_local.moto._patching import replace


def fast_stream_records() -> None:
    """Idempotently makes moto's ``GetRecords`` dump its records as DynamoDB JSON directly
    (binary values base64, timestamps as epoch seconds, as AWS answers)."""
    from moto.dynamodb.models.utilities import dynamo_json_dump
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    if getattr(DynamoDBStreamsHandler.get_records, "_cloudchat_fast", False):
        return

    def get_records(self: Any) -> str:
        limit = self._get_param("Limit")
        result = self.backend.get_records(self._get_param("ShardIterator"),
                                          1000 if limit is None else limit)
        return str(dynamo_json_dump(result))

    get_records._cloudchat_fast = True  # type: ignore[attr-defined]
    replace(DynamoDBStreamsHandler, "get_records", get_records)



_FAST_DYNAMODB_ACTIONS = frozenset({
    "GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem",
    "TransactWriteItems", "TransactGetItems", "BatchWriteItem",
})


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def fast_dynamodb_responses() -> None:
    """moto serializes every DynamoDB answer with its generic, model-driven serializer; the
    item operations' answers are already DynamoDB JSON (binary values as bytes), so they are
    dumped directly, as DynamoDB answers them (None members left out)."""
    from moto.dynamodb.models.utilities import dynamo_json_dump
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.serialized
    if getattr(original, "_cloudchat_fast", False):
        return

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if self._get_action() not in _FAST_DYNAMODB_ACTIONS or isinstance(result, Exception):
            return original(self, action_result)
        headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
        return 200, headers, dynamo_json_dump(_without_none(result))

    serialized._cloudchat_fast = True  # type: ignore[attr-defined]
    replace(DynamoHandler, "serialized", serialized)

