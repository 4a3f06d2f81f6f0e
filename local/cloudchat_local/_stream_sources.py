"""The event source mappings of template.yaml: every ``Type: DynamoDB`` event of a function,
resolved and checked (see :mod:`cloudchat_local._streams`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cloudchat_local._stream_filters import FilterPattern
from cloudchat_local.errors import TemplateError, UnresolvedReference
from cloudchat_local.template import Template

__all__ = ["REPORT_BATCH_ITEM_FAILURES", "StreamEventSource", "stream_event_sources"]

log = logging.getLogger("cloudchat_local.streams")

REPORT_BATCH_ITEM_FAILURES: Final = "ReportBatchItemFailures"
_UNSUPPORTED_WARN: Final = ("TumblingWindowInSeconds",)


@dataclass(frozen=True)
class StreamEventSource:
    """A function subscribed to a DynamoDB stream (an event source mapping)."""

    function_logical_id: str
    event_id: str
    function_name: str
    module: str
    handler_attr: str
    stream_arn: str
    starting_position: str = "LATEST"
    batch_size: int = 100
    maximum_batching_window_s: float = 0.0
    maximum_retry_attempts: int = -1
    maximum_record_age_s: int = -1
    bisect_on_error: bool = False
    report_batch_item_failures: bool = False
    filters: tuple[FilterPattern, ...] = ()
    timeout_s: float = 3.0
    memory_limit_in_mb: int = 128
    #: ``DestinationConfig.OnFailure.Destination``: an SQS queue or SNS topic ARN.
    on_failure_destination: str | None = None
    #: ``ParallelizationFactor``: batches of one shard processed at the same time (1..10).
    parallelization_factor: int = 1

    @property
    def key(self) -> str:
        """Identifies the mapping (its checkpoint key)."""
        return f"{self.function_logical_id}/{self.event_id}"

    def accepts(self, record: Mapping[str, Any]) -> bool:
        return not self.filters or any(f.matches(record) for f in self.filters)


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def stream_event_sources(template: Template, resolve: Mapping[str, str]) -> list[StreamEventSource]:
    """Every enabled ``Type: DynamoDB`` event of the template's functions, resolved.

    ``resolve`` is what provisioning resolved (``Table.StreamArn``, function names ...).
    """
    sources: list[StreamEventSource] = []
    for function in template.functions():
        events = function.properties.get("Events") or {}
        if not isinstance(events, Mapping):
            continue
        for event_id, event in events.items():
            if not isinstance(event, Mapping) or event.get("Type") != "DynamoDB":
                continue
            where = f"{function.logical_id}.Events.{event_id}"
            raw = dict(event.get("Properties") or {})
            destination = _on_failure_destination(template, raw.pop("DestinationConfig", None),
                                                  resolve, where)
            props = template.evaluate(raw, resolve, where=where) or {}
            if "Enabled" in props and not _truthy(props["Enabled"]):
                continue
            stream = props.get("Stream")
            if not isinstance(stream, str) or "/stream/" not in stream:
                raise TemplateError(f"{where}: Stream must resolve to a table stream ARN, got {stream!r}")
            position = str(props.get("StartingPosition", "LATEST")).upper()
            if position not in ("LATEST", "TRIM_HORIZON"):
                raise TemplateError(f"{where}: StartingPosition {position} is not supported for DynamoDB")
            for name in _UNSUPPORTED_WARN:
                if name in props:
                    log.warning("%s: %s is not emulated by the local stack", where, name)
            filters = tuple(
                FilterPattern(f.get("Pattern"), where)
                for f in ((props.get("FilterCriteria") or {}).get("Filters") or [])
            )
            batch_size = int(props.get("BatchSize", 100))
            if not 1 <= batch_size <= 10_000:
                raise TemplateError(f"{where}: BatchSize must be 1..10000")
            factor = int(props.get("ParallelizationFactor", 1))
            if not 1 <= factor <= 10:
                raise TemplateError(f"{where}: ParallelizationFactor must be 1..10")
            sources.append(
                StreamEventSource(
                    function_logical_id=function.logical_id,
                    event_id=str(event_id),
                    function_name=str(resolve.get(function.logical_id, function.logical_id)),
                    module=function.module,
                    handler_attr=function.handler_attr,
                    stream_arn=stream,
                    starting_position=position,
                    batch_size=batch_size,
                    maximum_batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                    maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                    maximum_record_age_s=int(props.get("MaximumRecordAgeInSeconds", -1)),
                    bisect_on_error=_truthy(props.get("BisectBatchOnFunctionError", False)),
                    report_batch_item_failures=REPORT_BATCH_ITEM_FAILURES
                    in (props.get("FunctionResponseTypes") or []),
                    filters=filters,
                    timeout_s=float(function.properties.get("Timeout", 3)),
                    memory_limit_in_mb=int(function.properties.get("MemorySize", 128)),
                    on_failure_destination=destination,
                    parallelization_factor=factor,
                )
            )
    return sources


def _on_failure_destination(
    template: Template, config: Any, resolve: Mapping[str, str], where: str
) -> str | None:
    on_failure = (config or {}).get("OnFailure") if isinstance(config, Mapping) else None
    if not isinstance(on_failure, Mapping) or "Destination" not in on_failure:
        return None
    try:
        destination = template.evaluate(on_failure["Destination"], resolve, where=where)
    except UnresolvedReference as exc:
        log.warning("%s: the on-failure destination is not available locally (%s)", where, exc)
        return None
    if not isinstance(destination, str) or not destination.startswith(("arn:aws:sqs:", "arn:aws:sns:")):
        log.warning("%s: on-failure destination %r is not emulated (SQS and SNS are)", where, destination)
        return None
    return destination
