"""The DynamoDB stream consumer: fan-out off the request path (cloudchat.fanout).

Partial batch responses through Powertools' batch utility. The batch is split by partition
(cloudchat.fanout_groups: a conversation's records stay together and in order, so its new
messages are fanned out together) and up to ``FANOUT_WORKERS`` partitions are handled at once;
the processor then records every record before the lowest one not handled as a success, and
that one and every record after it as failures (Lambda re-delivers a stream batch from the
lowest failed sequence number anyway). BisectBatchOnFunctionError splits poison batches and
the on-failure destination keeps what never succeeds. Each batch logs its size, partitions
and duration (``fanout batch``): the work per batch, measured."""

import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from cloudchat import api
from cloudchat.config import get_settings
from cloudchat.fanout import Fanout
from cloudchat.fanout_groups import handle_by_partition, partitions


class FanoutProcessor(BatchProcessor):
    """Powertools' partial-batch processor over one ``Fanout.handle_batch`` call."""

    _SKIPPED = RuntimeError("an earlier record of this batch failed")

    def process(self) -> list[tuple]:  # (Powertools' signature)
        service, publisher, notifier = api.service(), _publisher(), _notifier()  # (made here,
        # once, not concurrently by the workers)
        started = time.perf_counter()
        failed_from, error = handle_by_partition(
            self.records, lambda: Fanout(service, lambda: publisher, lambda: notifier),
            get_settings().fanout_workers)
        api.logger.info("fanout batch", extra={
            "records": len(self.records), "partitions": len(partitions(self.records)),
            "seconds": round(time.perf_counter() - started, 3), "failed_from": failed_from})
        results = []
        for index, raw in enumerate(self.records):
            record = self._to_batch_type(raw, event_type=self.event_type, model=self.model)
            if failed_from is None or index < failed_from:
                results.append(self.success_handler(record=record, result=None))
                continue
            failure = error if index == failed_from and error else self._SKIPPED
            results.append(self.failure_handler(
                record=record, exception=(type(failure), failure, failure.__traceback__)))
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
