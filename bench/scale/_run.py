"""One group size, measured: set-up (profiles, then ``conversations`` GROUP conversations of
``n`` members created through the service by one owner), a warm-up message, then messages
by a member, each as ``sendMessage`` (the resolver's handler) and then the stream consumer
(``resolvers/stream.py``: ``cloudchat.fanout.Fanout`` with the real AppSync publisher, against
the loopback stand-in, and the SNS notifier) over exactly the stream records that send
wrote; and the conversation list and member list of a member of all those conversations."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.harness import say

from . import _units as units
from ._meter import Meter, Tally
from ._world import TABLE, AppSyncStub, World, create_group, event, invoke, put_profiles, user_ids, world

BODY = "The quarterly all-hands moves to Thursday 10:00; agenda and dial-in in the channel topic."


class _Sender:
    def __init__(self, w: World, meter: Meter, stub: AppSyncStub, cid: str, sender: str) -> None:
        self.w, self.meter, self.stub, self.cid, self.sender = w, meter, stub, cid, sender
        self.sent = 0

    def message(self) -> dict[str, Any]:
        """One message, sent and fanned out; what each half cost."""
        from resolvers import messages, stream

        self.sent += 1
        e = event("Mutation.sendMessage.ok", self.sender, {"input": {
            "conversationId": self.cid, "body": BODY,
            "clientMessageId": f"scale-{self.sent:06d}-{time.time_ns()}"}})
        with self.meter.block() as send:
            invoke(messages.lambda_handler, e)
        records = self.w.records()
        before = self.stub.counts()
        with self.meter.block() as consumer:
            answer = stream.lambda_handler({"Records": records}, _context())
        after = self.stub.counts()
        if answer.get("batchItemFailures"):
            raise RuntimeError(f"the consumer failed records: {answer}")
        return {
            "send": send.as_json(),
            "consumer": {**consumer.as_json(), "stream_records_in": len(records),
                         "appsync_requests": after["requests"] - before["requests"],
                         "user_events": after["events"] - before["events"],
                         "stream_records_out": len(self.w.records())},
        }


def _context() -> Any:
    from bench.harness import LambdaContext

    return LambdaContext()


def _operation(meter: Meter, handler: Any, e: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    with meter.block() as tally:
        answer = invoke(handler, e)
    return {**_reads(tally), "response_bytes": len(json.dumps(answer))}, answer


def _reads(tally: Tally) -> dict[str, Any]:
    out = tally.as_json()
    return {k: out[k] for k in ("dynamodb_requests", "requests", "read_units",
                                "largest_item_read_bytes", "cpu_ms")}


MEMBER_PAGE = 100  # the member list: one page (Query.members, at most 100)


def measure(n: int, conversations: int, stub: AppSyncStub, repeat: int,
            online: int = 0) -> dict[str, Any]:
    """The figures of one group size ``n`` (an ``error`` instead where today's model fails);
    ``online``: that many members (the sender first) heartbeat before the messages."""
    import boto3

    out: dict[str, Any] = {"members": n, "conversations": conversations}
    if online:
        out["online"] = min(online, n - 1)
    with world(stub.url, max_members=max(n, 100)) as w:
        users = user_ids(n)
        t0 = time.perf_counter()
        put_profiles(users, "2026-01-01T00:00:00.000Z")
        created: list[str] = []
        try:
            for k in range(conversations):
                created.append(create_group(users[0], users[1:], f"scale {n} #{k}"))
        except Exception as exc:  # today's model has limits: they are the data
            out["error"] = (f"createConversation with {n} members failed "
                            f"({len(created)} of {conversations} created): "
                            f"{type(exc).__name__}: {str(exc)[:300]}")
            out["setup_s"] = round(time.perf_counter() - t0, 1)
            return out
        out["setup_s"] = round(time.perf_counter() - t0, 1)
        say(f"{n} members: set up in {out['setup_s']} s", "scale")
        from cloudchat import aws

        meter = Meter({s: aws.client(s) for s in ("dynamodb", "kms", "sns")},
                      boto3.client("dynamodb"), TABLE, w.table_keys, w.index_keys)
        try:
            _online(users[1:1 + online])
            _measured(out, w, meter, stub, users[1], created, repeat,
                      lambda: _online(users[1:1 + online]))
        except Exception as exc:  # (e.g. a send that grows the item past 400 KB near the limit)
            out["error"] = f"{out.pop('phase')}: {type(exc).__name__}: {str(exc)[:300]}"
        out.pop("phase", None)
    return out


def _online(members: list[str]) -> None:
    """Heartbeats of ``members``, and what the stream consumer does with each (presence;
    online records in their large conversations: cloudchat.fanout_large). Set-up."""
    from cloudchat import api
    from cloudchat.fanout import Fanout
    from cloudchat.services import iso

    service = api.service()
    now = service.clock()
    fanout = Fanout(service, lambda: None)
    for uid in members:
        service.store.touch_presence(uid, iso(now), int(now.timestamp()) + 3600)
        fanout.large.heartbeat(uid, iso(now))


def _measured(out: dict[str, Any], w: World, meter: Meter, stub: AppSyncStub, member: str,
              created: list[str], repeat: int, beat: Callable[[], None]) -> None:
    """The list operations, then the messages, into ``out`` (``phase`` says which runs).
    ``beat``: the online members' heartbeats again after the warm-up message (its
    notification sweep can outlast their 60 s online window at 10,000 members)."""
    from cloudchat import api
    from resolvers import conversations as conversation_resolvers

    out["phase"] = "the conversation list"
    list_cost, page = _operation(meter, conversation_resolvers.lambda_handler, event(
        "Query.conversations.first-page", member, {"limit": 20}))
    out["conversation_list"] = {**list_cost, "items": len(page["items"])}
    out["phase"] = "the member list"
    members_cost, page = _operation(meter, conversation_resolvers.lambda_handler, event(
        "Query.members.ok", member, {"conversationId": created[0], "limit": MEMBER_PAGE}))
    out["member_list"] = {**members_cost, "members": len(page["items"]),
                          "more": page["nextToken"] is not None}
    out["phase"] = "the conversation"
    conv_cost, _ = _operation(meter, conversation_resolvers.lambda_handler, event(
        "Query.conversation.ok", member, {"id": created[0]}))
    out["conversation_read"] = conv_cost
    size = conv_cost["largest_item_read_bytes"]
    out["conversation_item_bytes"] = size
    out["phase"] = "the conversation item"
    if size > units.ITEM_LIMIT:
        raise ValueError(f"the conversation item is {size} bytes, over DynamoDB's 400 KB "
                         f"item limit (moto stored it; AWS refuses it)")
    out["phase"] = "a message"
    w.skip_stream()
    sender = _Sender(w, meter, stub, created[0], member)
    sender.message()  # warm-up (not measured): the first window's notifications go out
    beat()
    in_window = [sender.message() for _ in range(repeat)]
    service = api.service()
    real_clock, window = service.clock, service.settings.notify_window_seconds
    service.clock = lambda: real_clock() + timedelta(seconds=window + 1)
    new_window = sender.message()
    out["message_in_window"] = _median(in_window)
    out["message_new_window"] = new_window


def _median(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The last sample's counts (they repeat exactly), the median CPU of all."""
    last = samples[-1]
    for part in ("send", "consumer"):
        cpus = [s[part]["cpu_ms"] for s in samples]
        last[part]["cpu_ms"] = round(statistics.median(cpus), 2)
        last[part]["cpu_ms_samples"] = cpus
    return last
