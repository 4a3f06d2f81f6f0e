"""Items built in linear time, with moto's own sizes.

**What moto does.** ``LimitedSizeDict.__setitem__`` sums the size of the *whole* item on
every attribute it inserts, so building an ``Item`` of n attributes costs O(n²) sizes, and
``DynamoType.size`` of a map or list rebuilds every nested value to size it. Every write
and every read of a stored item builds ``Item`` objects, so wide items (a conversation's
member map) dominated the moto process's time.

**What we change.** ``Item.__init__`` keeps a running total (the same sums, insert by insert,
so ``ItemSizeTooLarge`` is raised at the same attribute); ``DynamoType.size`` computes the
same numbers without rebuilding nested values.

**Why.** Speed only: every answer is moto's (tests compare sizes and refusals with moto's own
code).

**Upstream.** No issue found in getmoto/moto. Pull request text ready to send: "DynamoDB:
build Items in linear time — ``Item.__init__`` keeps a running size instead of re-summing
the whole ``LimitedSizeDict`` per attribute, and ``DynamoType.size`` sizes nested values
without constructing new DynamoType copies; sizes and ItemSizeTooLarge are unchanged."
"""

from __future__ import annotations

from typing import Any

from cloudchat_local.moto._patching import replace

#: moto's limit on an item's size (it checks against this, not DynamoDB's 400 KB).
_MOTO_ITEM_SIZE_LIMIT = 405000


def linear_item_size() -> None:
    """moto's ``LimitedSizeDict.__setitem__`` sums the size of the *whole* item on every
    attribute it inserts, so building an ``Item`` of n attributes is O(n²) sizes (and
    ``DynamoType.size`` of a map or list rebuilds every nested value to size it). Here:

    * ``Item.__init__`` keeps a running total while it inserts: the same sums moto computes,
      insert by insert, so ``ItemSizeTooLarge`` is raised at the same attribute;
    * ``DynamoType.size`` computes the same numbers without rebuilding nested values (any
      value that is not a plain ``DynamoType`` goes through moto's own code).
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    if getattr(Item.__init__, "_cloudchat_linear", False):
        return
    original_size = DynamoType.size

    def copy_size(value: Any) -> int:
        """``DynamoType(value).size()``: moto sizes map members through such copies."""
        if type(value) is not DynamoType:
            return int(original_size(DynamoType(value)))
        return value_size(value.type, value.value, copied=True)

    def value_size(kind: str, value: Any, *, copied: bool) -> int:
        # The branches of moto's DynamoType.size, in its order.
        if kind == "N":
            return len(str(value))
        if kind in ("SS", "NS", "BS"):
            return sum(value_size(kind[0], v, copied=False) for v in value)
        if kind == "L":
            if copied:  # the copy holds a copy of each element
                return sum(copy_size(v) for v in value)
            return sum(v.size() if type(v) is not DynamoType
                       else value_size(v.type, v.value, copied=False) for v in value)
        if kind == "M":
            return sum(bytesize(k) + copy_size(v) for k, v in value.items())
        if isinstance(value, bool):
            return 1
        return int(bytesize(value))

    def size(self: Any) -> int:
        return value_size(self.type, self.value, copied=False)

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        total = 0
        for key, value in attrs.items():
            typed = DynamoType(value)
            # moto: size of what is in the dict (keys, then values) + this key and value
            total += bytesize(key) + typed.size()
            if total > _MOTO_ITEM_SIZE_LIMIT:
                raise ItemSizeTooLarge
            dict.__setitem__(self.attrs, key, typed)

    __init__._cloudchat_linear = True  # type: ignore[attr-defined]
    __init__._cloudchat_original = Item.__init__  # type: ignore[attr-defined]
    size._cloudchat_original = original_size  # type: ignore[attr-defined]
    replace(DynamoType, "size", size)
    replace(Item, "__init__", __init__)

