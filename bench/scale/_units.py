"""DynamoDB's capacity rules, from items as the API carries them (attribute-value maps).

* an item's size: attribute names and values, numbers at one byte per two significant
  digits plus one, 3 bytes plus 1 per element for lists and maps
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html);
* a write: 1 unit per started KB of the larger of the item before and after, at least 1 (a
  failed condition still costs the item as it is); in a transaction 2 per KB; a condition
  check in a transaction is a transactional read (2 per started 4 KB)
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html);
* a global secondary index entry is written when the item enters, leaves or changes in it,
  twice when its index key changes (delete and put)
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Writes);
  our indexes project ALL attributes, so an entry is the item's size;
* a read: 1 unit per started 4 KB, half for eventually consistent reads (every GSI read);
  GetItem and BatchGetItem round each item, Query rounds the sum of the items it read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

KB = 1024
READ_BLOCK = 4 * KB
ITEM_LIMIT = 400 * KB

Item = Mapping[str, Any]


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").split("e")[0].split("E")[0]
    significant = digits.strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """The size of one attribute value (``{"S": ...}``, ``{"M": {...}}``, ...), name aside."""
    (kind, raw), = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        return _number_size(str(raw))
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in raw)
    if kind == "NS":
        return sum(_number_size(str(n)) for n in raw)
    if kind == "BS":
        return sum(len(b) for b in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in raw.items())
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Item | None) -> int:
    """An item's size in bytes (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(v) for name, v in item.items())


def write_units(before: Item | None, after: Item | None, *, transactional: bool) -> int:
    units = max(1, math.ceil(max(item_size(before), item_size(after)) / KB))
    return 2 * units if transactional else units


def check_units(item: Item | None) -> int:
    """A condition check in a transaction: a transactional read of the item."""
    return 2 * max(1, math.ceil(item_size(item) / READ_BLOCK))


def index_write_units(before: Item | None, after: Item | None,
                      keys: tuple[str, ...]) -> int:
    """Write units of one global secondary index (projecting ALL) for one item's write."""
    def entry(item: Item | None) -> tuple[Any, ...] | None:
        if not item or any(k not in item for k in keys):
            return None
        return tuple(repr(item[k]) for k in keys)

    old, new = entry(before), entry(after)
    units = lambda item: max(1, math.ceil(item_size(item) / KB))  # noqa: E731
    if old is None and new is None:
        return 0
    if old is None:
        return units(after)
    if new is None:
        return units(before)
    if old != new:
        return units(before) + units(after)
    return units(after) if before != after else 0


def read_units(sizes: list[int], *, consistent: bool, summed: bool) -> float:
    """Read units of the items read by one request (``summed``: a Query's total)."""
    if summed:
        blocks = math.ceil(sum(sizes) / READ_BLOCK) if sizes else 1
    else:
        blocks = sum(max(1, math.ceil(s / READ_BLOCK)) for s in sizes)
    return float(blocks) if consistent else blocks / 2
