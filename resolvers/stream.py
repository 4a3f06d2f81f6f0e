"""The DynamoDB stream consumer: fan-out off the request path (cloudchat.fanout).

Partial batch responses: a failing record is reported in ``batchItemFailures`` and Lambda
retries from it (BisectBatchOnFunctionError splits poison batches; the on-failure
destination keeps what never succeeds)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
)

from cloudchat import api
from cloudchat.fanout import Fanout

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _publisher() -> Any:
    return api.publisher()


def _notifier() -> Any:
    return api.notifier()


def _record(record: DynamoDBRecord) -> None:
    Fanout(api.service(), _publisher, _notifier).handle(record.raw_event)


@api.logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=_record, processor=processor,
                                    context=context)
