"""Eventually consistent global secondary indexes for moto (applied by
:func:`cloudchat_local.moto.gsi_lag`).

On AWS a GSI is updated asynchronously: "changes to the table data are propagated to the
global secondary indexes within a fraction of a second, under normal conditions", and a
query on a GSI may not see a write that just succeeded; ``ConsistentRead`` is refused on
GSIs. moto updates its indexes synchronously (an index query reads the table itself), so
code that reads its own writes through a GSI passes locally and fails on AWS.

With a lag of ``L`` seconds, a Query or Scan on a *global* secondary index answers from the
table as it was ``L`` seconds ago:

* every item write (``Table.put_item``, ``Table.delete_item``, the backend's in-place
  ``update_item``; transactions, batch writes and PartiQL go through these) records, per
  item key, the image the item had *before* the write and when the write happened; records
  older than ``L`` are dropped;
* an index query at time ``now`` runs moto's own query over a view of the table in which
  every key written after ``now - L`` has its image as of ``now - L`` (the image before its
  earliest write after that instant; absent if it did not exist then).

Base-table reads (GetItem, BatchGetItem, TransactGetItems, table Query/Scan) stay current,
and local secondary indexes too. A cancelled transaction needs no record of its rollback:
before the write the image was the old one, and after it the rollback restored it. The
records are not part of the saved moto state (they would be older than ``L`` on restart).
moto itself refuses ``ConsistentRead=True`` on a GSI, as DynamoDB does.

**Upstream.** No getmoto/moto issue asks for it (moto's GSIs are deliberately synchronous).
Pull request text ready to send: "DynamoDB: optional GSI propagation delay
(``MOTO_DYNAMODB_GSI_LAG_SECONDS``) — index queries and scans answer from the table as it was
that long ago, so code that reads its own writes through a GSI fails in tests as it can on AWS
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Writes)."
"""

from __future__ import annotations

import copy
import functools
import inspect
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from cloudchat_local.moto._patching import LOCK, replace

_Key = tuple[Any, Any]


class _History:
    """Per table: the pre-write images of items written within the lag, oldest first."""

    def __init__(self) -> None:
        self.by_key: dict[_Key, deque[tuple[float, Any]]] = {}
        self.order: deque[tuple[float, _Key]] = deque()

    def record(self, key: _Key, at: float, old: Any) -> None:
        self.by_key.setdefault(key, deque()).append((at, old))
        self.order.append((at, key))

    def prune(self, horizon: float) -> None:
        """Drops the records of writes at or before ``horizon`` (never needed again)."""
        while self.order and self.order[0][0] <= horizon:
            _, key = self.order.popleft()
            images = self.by_key[key]
            images.popleft()
            if not images:
                del self.by_key[key]

    def as_of(self) -> list[tuple[_Key, Any]]:
        """After :meth:`prune`: each written key's image before its earliest kept write."""
        return [(key, images[0][1]) for key, images in self.by_key.items()]


class _State:
    installed = False
    lag = 0.0
    clock: Callable[[], float] = time.monotonic
    tables: weakref.WeakKeyDictionary[Any, _History] = weakref.WeakKeyDictionary()


def configure(seconds: float, clock: Callable[[], float] | None = None) -> None:
    """Sets the lag (0 turns it off) and the clock; forgets every record. Installs the
    hooks on first use with a lag > 0."""
    if seconds < 0:
        raise ValueError("the GSI lag must be >= 0 seconds")
    with LOCK:
        if seconds > 0:
            _install()
        _State.lag = float(seconds)
        _State.clock = clock or time.monotonic
        _State.tables = weakref.WeakKeyDictionary()


def lag_seconds() -> float:
    return _State.lag


def _history(table: Any) -> _History:
    found = _State.tables.get(table)
    if found is None:
        found = _State.tables[table] = _History()
    return found


def _record(table: Any, key: _Key, old: Any) -> None:
    now = _State.clock()
    history = _history(table)
    history.prune(now - _State.lag)
    history.record(key, now, old)


def _install() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if _State.installed:
        return

    original_put = Table.put_item
    original_delete = Table.delete_item
    original_update = DynamoDBBackend.update_item
    original_query = Table.query
    original_scan = Table.scan
    query_index = inspect.signature(original_query).parameters
    scan_index = inspect.signature(original_scan).parameters

    def key_of(table: Any, attrs: dict[str, Any]) -> _Key | None:
        if table.hash_key_attr not in attrs:
            return None
        if table.range_key_attr is None:
            return DynamoType(attrs[table.hash_key_attr]), None
        if table.range_key_attr not in attrs:
            return None
        return DynamoType(attrs[table.hash_key_attr]), DynamoType(attrs[table.range_key_attr])

    def current(table: Any, key: _Key) -> Any:
        h, r = key
        if r is None:
            return table.items.get(h)
        return table.items.get(h, {}).get(r)

    @functools.wraps(original_put)
    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if _State.lag <= 0:
            return original_put(self, item_attrs, *args, **kwargs)
        with LOCK:
            key = key_of(self, item_attrs)
            old = current(self, key) if key is not None else None  # replaced, not changed
            result = original_put(self, item_attrs, *args, **kwargs)
            if key is not None:
                _record(self, key, old)
            return result

    @functools.wraps(original_delete)
    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        if _State.lag <= 0:
            return original_delete(self, hash_key, range_key)
        with LOCK:
            old = original_delete(self, hash_key, range_key)
            if old is not None:
                _record(self, (hash_key, range_key if self.range_key_attr else None), old)
            return old

    @functools.wraps(original_update)
    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any,
                    **kwargs: Any) -> Any:
        if _State.lag <= 0:
            return original_update(self, table_name, key, *args, **kwargs)
        with LOCK:
            table = self.tables.get(table_name)
            at = key_of(table, key) if table is not None and isinstance(key, dict) else None
            old = copy.deepcopy(current(table, at)) if at is not None else None  # changed in place
            result = original_update(self, table_name, key, *args, **kwargs)
            if at is not None:
                _record(table, at, old)
            return result

    def lagged(original: Callable[..., Any], names: Any) -> Callable[..., Any]:
        positions = [n for n in names if n != "self"]

        @functools.wraps(original)
        def read(self: Any, *args: Any, **kwargs: Any) -> Any:
            if _State.lag <= 0:
                return original(self, *args, **kwargs)
            index_name = kwargs.get("index_name")
            if index_name is None and len(args) > positions.index("index_name"):
                index_name = args[positions.index("index_name")]
            if index_name is None or index_name not in {i.name for i in self.global_indexes or []}:
                return original(self, *args, **kwargs)
            with LOCK:
                history = _State.tables.get(self)
                if history is not None:
                    history.prune(_State.clock() - _State.lag)
                if history is None or not history.by_key:
                    return original(self, *args, **kwargs)
                real = self.items
                self.items = _view(self, real, history.as_of())
                try:
                    return original(self, *args, **kwargs)
                finally:
                    self.items = real

        read._cloudchat_original = original  # type: ignore[attr-defined]
        return read

    put_item._cloudchat_original = original_put  # type: ignore[attr-defined]
    delete_item._cloudchat_original = original_delete  # type: ignore[attr-defined]
    update_item._cloudchat_original = original_update  # type: ignore[attr-defined]
    replace(Table, "put_item", put_item)
    replace(Table, "delete_item", delete_item)
    replace(DynamoDBBackend, "update_item", update_item)
    replace(Table, "query", lagged(original_query, query_index))
    replace(Table, "scan", lagged(original_scan, scan_index))
    _State.installed = True


def _view(table: Any, items: Any, past: list[tuple[_Key, Any]]) -> Any:
    """``table.items`` with each written key's past image (a shallow copy: the items
    themselves are shared, and only read while the lock is held)."""
    view = copy.copy(items)  # a defaultdict(dict), as moto keeps it
    copied: set[Any] = set()
    for (h, r), old in past:
        if table.range_key_attr is None:
            if old is None:
                view.pop(h, None)
            else:
                view[h] = old
            continue
        if h not in copied:
            view[h] = dict(view.get(h, {}))
            copied.add(h)
        if old is None:
            view[h].pop(r, None)
        else:
            view[h][r] = old
    return view
