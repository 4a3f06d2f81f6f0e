"""Items built in linear time, with moto's own sizes.

**What moto does.** ``LimitedSizeDict.__setitem__`` sums the size of the *whole* item on
every attribute it inserts, so building an ``Item`` of n attributes costs O(n²) sizes, and
``DynamoType.size`` of a map or list rebuilds every nested value to size it. Every write
and every read of a stored item builds ``Item`` objects, so wide items (a conversation's
member map) dominated the moto process's time.

**What we change.** ``Item.__init__`` keeps a running total (the same sums, insert by insert,
so ``ItemSizeTooLarge`` is raised at the same attribute); ``DynamoType.size`` computes the
same numbers without rebuilding nested values; an update made only of top-level ``SET``
actions sizes the item once and keeps a running total across its actions
(:func:`running_update_sizes`: the rate log's 122-action update re-sized the whole item per
action).

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



def running_update_sizes() -> None:
    """moto sizes the *whole* item again for every attribute an ``UpdateExpression`` sets
    (``LimitedSizeDict.__setitem__``), so an update of n actions on an item of m attributes
    costs n x m sizes: the rate log's 122-action update re-sized its ~125 attributes 122
    times per write (a quarter of moto's CPU per sendMessage). Here, while one update whose
    actions are all ``SET`` of a top-level attribute runs (nothing else can change the item
    between two of its sets), the item's size is taken once and kept as a running total:
    each set adds the new pair and takes away the replaced one, and is refused exactly when
    moto's own sum would refuse it (counting the replaced value as moto does, or leaving it
    out when :func:`~cloudchat_local.moto._locking.item_size_counts_the_result` is applied).
    Any other update (nested paths, ADD, REMOVE, DELETE) goes through moto's code unchanged."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize
    from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
        Node,
        UpdateExpressionAddAction,
        UpdateExpressionDeleteAction,
        UpdateExpressionPath,
        UpdateExpressionRemoveAction,
        UpdateExpressionSetAction,
    )
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor

    original_execute = UpdateExpressionExecutor.execute
    if getattr(original_execute, "_cloudchat_running", False):
        return
    other_actions = (UpdateExpressionAddAction, UpdateExpressionRemoveAction,
                     UpdateExpressionDeleteAction)

    def pair_size(key: str, value: Any) -> int:
        # moto's terms: a key's bytes, a DynamoType's size, anything else as its str()
        return int(bytesize(key)) + int(value.size() if type(value) is DynamoType
                                        else bytesize(str(value)))

    def counts_the_result() -> bool:
        return getattr(vars(LimitedSizeDict).get("__setitem__"), "_cloudchat_once", False)

    class _RunningSize(LimitedSizeDict):
        """An item's attributes while one update's top-level SETs run."""

        _cloudchat_total: int

        def __setitem__(self, key: str, value: Any) -> None:
            total = self._cloudchat_total
            old = pair_size(key, dict.__getitem__(self, key)) if key in self else 0
            new = pair_size(key, value)
            if (total - old if counts_the_result() else total) + new > _MOTO_ITEM_SIZE_LIMIT:
                raise ItemSizeTooLarge
            dict.__setitem__(self, key, value)
            self._cloudchat_total = total - old + new

    def top_level_sets_only(root: Any) -> bool:
        stack = [root]
        while stack:
            node = stack.pop()
            if isinstance(node, other_actions):
                return False
            if isinstance(node, UpdateExpressionSetAction):
                path = node.children[0]
                if not isinstance(path, UpdateExpressionPath) or len(path.children) != 1:
                    return False
                continue  # (its value is not a place the update writes)
            stack.extend(c for c in (getattr(node, "children", None) or ()) if isinstance(c, Node))
        return True

    def execute(self: Any, node: Any = None) -> None:
        attrs = getattr(self.item, "attrs", None)
        if (node is not None or type(attrs) is not LimitedSizeDict
                or not top_level_sets_only(self.update_ast)):
            original_execute(self, node)
            return
        running: Any = attrs  # (a LimitedSizeDict, as _RunningSize while the update runs)
        running._cloudchat_total = sum(pair_size(k, v) for k, v in dict.items(running))
        running.__class__ = _RunningSize
        try:
            original_execute(self, None)
        finally:
            running.__class__ = LimitedSizeDict
            del running._cloudchat_total

    execute._cloudchat_running = True  # type: ignore[attr-defined]
    execute._cloudchat_original = original_execute  # type: ignore[attr-defined]
    replace(UpdateExpressionExecutor, "execute", execute)
