"""DynamoDB Streams: records older than the retention are trimmed; shard iterators are bounded.

**What moto does.** moto keeps every stream record for ever (DynamoDB keeps 24 hours) and
every shard iterator it ever handed out (each ``GetRecords`` makes a new one); in a local
stack whose state is saved and restored, both grow without bound.

**What we change.** :func:`trim_stream_records` drops the records older than a retention
(run once the saved state is restored); a shard's ``starting_sequence_number`` moves up by
the number dropped, so every remaining sequence number stays valid.
:func:`bound_shard_iterators` keeps the newest ``limit`` iterators after each
``GetRecords`` (AWS expires them after 15 minutes).

**Why.** Memory and snapshot size of a long-lived local stack.

**Upstream.** No issue found. Pull request text ready to send: "DynamoDB Streams: expire
shard iterators after 15 minutes and records after 24 hours, as AWS does
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html)."
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from cloudchat_local.moto._patching import replace

MAX_SHARD_ITERATORS: Final = 2_000


def trim_stream_records(retention: dt.timedelta) -> int:
    """Drops DynamoDB stream records older than ``retention`` (DynamoDB keeps 24 hours).

    moto numbers a shard's records from ``starting_sequence_number`` by list position, so the
    start moves up by the number dropped and every remaining sequence number stays valid.
    """
    from moto.dynamodb.models import dynamodb_backends

    cutoff = dt.datetime.now(dt.UTC) - retention
    dropped = 0
    for regions in dynamodb_backends.values():
        for backend in regions.values():
            for table in backend.tables.values():
                shard = getattr(table, "stream_shard", None)
                if shard is None:
                    continue
                keep_from = 0
                for index, record in enumerate(shard.items):
                    created = record.record["dynamodb"].get("ApproximateCreationDateTime")
                    if isinstance(created, dt.datetime):
                        aware = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
                        if aware < cutoff:
                            keep_from = index + 1
                            continue
                    break
                if keep_from:
                    shard.items = shard.items[keep_from:]
                    shard.starting_sequence_number += keep_from
                    dropped += keep_from
    return dropped


_LIMIT = [MAX_SHARD_ITERATORS]


def _limit() -> int:
    return _LIMIT[0]


def bound_shard_iterators(limit: int = MAX_SHARD_ITERATORS) -> None:
    """moto keeps every shard iterator it ever handed out (each GetRecords makes one): keep
    the newest ``limit``, so a long-running stream poller does not grow moto without bound.
    Installed once; a later call sets the limit."""
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    _LIMIT[0] = limit
    original = DynamoDBStreamsBackend.get_records
    if getattr(original, "_cloudchat_bounded", False):
        return

    def get_records(self: Any, iterator_arn: str, limit_: int) -> Any:
        result = original(self, iterator_arn, limit_)
        iterators = self.shard_iterators
        excess = len(iterators) - _LIMIT[0]
        if excess > 0:
            for key in list(iterators)[:excess]:
                iterators.pop(key, None)
        return result

    get_records._cloudchat_bounded = True  # type: ignore[attr-defined]
    replace(DynamoDBStreamsBackend, "get_records", get_records)

