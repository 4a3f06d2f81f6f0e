"""Base-table queries read their partition (and sort-key range) only.

**What moto does.** ``Table.query`` gathers and sorts *every* item of the table
(``Table.all_items``) before keeping the partition asked for, then sorts and sizes every
item of the partition (for the 1 MB page limit) before it applies the sort-key condition.

**What we change.** For base-table queries (no index) moto's own ``query`` is given the
partition alone, narrowed by moto's own sort-key comparison when the key condition is on
the sort key alone; what it computes from there is unchanged.

**Why.** Each query cost O(table), so a local stack slowed down as it accumulated messages;
DynamoDB reads (and counts toward 1 MB) only the items the key condition selects.

**Upstream.** getmoto/moto has no issue for it (related: https://github.com/getmoto/moto/pull/7795,
the sort of query results). Pull request text ready to send: "DynamoDB: Query on the base
table reads only the requested partition — ``Table.query`` iterates ``self.items[hash_key]``
instead of sorting ``all_items()``, and applies the range-key condition before sizing items
for the 1 MB limit, as DynamoDB does (Query.Pagination: the limit applies to items read)."
"""

from __future__ import annotations

import functools
from typing import Any

from cloudchat_local.moto._patching import replace


def partition_queries() -> None:
    """moto's ``Query`` on a table gathers and sorts *every* item of the table
    (``Table.all_items``) before it keeps the partition asked for, so each query costs
    O(table) and slows down as a local stack accumulates messages. For base-table queries
    (no index) it is given the partition alone; what it computes from it is unchanged.

    Within the partition, moto then sorts every item and sizes each one (for the 1 MB page
    limit) before it applies the sort-key condition, so a ``begins_with(SK, "MEMBER#")`` in a
    conversation of 10,000 messages sizes 10,000 items. DynamoDB reads only the items the
    key condition selects (and counts only those toward 1 MB): the partition handed to moto
    is narrowed to them first, with moto's own comparison."""
    from moto.dynamodb.models.table import Table

    original = Table.query
    if getattr(original, "_cloudchat_partition", False):
        return

    @functools.wraps(original)
    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is not None or hash_key is None or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        range_comparison = args[0] if args else kwargs.get("range_comparison")
        range_objs = args[1] if len(args) > 1 else kwargs.get("range_objs")
        conditions = (args[11] if len(args) > 11 else kwargs.get("range_key_conditions")) or []
        on_sort_key_alone = all(c[0] == self.range_key_attr for c in conditions) and len(conditions) <= 1
        if range_comparison and on_sort_key_alone:
            partition = [item for item in partition if item.range_key is not None
                         and item.range_key.compare(range_comparison, range_objs)]
        self.all_items = lambda: partition  # shadows the method for this call only
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    query._cloudchat_partition = True  # type: ignore[attr-defined]
    replace(Table, "query", query)

