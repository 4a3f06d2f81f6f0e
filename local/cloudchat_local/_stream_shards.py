"""A poller's shards, their lanes, and the reading side: shard iterators and pages of
records (see :mod:`cloudchat_local._streams`)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from cloudchat_local._stream_records import lambda_record, sequence_number
from cloudchat_local._stream_sources import StreamEventSource

if TYPE_CHECKING:
    from types_boto3_dynamodbstreams import DynamoDBStreamsClient
    from types_boto3_dynamodbstreams.literals import ShardIteratorTypeType

__all__ = ["Lane", "Shard", "ShardReader", "lane_of"]

log = logging.getLogger("cloudchat_local.streams")


@dataclass
class Lane:
    """One of a shard's ``ParallelizationFactor`` lanes: the records of the items hashed to it,
    in stream order, and at most one batch of them in flight."""

    index: int
    pending: list[dict[str, Any]] = field(default_factory=list)
    first_pending_at: float | None = None
    attempts: int = 0
    limit: int | None = None  # bisected batch size
    retry_at: float = 0.0
    in_flight: bool = False


@dataclass
class Shard:
    shard_id: str
    lanes: list[Lane]
    iterator: str | None = None
    #: Read from the stream, not yet due (``latency_s``): (due at, epoch seconds; record).
    transit: deque[tuple[float, dict[str, Any]]] = field(default_factory=deque)
    fetched_upto: str | None = None  # last sequence number read from the stream
    done_upto: str | None = None  # last sequence number checkpointed
    closed: bool = False

    def outstanding(self) -> list[int]:
        """The lowest unfinished sequence number of the transit queue and of each lane."""
        firsts = [sequence_number(self.transit[0][1])] if self.transit else []
        return firsts + [sequence_number(lane.pending[0]) for lane in self.lanes if lane.pending]


def lane_of(record: Mapping[str, Any], lanes: int) -> int:
    """The lane of a record's item. Lambda keeps order per item (partition and sort key) when
    it runs a shard's batches concurrently, and promises nothing wider: lanes by item."""
    if lanes == 1:
        return 0
    keys = json.dumps(record["dynamodb"].get("Keys") or {}, sort_keys=True)
    return zlib.crc32(keys.encode("utf-8")) % lanes


class ShardReader:
    """Reads a source's stream for a poller: DescribeStream, GetShardIterator, GetRecords."""

    def __init__(self, source: StreamEventSource, client: DynamoDBStreamsClient, *, region: str,
                 latency_s: float) -> None:
        self.source = source
        self.client = client
        self.region = region
        self.latency_s = latency_s
        self.page = min(1000, max(100, source.batch_size))  # GetRecords Limit

    def shard_ids(self) -> list[str]:
        description = self.client.describe_stream(StreamArn=self.source.stream_arn)["StreamDescription"]
        return [str(raw["ShardId"]) for raw in description.get("Shards") or []]

    def open(self, shard: Shard, after: str | None) -> str:
        """An iterator after ``after`` (a checkpoint), else at the source's starting position."""
        kwargs: dict[str, Any] = {"StreamArn": self.source.stream_arn, "ShardId": shard.shard_id}
        if after is not None:
            try:
                return str(self.client.get_shard_iterator(
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after, **kwargs
                )["ShardIterator"])
            except Exception as exc:
                log.warning("%s: cannot resume after %s (%s): reading from the oldest record",
                            self.source.key, after, exc)
                return str(self.client.get_shard_iterator(
                    ShardIteratorType="TRIM_HORIZON", **kwargs)["ShardIterator"])
        # (LATEST or TRIM_HORIZON: stream_event_sources refuses any other)
        position = cast("ShardIteratorTypeType", self.source.starting_position)
        return str(self.client.get_shard_iterator(
            ShardIteratorType=position, **kwargs)["ShardIterator"])

    def fetch(self, shard: Shard) -> int:
        """Reads one page into ``shard.transit`` (the records the source accepts, each due at its
        creation time plus ``latency_s``); the number of records read."""
        source = self.source
        if shard.iterator is None:  # (the poller fetches only open shards it has opened)
            raise ValueError(f"{source.key}: shard {shard.shard_id} has no iterator to read")
        try:
            response = self.client.get_records(ShardIterator=shard.iterator, Limit=self.page)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("ExpiredIteratorException", "TrimmedDataAccessException", "InternalFailure",
                        "ResourceNotFoundException") or "500" in str(exc):
                # Everything read so far is kept (in transit or in a lane): go on after it.
                log.info("%s: reopening shard %s (%s)", source.key, shard.shard_id, code or exc)
                shard.iterator = self.open(shard, shard.fetched_upto or shard.done_upto)
                return 0
            raise
        shard.iterator = response.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True
        records = response.get("Records") or []
        for raw in records:
            record = lambda_record(raw, source.stream_arn, self.region)
            shard.fetched_upto = record["dynamodb"]["SequenceNumber"]
            if source.accepts(record):
                created = (raw.get("dynamodb") or {}).get("ApproximateCreationDateTime")
                at = created.timestamp() if isinstance(created, dt.datetime) else time.time()
                shard.transit.append((at + self.latency_s, record))
        return len(records)
