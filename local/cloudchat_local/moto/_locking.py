"""Serialization of moto's DynamoDB backend, and item-level rollback of transactions.

**What moto does.** ``DynamoDBBackend`` is not thread-safe: ``transact_write_items`` checks
conditions and writes item by item, and rolls a failed transaction back by restoring a deep
copy of every touched *table*. With concurrent callers (moto server is threaded) one
transaction's rollback can erase another's commit, and conditional writes interleave. The
copy also makes each transaction cost O(table size).

**What we change.** Every public method of ``DynamoDBBackend`` runs under one lock
(:data:`._patching.LOCK`), which gives DynamoDB's isolation (a transaction is atomic and
isolated; conditional writes are checked and applied as one step). Under that lock it is
enough to snapshot the touched *items* before a transaction and put them back if it fails:
tables are no longer deep-copied. :func:`item_size_counts_the_result` (applied with it):
moto's ``LimitedSizeDict.__setitem__`` adds a value's size to the item's current size
*including the value it replaces*, so an update replacing a large attribute is refused near
half of the limit; DynamoDB counts the item as the update leaves it
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-items).

**Why.** The local stack and the integration tests send concurrently; without the lock a
conversation's sequence numbers can be lost (tests/integration/test_moto_patches.py shows
it against unpatched moto).

**Upstream.** No getmoto/moto issue covers thread safety of the DynamoDB backend (the closest,
https://github.com/getmoto/moto/issues/4779, is about two actions on one item). Pull request
text ready to send: "DynamoDB: make TransactWriteItems isolated and O(items) — roll back a
failed transaction by restoring the items it touched instead of deep-copying every table, and
guard the backend with an RLock so concurrent requests to moto server cannot interleave
condition checks and writes (DynamoDB transactions are serializable:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-isolation).
Also: ``LimitedSizeDict.__setitem__`` should not count the value being replaced."
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from cloudchat_local.moto._patching import LOCK, replace

_PATCHED = False


def serialize_dynamodb() -> None:
    """Idempotently wraps the public methods of moto's DynamoDB backend in one lock."""
    global _PATCHED
    with LOCK:
        if _PATCHED:
            return
        from moto.dynamodb.models import DynamoDBBackend

        replace(DynamoDBBackend, "transact_write_items",
                _item_rollback(DynamoDBBackend.transact_write_items))
        item_size_counts_the_result()
        for name, value in list(vars(DynamoDBBackend).items()):
            if name.startswith("_") or not callable(value):
                continue
            replace(DynamoDBBackend, name, _locked(value))
        _PATCHED = True


def item_size_counts_the_result() -> None:
    """moto's ``LimitedSizeDict.__setitem__`` adds a value's size to the item's current size
    *including the value it replaces*, so an update that replaces a large attribute (``SET
    bodies = list_append(bodies, :b)``) is refused near half of the limit. DynamoDB counts
    the item as the update leaves it (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Constraints.html#limits-items):
    here the replaced value is left out of the sum; an item past the limit is still refused.
    Applied by :func:`serialize_dynamodb`. Idempotent."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    original = LimitedSizeDict.__setitem__
    if getattr(original, "_cloudchat_once", False):
        return
    replace(LimitedSizeDict, "__setitem__", result_counting(original))


def result_counting(original: Callable[..., None]) -> Callable[..., None]:
    """``LimitedSizeDict.__setitem__`` sizing the item without the value it replaces (the
    function :func:`item_size_counts_the_result` installs, built from moto's ``original``)."""

    def __setitem__(self: Any, key: str, value: Any) -> None:
        if key not in self:
            original(self, key, value)
            return
        old = dict.pop(self, key)
        try:
            original(self, key, value)
        except BaseException:
            dict.__setitem__(self, key, old)
            raise

    __setitem__._cloudchat_once = True  # type: ignore[attr-defined]
    __setitem__._cloudchat_original = original  # type: ignore[attr-defined]
    return __setitem__


def _locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
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
