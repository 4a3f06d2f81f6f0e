"""The DynamoDB stream consumer: fan-out off the request path (cloudchat.fanout).

Partial batch responses: a failing record (and every record after it, unprocessed) is
reported in ``batchItemFailures`` and Lambda retries from it (BisectBatchOnFunctionError
splits poison batches; the on-failure destination keeps what never succeeds)."""

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


class InOrderProcessor(BatchProcessor):
    """Stops at the first failing record and reports it and every record after it: Lambda
    re-delivers a stream batch from the lowest failed sequence number anyway, so handling
    the later records now would handle them (and publish their user events) twice."""

    _SKIPPED = (RuntimeError, RuntimeError("an earlier record of this batch failed"), None)

    def _process_record(self, record: dict[str, Any]) -> Any:
        if self.fail_messages:
            return self.failure_handler(
                record=self._to_batch_type(record, event_type=self.event_type, model=self.model),
                exception=self._SKIPPED)
        return super()._process_record(record)


processor = InOrderProcessor(event_type=EventType.DynamoDBStreams)


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
