"""The DynamoDB stream consumer: fan-out off the request path (cloudchat.fanout).

Partial batch responses through Powertools' batch utility. The batch goes to
``Fanout.handle_batch`` whole, so new messages of one conversation are fanned out together;
the processor then records every record before the first one not handled as a success, and
that one and every record after it as failures (Lambda re-delivers a stream batch from the
lowest failed sequence number anyway; handling later records now would publish their user
events twice). BisectBatchOnFunctionError splits poison batches and the on-failure
destination keeps what never succeeds."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from cloudchat import api
from cloudchat.fanout import Fanout


class FanoutProcessor(BatchProcessor):
    """Powertools' partial-batch processor over one ``Fanout.handle_batch`` call."""

    _SKIPPED = RuntimeError("an earlier record of this batch failed")

    def process(self) -> list[tuple]:  # (Powertools' signature)
        fanout = Fanout(api.service(), _publisher, _notifier)
        failed_from = fanout.handle_batch(self.records)
        results = []
        for index, raw in enumerate(self.records):
            record = self._to_batch_type(raw, event_type=self.event_type, model=self.model)
            if failed_from is None or index < failed_from:
                results.append(self.success_handler(record=record, result=None))
                continue
            error = fanout.last_error if index == failed_from and fanout.last_error else self._SKIPPED
            results.append(self.failure_handler(
                record=record, exception=(type(error), error, error.__traceback__)))
        return results


processor = FanoutProcessor(event_type=EventType.DynamoDBStreams)


def _publisher() -> Any:
    return api.publisher()


def _notifier() -> Any:
    return api.notifier()


def _unused(record: Any) -> None:  # pragma: no cover - FanoutProcessor.process handles batches
    raise AssertionError("records are handled by FanoutProcessor.process")


@api.logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with processor(records=event.get("Records") or [], handler=_unused, lambda_context=context):
        processor.process()
    return dict(processor.response())
