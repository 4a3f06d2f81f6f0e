"""ShardReader refuses to read a shard it has no iterator for (instead of sending GetRecords
without one)."""

from __future__ import annotations

from typing import Any

import pytest

from cloudchat_local._stream_shards import Shard, ShardReader
from cloudchat_local._stream_sources import StreamEventSource


class _NoCalls:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the reader called {name}")


def _source() -> StreamEventSource:
    return StreamEventSource("Fn", "Stream", "fn", "mod", "handler",
                             "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x")


def test_fetch_without_an_iterator_is_refused_before_any_request() -> None:
    reader = ShardReader(_source(), _NoCalls(), region="us-east-1", latency_s=0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shard shardId-1 has no iterator"):
        reader.fetch(Shard("shardId-1", lanes=[]))
