"""DynamoDB Streams → Lambda, locally: what an event source mapping does, for the functions
template.yaml subscribes to a table stream.

:func:`stream_event_sources` reads every ``AWS::Serverless::Function`` event of ``Type:
DynamoDB`` (``Stream``, ``StartingPosition``, ``BatchSize``, ``MaximumBatchingWindowInSeconds``,
``FunctionResponseTypes``, ``MaximumRetryAttempts``, ``BisectBatchOnFunctionError``,
``MaximumRecordAgeInSeconds``, ``FilterCriteria``, ``ParallelizationFactor``, ``Enabled``).
A :class:`StreamPoller` per source reads the stream from moto (DescribeStream,
GetShardIterator, GetRecords, as Lambda's poller does) and invokes the handler in its own
process (the local stack runs the pollers in a process of their own:
:mod:`cloudchat_local._consumers`) with Lambda's event::

    {"Records": [{"eventID", "eventName", "eventVersion", "eventSource": "aws:dynamodb",
                  "awsRegion", "eventSourceARN": <stream arn>,
                  "dynamodb": {"ApproximateCreationDateTime": <epoch seconds>, "Keys",
                               "NewImage", "OldImage", "SequenceNumber", "SizeBytes",
                               "StreamViewType"}}, ...]}

Delivery follows Lambda's rules for a shard: records in order, one batch at a time, at least
once. With ``ParallelizationFactor`` N, up to N batches of a shard run at once: each record
goes to one of N lanes by its item's key (partition and sort key: Lambda keeps order per item
and promises nothing wider, so two items of one partition may be processed out of order),
each lane delivers in order with one batch in flight and its own retries, and the shard's
checkpoint stops before the lowest record any lane has not finished. Concurrent batches run
in separate processes in the local stack (:mod:`cloudchat_local._environments`), as Lambda
runs them in separate execution environments. A poller can hold each record back until its
``ApproximateCreationDateTime`` plus a delivery latency (``latency_s``), as Lambda lags the
table. A batch that raises is retried whole (halved first with ``BisectBatchOnFunctionError``);
with ``ReportBatchItemFailures`` the response ``{"batchItemFailures": [{"itemIdentifier":
<SequenceNumber>}]}`` checkpoints before the lowest failed record and retries from it (an
empty or null list is success; an empty, null or unknown identifier fails the whole batch).
Retries back off exponentially; after ``MaximumRetryAttempts`` (default -1: forever), or
when records are older than ``MaximumRecordAgeInSeconds``, the failed records are discarded:
logged, and described to the ``DestinationConfig.OnFailure`` SQS queue or SNS topic as Lambda
does (``requestContext``, ``responseContext``, ``DDBStreamBatchInfo``), when there is one.
Records that do not match ``FilterCriteria`` (:mod:`cloudchat_local._stream_filters`) are
dropped before batching. The checkpoint (last sequence number done) is kept per source in a
JSON file, so a restarted stack resumes where it stopped instead of replaying the stream.

Not emulated: ``TumblingWindowInSeconds`` (no window state), the function's timeout (a
handler is never cut off), S3 on-failure destinations.

The parts: :mod:`._stream_sources` (the mappings of template.yaml), :mod:`._stream_filters`
(``FilterCriteria``), :mod:`._stream_records` (records as Lambda delivers them, checkpoints),
:mod:`._stream_shards` (shards, lanes, reading the stream), :mod:`._stream_poller` (the
poller: batches, retries, checkpoints), :mod:`._stream_batches` (one invocation, and the
on-failure record of a discarded batch).
"""

from cloudchat_local._stream_filters import FilterPattern
from cloudchat_local._stream_poller import StreamPoller, stop_all
from cloudchat_local._stream_records import CheckpointStore, lambda_record
from cloudchat_local._stream_sources import (
    REPORT_BATCH_ITEM_FAILURES,
    StreamEventSource,
    stream_event_sources,
)

__all__ = [
    "REPORT_BATCH_ITEM_FAILURES",
    "CheckpointStore",
    "FilterPattern",
    "StreamEventSource",
    "StreamPoller",
    "lambda_record",
    "stop_all",
    "stream_event_sources",
]
