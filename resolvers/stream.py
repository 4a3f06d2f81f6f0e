"""The DynamoDB stream consumer: fan-out off the request path (cloudchat.fanout).

The batch goes to ``Fanout.handle_batch`` whole, so new messages of one conversation are
fanned out together. Partial batch responses: the first record not handled and every
record after it are reported in ``batchItemFailures`` (Lambda re-delivers a stream batch
from the lowest failed sequence number anyway; BisectBatchOnFunctionError splits poison
batches and the on-failure destination keeps what never succeeds)."""

from typing import Any

from cloudchat import api
from cloudchat.fanout import Fanout


def _publisher() -> Any:
    return api.publisher()


def _notifier() -> Any:
    return api.notifier()


@api.logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    records = event.get("Records") or []
    fanout = Fanout(api.service(), _publisher, _notifier)
    failed = fanout.handle_batch(records)
    if failed is None:
        return {"batchItemFailures": []}
    api.logger.exception("stream record failed; reporting it and the rest of the batch",
                         exc_info=fanout.last_error, extra={"failed": len(records) - failed})
    return {"batchItemFailures": [
        {"itemIdentifier": str((r.get("dynamodb") or {}).get("SequenceNumber", ""))}
        for r in records[failed:]]}
