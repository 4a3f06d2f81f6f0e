"""Metering our AWS clients with botocore's public events: requests per operation, DynamoDB
write and read units (sized from the items as they were before and after each write, read
back through a client of the meter's own, so nothing it does is counted), and the CPU the
in-process stand-in (moto) spends answering, which a deployed function does not spend.

``cpu`` of a metered block is the process's CPU minus moto's answers and the meter's own work:
our code, botocore and the libraries, as in Lambda."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from . import _units as units

_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
_READS = ("GetItem", "BatchGetItem", "Query")


@dataclass
class Tally:
    """What one metered block cost."""

    requests: Counter[str] = field(default_factory=Counter)
    write_units: int = 0
    index_write_units: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    cancelled_transactions: int = 0
    largest_item_read: int = 0
    cpu_s: float = 0.0
    moto_cpu_s: float = 0.0
    meter_cpu_s: float = 0.0
    wall_s: float = 0.0

    def count(self, service: str) -> int:
        return sum(n for op, n in self.requests.items() if op.startswith(service + "."))

    def as_json(self) -> dict[str, Any]:
        return {
            "dynamodb_requests": self.count("dynamodb"),
            "requests": dict(sorted(self.requests.items())),
            "write_units": self.write_units,
            "index_write_units": dict(sorted(self.index_write_units.items())),
            "write_units_with_indexes": self.write_units + sum(self.index_write_units.values()),
            "read_units": self.read_units,
            "cancelled_transactions": self.cancelled_transactions,
            "largest_item_read_bytes": self.largest_item_read,
            "kms_requests": self.count("kms"),
            "sns_publishes": self.requests.get("sns.Publish", 0),
            "cpu_ms": round(self.cpu_s * 1000, 2),
            "moto_cpu_ms": round(self.moto_cpu_s * 1000, 2),
            "meter_cpu_ms": round(self.meter_cpu_s * 1000, 2),
            "wall_ms": round(self.wall_s * 1000, 2),
        }


class Meter:
    """Hooks on ``clients`` (service name -> boto3 client); ``sizer`` is a DynamoDB client of
    the meter's own (unhooked). ``keys`` names the table's key attributes, ``indexes`` each
    GSI's key attributes."""

    def __init__(self, clients: Mapping[str, Any], sizer: Any, table: str,
                 keys: tuple[str, ...], indexes: Mapping[str, tuple[str, ...]]) -> None:
        self.sizer, self.table, self.keys, self.indexes = sizer, table, keys, dict(indexes)
        self.tally = Tally()
        self._moto_s = 0.0
        self._own_s = 0.0
        # The consumer makes calls from several threads at once (cloudchat.fanout_groups):
        # moto (in-process) and the meter's own work are timed on the calling thread's CPU
        # clock, per thread, and summed under a lock.
        self._local = threading.local()
        self._lock = threading.RLock()
        for service, client in clients.items():
            events = client.meta.events
            events.register(f"before-parameter-build.{service}", self._before)
            events.register_first(f"before-send.{service}", self._sending)
            events.register(f"before-parse.{service}", self._received)
            events.register(f"after-call.{service}", self._after)

    @contextmanager
    def block(self) -> Iterator[Tally]:
        """Meters what runs inside; the tally is complete on exit."""
        self.tally = tally = Tally()
        moto0, own0 = self._moto_s, self._own_s
        cpu0, wall0 = time.process_time(), time.perf_counter()
        try:
            yield tally
        finally:
            cpu = time.process_time() - cpu0
            tally.wall_s = time.perf_counter() - wall0
            tally.moto_cpu_s, tally.meter_cpu_s = self._moto_s - moto0, self._own_s - own0
            tally.cpu_s = cpu - tally.moto_cpu_s - tally.meter_cpu_s
            self.tally = Tally()

    # ------------------------------------------------------------------ hooks
    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any],
                **_: Any) -> None:
        t0 = time.thread_time()
        context["scale_meter"] = {"params": params}
        if model.name in _WRITES:
            context["scale_meter"]["before"] = self._images(self._written_keys(model.name, params))
        self._own(time.thread_time() - t0)

    def _own(self, seconds: float) -> None:
        with self._lock:
            self._own_s += seconds

    # before-send and before-parse carry no call context, but a call runs on one thread
    # (in-process moto answers on the caller's thread): a thread's response is its send's.
    def _sending(self, **_: Any) -> None:
        self._local.sent = time.thread_time()

    def _received(self, **_: Any) -> None:
        sent = getattr(self._local, "sent", None)
        if sent is not None:
            with self._lock:
                self._moto_s += time.thread_time() - sent
            self._local.sent = None

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any,
               context: dict[str, Any], **_: Any) -> None:
        state = context.pop("scale_meter", None)
        if state is None:
            return
        t0 = time.thread_time()
        service = str(model.service_model.service_id.hyphenize())
        with self._lock:  # (the tally is shared by the consumer's threads)
            tally = self.tally
            tally.requests[f"{service}.{model.name}"] += 1
            if service == "dynamodb":
                failed = int(http_response.status_code) >= 300
                if model.name in _WRITES:
                    self._write(model.name, state, failed)
                elif model.name in _READS and not failed:
                    tally.read_units += self._read(model.name, state["params"], parsed)
        self._own(time.thread_time() - t0)

    # ------------------------------------------------------------------ writes
    def _key(self, item: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(repr(item[k]) for k in self.keys)

    def _written_keys(self, op: str, params: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
        """(key, how) of each item a write touches: how is "write", "txwrite" or "check"."""
        out: list[tuple[dict[str, Any], str]] = []
        if op == "PutItem":
            out.append(({k: params["Item"][k] for k in self.keys}, "write"))
        elif op in ("UpdateItem", "DeleteItem"):
            out.append((params["Key"], "write"))
        elif op == "TransactWriteItems":
            for action in params["TransactItems"]:
                (kind, body), = action.items()
                key = {k: body["Item"][k] for k in self.keys} if kind == "Put" else body["Key"]
                out.append((key, "check" if kind == "ConditionCheck" else "txwrite"))
        else:
            for request in params["RequestItems"].get(self.table, []):
                put = request.get("PutRequest")
                key = {k: put["Item"][k] for k in self.keys} if put else request["DeleteRequest"]["Key"]
                out.append((key, "write"))
        return out

    def _images(self, keys: list[tuple[dict[str, Any], str]]) -> list[tuple[dict[str, Any], str, Any]]:
        found: dict[tuple[str, ...], Any] = {}
        wanted = list({self._key(k): k for k, _ in keys}.values())
        for i in range(0, len(wanted), 100):
            resp = self.sizer.batch_get_item(RequestItems={
                self.table: {"Keys": wanted[i:i + 100], "ConsistentRead": True}})
            for item in resp.get("Responses", {}).get(self.table, []):
                found[self._key(item)] = item
        return [(k, how, found.get(self._key(k))) for k, how in keys]

    def _write(self, op: str, state: dict[str, Any], failed: bool) -> None:
        before = state["before"]
        after = self._images([(k, how) for k, how, _ in before])
        tally = self.tally
        if failed and op == "TransactWriteItems":
            tally.cancelled_transactions += 1
        for (_, how, old), (_, _, new) in zip(before, after, strict=True):
            if how == "check":
                tally.read_units += units.check_units(old)
                continue
            tally.write_units += units.write_units(old, new, transactional=how == "txwrite")
            for index, keys in self.indexes.items():
                tally.index_write_units[index] += units.index_write_units(old, new, keys)

    # ------------------------------------------------------------------ reads
    def _read(self, op: str, params: dict[str, Any], parsed: dict[str, Any]) -> float:
        sized = self._sized(op, params, parsed)
        self.tally.largest_item_read = max([self.tally.largest_item_read, *sized[0]])
        return units.read_units(sized[0], consistent=sized[1], summed=op == "Query")

    def _sized(self, op: str, params: dict[str, Any], parsed: dict[str, Any]
               ) -> tuple[list[int], bool]:
        """The sizes of the items a read consumed (whole items, whatever it projected) and
        whether it was strongly consistent."""
        if op == "GetItem":
            item = parsed.get("Item")
            if item is not None and "ProjectionExpression" in params:
                item = self._images([(params["Key"], "read")])[0][2]
            return [units.item_size(item)], bool(params.get("ConsistentRead"))
        if op == "BatchGetItem":
            request = params["RequestItems"][self.table]
            if "ProjectionExpression" in request:
                items = [i for _, _, i in self._images([(k, "read") for k in request["Keys"]])]
            else:
                got = {self._key(i): i for i in parsed.get("Responses", {}).get(self.table, [])}
                items = [got.get(self._key(k)) for k in request["Keys"]]
            return [units.item_size(i) for i in items], bool(request.get("ConsistentRead"))
        items = parsed.get("Items", [])
        if "ProjectionExpression" in params or params.get("Select") not in (None, "ALL_ATTRIBUTES"):
            full = {k: v for k, v in params.items() if k not in ("ProjectionExpression", "Select")}
            items = self.sizer.query(**full).get("Items", [])
        consistent = bool(params.get("ConsistentRead")) and "IndexName" not in params
        return [units.item_size(i) for i in items], consistent
