"""In-process pub/sub between mutations and real-time subscriptions (asyncio, one loop).

A successful mutation listed in a subscription field's ``@aws_subscribe(mutations: [...])``
publishes its result; each active subscription on that field whose non-null arguments all
equal (compared as strings, like AppSync) the same-named top-level fields of the published
object receives it, shaped by its own selection set (see :mod:`._selection`).

Delivery is at-most-once: :meth:`Broker.publish` only enqueues on each connection's bounded
queue (:class:`Outbox`) and never waits for a subscriber; a full queue drops the event.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import FieldNode, FragmentDefinitionNode, GraphQLNonNull, GraphQLSchema

from ._quotas import SUBSCRIPTION_PAYLOAD_BYTES, payload_bytes
from ._schema import subscription_sources
from ._selection import project

log = logging.getLogger("cloudchat_local.emulator.pubsub")


class Outbox:
    """One connection's outgoing frames. Control frames are never dropped; data frames are
    dropped once ``limit`` of them are waiting (a slow subscriber loses events, the
    publisher never waits)."""

    def __init__(self, limit: int) -> None:
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._limit = limit
        self._pending_data = 0
        self.dropped = 0

    def control(self, frame: dict[str, Any]) -> None:
        self._queue.put_nowait(frame)

    def offer(self, frame: dict[str, Any]) -> bool:
        if self._pending_data >= self._limit:
            self.dropped += 1
            return False
        self._pending_data += 1
        self._queue.put_nowait(frame)
        return True

    def close(self) -> None:
        self._queue.put_nowait(None)

    async def next(self) -> dict[str, Any] | None:
        frame = await self._queue.get()
        if frame is not None and frame.get("type") == "data":
            self._pending_data -= 1
        return frame


@dataclass(eq=False)
class ActiveSubscription:
    """One started subscription on one connection. ``filter`` is its enhanced subscription
    filter (what ``util.transform.toSubscriptionFilter`` takes), if its resolver set one."""

    outbox: Outbox
    sub_id: str
    field_name: str
    arguments: dict[str, Any]
    field_nodes: Sequence[FieldNode]
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]
    delivered: int = field(default=0)
    filter: Mapping[str, Any] | None = None
    invalidation: Mapping[str, Any] | None = None
    #: called when an invalidation closes the subscription (the connection forgets its id)
    on_invalidated: Callable[[], None] | None = None

    @functools.cached_property
    def body_key(self) -> tuple[int, str]:
        """Subscriptions with equal keys (the same parsed document, the same variables) get
        the same data frame payload from a publish."""
        return id(self.field_nodes[0]), json.dumps(self.variables, sort_keys=True, default=str)


_MISSING: Any = object()


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "attributeExists":
        return (actual is not _MISSING and actual is not None) == bool(expected)
    if actual is _MISSING or actual is None:
        return op in ("ne", "notIn", "notContains")
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op == "in":
        return actual in expected
    if op == "notIn":
        return actual not in expected
    if op == "contains":
        return isinstance(actual, str | list) and expected in actual
    if op == "notContains":
        return not (isinstance(actual, str | list) and expected in actual)
    if op == "beginsWith":
        return isinstance(actual, str) and isinstance(expected, str) and actual.startswith(expected)
    try:
        if op == "between":
            low, high = expected
            return bool(low <= actual <= high)
        return bool({"gt": actual > expected, "ge": actual >= expected,
                     "lt": actual < expected, "le": actual <= expected}[op])
    except TypeError:  # a number compared with a string: AppSync does not deliver
        return False


FILTER_OPERATORS = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "in", "notIn", "between",
                              "contains", "notContains", "beginsWith", "attributeExists"})


def check_filter(spec: Any) -> None:
    """Raises ValueError unless ``spec`` is a filter :func:`filter_matches` understands: an
    object of ``field: {operator: value}`` entries (all must hold), with optional ``and`` /
    ``or`` lists of such objects, as ``util.transform.toSubscriptionFilter`` takes."""
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError("a subscription filter is a non-empty object")
    for name, condition in spec.items():
        if name in ("and", "or"):
            if not isinstance(condition, list) or not condition:
                raise ValueError(f"{name!r} takes a non-empty list of filters")
            for part in condition:
                check_filter(part)
            continue
        if not isinstance(condition, Mapping) or not condition:
            raise ValueError(f"the filter on {name!r} must be an object of operators")
        unknown = set(condition) - FILTER_OPERATORS
        if unknown:
            raise ValueError(f"unknown filter operator(s) on {name!r}: {sorted(unknown)}")


def filter_matches(spec: Mapping[str, Any], payload: Any) -> bool:
    """Evaluates an enhanced subscription filter against a published mutation result (the
    fields the mutation selected): every entry must hold; a field the mutation did not
    select holds only for ``ne`` / ``notIn`` / ``notContains``."""
    for name, condition in spec.items():
        if name == "and":
            if not all(filter_matches(part, payload) for part in condition):
                return False
            continue
        if name == "or":
            if not any(filter_matches(part, payload) for part in condition):
                return False
            continue
        actual = payload.get(name, _MISSING) if isinstance(payload, dict) else _MISSING
        if not all(_compare(op, actual, expected) for op, expected in condition.items()):
            return False
    return True


def filter_string(value: Any) -> str:
    """How AppSync compares argument values with published fields: as strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def matches(arguments: Mapping[str, Any], payload: Any) -> bool:
    for name, value in arguments.items():
        if value is None:
            continue
        if not isinstance(payload, dict) or payload.get(name) is None:
            return False
        if filter_string(payload[name]) != filter_string(value):
            return False
    return True


class Broker:
    """Routes published mutation results to active subscriptions."""

    def __init__(self, schema: GraphQLSchema, payload_limit: int = SUBSCRIPTION_PAYLOAD_BYTES) -> None:
        self._schema = schema
        #: AppSync's subscription payload size quota (bytes of the published JSON).
        self.payload_limit = payload_limit
        #: publishes dropped for exceeding it (AppSync's InboundMessageError)
        self.oversized = 0
        self._by_mutation: dict[str, list[str]] = {}
        for sub_field, mutations in subscription_sources(schema).items():
            for mutation in mutations:
                self._by_mutation.setdefault(mutation, []).append(sub_field)
        self._subs: dict[str, dict[tuple[int, str], ActiveSubscription]] = {}
        self._changed = threading.Condition()
        self._counts: dict[str, int] = {}

    def publishes(self, mutation_field: str) -> bool:
        return mutation_field in self._by_mutation

    def add(self, sub: ActiveSubscription) -> None:
        key = (id(sub.outbox), sub.sub_id)
        subs = self._subs.setdefault(sub.field_name, {})
        previous = subs.get(key)
        if previous is not None:
            self._counted(previous, -1)
        subs[key] = sub
        self._counted(sub, +1)

    def remove(self, outbox: Outbox, sub_id: str) -> bool:
        for subs in self._subs.values():
            sub = subs.pop((id(outbox), sub_id), None)
            if sub is not None:
                self._counted(sub, -1)
                return True
        return False

    def remove_outbox(self, outbox: Outbox) -> None:
        for subs in self._subs.values():
            for key in [k for k in subs if k[0] == id(outbox)]:
                self._counted(subs.pop(key), -1)

    def count(self, field_name: str | None = None, arguments: Mapping[str, Any] | None = None) -> int:
        """Active subscriptions on ``field_name`` (any field if None), optionally only those
        started with exactly ``arguments``. Thread-safe."""
        with self._changed:
            return self._counts.get(self._count_key(field_name, arguments), 0)

    def wait_for(
        self,
        count: int,
        field_name: str | None = None,
        timeout: float = 5.0,
        arguments: Mapping[str, Any] | None = None,
    ) -> bool:
        """Blocks (thread-safe) until at least ``count`` such subscriptions are active."""
        key = self._count_key(field_name, arguments)
        with self._changed:
            return self._changed.wait_for(lambda: self._counts.get(key, 0) >= count, timeout)

    @staticmethod
    def _count_key(field_name: str | None, arguments: Mapping[str, Any] | None) -> str:
        if arguments is None:
            return json.dumps([field_name])
        return json.dumps([field_name, dict(arguments)], sort_keys=True, default=str)

    def _counted(self, sub: ActiveSubscription, delta: int) -> None:
        keys = (
            self._count_key(None, None),
            self._count_key(sub.field_name, None),
            self._count_key(sub.field_name, sub.arguments),
        )
        with self._changed:
            for key in keys:
                self._counts[key] = self._counts.get(key, 0) + delta
            self._changed.notify_all()

    def invalidate(self, subscription_field: str, payload: Mapping[str, Any]) -> int:
        """``extensions.invalidateSubscriptions``: closes every subscription on the field
        whose invalidation filter matches ``payload`` (the client gets ``complete``)."""
        closed = 0
        for key, sub in list(self._subs.get(subscription_field, {}).items()):
            if sub.invalidation is None or not filter_matches(sub.invalidation, payload):
                continue
            if self._subs[subscription_field].pop(key, None) is None:
                continue
            self._counted(sub, -1)
            if sub.on_invalidated is not None:
                sub.on_invalidated()
            sub.outbox.control({"type": "complete", "id": sub.sub_id})
            closed += 1
        return closed

    def publish(self, mutation_field: str, payload: Any) -> int:
        """Enqueues ``payload`` for every matching subscription; returns how many."""
        delivered = 0
        subscription_type = self._schema.subscription_type
        if subscription_type is None:
            return 0
        # Subscribers that sent the same document (parsed once, so the same AST) and the
        # same variables get the same body: it is built once per publish.
        bodies: dict[tuple[int, str], dict[str, Any]] = {}
        sub_fields = self._by_mutation.get(mutation_field, ())
        if not any(self._subs.get(name) for name in sub_fields):
            return 0
        size = payload_bytes(payload)
        if self.payload_limit and size > self.payload_limit:
            # AppSync drops such a message for every subscriber and tells nobody
            # (aws/aws-appsync-community#33); the mutation itself succeeded.
            self.oversized += 1
            log.warning("%s published %d bytes, over the %d-byte subscription payload "
                        "quota: delivered to no subscriber", mutation_field, size, self.payload_limit)
            return 0
        for sub_field in sub_fields:
            field_def = subscription_type.fields[sub_field]
            for sub in list(self._subs.get(sub_field, {}).values()):
                if not matches(sub.arguments, payload):
                    continue
                if sub.filter is not None and not filter_matches(sub.filter, payload):
                    continue
                body = bodies.get(sub.body_key)
                if body is None:
                    body = bodies[sub.body_key] = self._body(payload, sub, field_def.type,
                                                     subscription_type.name)
                if sub.outbox.offer({"type": "data", "id": sub.sub_id, "payload": body}):
                    sub.delivered += 1
                    delivered += 1
                else:
                    log.warning("subscriber %s is too slow: event dropped", sub.sub_id)
        return delivered

    def _body(self, payload: Any, sub: ActiveSubscription, field_type: Any,
              type_name: str) -> dict[str, Any]:
        """A data frame's payload: the subscriber's selection of the mutation's result."""
        value, errors = project(self._schema, payload, sub.field_nodes, field_type, type_name,
                                sub.fragments, sub.variables)
        # Under the field's name even if the subscriber aliased it, as publicly reported of
        # AppSync (aws-amplify/amplify-js#3213, graphql/graphql-js#1846).
        data: dict[str, Any] | None = {sub.field_nodes[0].name.value: value}
        if value is None and isinstance(field_type, GraphQLNonNull):
            data = None
        body: dict[str, Any] = {"data": data}
        if errors:
            body["errors"] = errors
        return body
