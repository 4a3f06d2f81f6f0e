"""Fixes for moto gaps that would make the local stack (and tests) lie about AWS.

moto's DynamoDB backend is not thread-safe: ``transact_write_items`` checks conditions and
writes item by item, and rolls a failed transaction back by restoring a copy of the whole
table, so with concurrent callers one transaction's rollback can erase another's commit,
and conditional writes can interleave. Real DynamoDB is atomic and isolated per
transaction. :func:`serialize_dynamodb` runs every DynamoDB backend operation under one
lock, which gives the same isolation.

moto also deep-copies every touched *table* before each transaction (to roll back), which
makes a send cost O(table size); under the lock it is enough to snapshot the touched items,
so the patch does that instead.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()
_PATCHED = False


def serialize_dynamodb() -> None:
    """Idempotently wraps the public methods of moto's DynamoDB backend in one lock."""
    global _PATCHED
    with _LOCK:
        if _PATCHED:
            return
        from moto.dynamodb.models import DynamoDBBackend

        DynamoDBBackend.transact_write_items = _item_rollback(  # type: ignore[method-assign]
            DynamoDBBackend.transact_write_items)
        for name, value in list(vars(DynamoDBBackend).items()):
            if name.startswith("_") or not callable(value):
                continue
            setattr(DynamoDBBackend, name, _locked(value))
        _PATCHED = True


def _locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return fn(*args, **kwargs)

    return wrapper


class _CopyWithoutTables:
    """Stands in for the ``copy`` module inside moto's DynamoDB models during a transaction:
    tables are not copied (items are snapshotted instead), everything else is."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(obj: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)


def _item_rollback(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        import moto.dynamodb.models as models
        from moto.dynamodb.models.dynamo_type import DynamoType

        snapshot: list[tuple[Any, Any, Any, Any]] = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            attrs = op.get("Item") or op.get("Key") or {}
            if table is None or table.hash_key_attr not in attrs:
                continue
            h = DynamoType(attrs[table.hash_key_attr])
            r = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr in attrs else None
            if table.has_range_key and r is None:
                continue
            old = table.get_item(h, r)
            snapshot.append((table, h, r, copy.deepcopy(old) if old is not None else None))
        real_copy = models.copy
        models.copy = _CopyWithoutTables()  # type: ignore[assignment]
        try:
            return original(self, transact_items)
        except Exception:
            for table, h, r, old in reversed(snapshot):
                if r is None:
                    if old is None:
                        table.items.pop(h, None)
                    else:
                        table.items[h] = old
                elif old is None:
                    table.items.get(h, {}).pop(r, None)
                else:
                    table.items[h][r] = old
            raise
        finally:
            models.copy = real_copy

    return transact_write_items
