"""Stream records as Lambda delivers them, and the checkpoints of each mapping (see
:mod:`cloudchat_local._streams`)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["CheckpointStore", "lambda_record", "sequence_number"]

log = logging.getLogger("cloudchat_local.streams")


def _wire(value: Any) -> Any:
    """boto3's parsed record back to the JSON Lambda sends (bytes as base64, times as epoch)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    if isinstance(value, Mapping):
        return {str(k): _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_wire(v) for v in value]
    return value


def lambda_record(raw: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record (as boto3 returns it) in the shape Lambda gives the function."""
    record = _wire(raw)
    record["awsRegion"] = region
    record["eventSourceARN"] = stream_arn
    return dict(record)


def sequence_number(record: Mapping[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


class CheckpointStore:
    """The last sequence number each mapping has finished, per stream and shard (JSON file)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {}
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self._data = dict(loaded.get("checkpoints") or {})
            except ValueError:
                log.warning("ignoring unreadable stream checkpoints in %s", path)

    def get(self, key: str, stream_arn: str, shard_id: str) -> str | None:
        with self._lock:
            entry = self._data.get(key) or {}
            if entry.get("streamArn") != stream_arn:
                return None
            value = (entry.get("shards") or {}).get(shard_id)
            return str(value) if value is not None else None

    def put(self, key: str, stream_arn: str, shard_id: str, sequence_number: str) -> None:
        with self._lock:
            entry = self._data.get(key)
            if not entry or entry.get("streamArn") != stream_arn:
                entry = {"streamArn": stream_arn, "shards": {}}
                self._data[key] = entry
            entry["shards"][shard_id] = sequence_number
            self._flush()

    def _flush(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": 1, "checkpoints": self._data}, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)
