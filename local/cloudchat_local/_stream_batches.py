"""One batch of stream records through the function: the invocation and what Lambda makes of
its response (``ReportBatchItemFailures``), and the record of a discarded batch sent to the
on-failure destination (see :mod:`cloudchat_local._streams`)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cloudchat_local._environments import Environment
from cloudchat_local._stream_sources import StreamEventSource
from cloudchat_local.errors import InvocationFailed

if TYPE_CHECKING:
    from cloudchat_local._provision_base import Clients

__all__ = ["Outcome", "invoke_batch", "lambda_context", "send_to_on_failure"]

log = logging.getLogger("cloudchat_local.streams")


@dataclass(frozen=True)
class Outcome:
    """None: the whole batch is done; n: records [0, n) are done, retry from n."""

    retry_from: int | None
    function_error: bool = False


def invoke_batch(
    source: StreamEventSource, batch: list[dict[str, Any]], environment: Environment, context: Any
) -> Outcome:
    """Invokes the function with one batch; what Lambda makes of its response or error."""
    event = {"Records": json.loads(json.dumps(batch))}
    try:
        response = environment.invoke(event, context)
        response = json.loads(json.dumps(response)) if response is not None else None
    except Exception as exc:
        isolated = isinstance(exc, InvocationFailed)  # its environment logged the traceback
        log.error("%s: %s failed on %d record(s) (sequence numbers %s..%s); retrying%s",
                  source.key, source.function_name, len(batch),
                  batch[0]["dynamodb"]["SequenceNumber"], batch[-1]["dynamodb"]["SequenceNumber"],
                  f" ({exc})" if isolated else "", exc_info=not isolated)
        return Outcome(0, function_error=True)
    if not source.report_batch_item_failures or not isinstance(response, Mapping):
        return Outcome(None)
    failures = response.get("batchItemFailures")
    if not failures:
        return Outcome(None)
    positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(batch)}
    lowest: int | None = None
    for failure in failures if isinstance(failures, list) else [None]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not identifier or str(identifier) not in positions:
            log.warning("%s: batchItemFailures has an invalid itemIdentifier %r: the whole "
                        "batch failed", source.key, identifier)
            return Outcome(0)
        index = positions[str(identifier)]
        lowest = index if lowest is None else min(lowest, index)
    assert lowest is not None
    log.warning("%s: %s reported %d failed record(s) of %d; retrying from sequence number %s",
                source.key, source.function_name, len(failures), len(batch),
                batch[lowest]["dynamodb"]["SequenceNumber"])
    return Outcome(lowest)


def send_to_on_failure(
    source: StreamEventSource, clients: Clients | None, *, region: str, account_id: str,
    shard_id: str, batch: list[dict[str, Any]], condition: str, attempts: int,
    function_error: str | None,
) -> None:
    """What Lambda sends to an on-failure destination for a discarded stream batch."""
    destination = source.on_failure_destination
    if destination is None or clients is None or not batch:
        return

    def iso(record: Mapping[str, Any]) -> str:
        created = record["dynamodb"].get("ApproximateCreationDateTime") or time.time()
        return dt.datetime.fromtimestamp(float(created), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        response["functionError"] = function_error
    document = {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:{region}:{account_id}:function:"
                           f"{source.function_name}",
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": iso(batch[0]),
            "approximateArrivalOfLastRecord": iso(batch[-1]),
            "batchSize": len(batch),
            "streamArn": source.stream_arn,
        },
    }
    body = json.dumps(document)
    try:
        if destination.startswith("arn:aws:sqs:"):
            _, _, _, _, account, name = destination.split(":", 5)
            sqs = clients("sqs")
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)
        else:
            clients("sns").publish(TopicArn=destination, Message=body)
    except Exception as exc:
        log.error("%s: could not send the failed batch to %s: %s", source.key, destination, exc)


def lambda_context(source: StreamEventSource, region: str, account_id: str) -> Any:
    """The context object a stream batch's handler gets (as Lambda builds it)."""
    from cloudchat_local.emulator import LambdaContext

    return LambdaContext(
        function_name=source.function_name,
        memory_limit_in_mb=source.memory_limit_in_mb,
        timeout_s=source.timeout_s,
        region=region,
        account_id=account_id,
    )
