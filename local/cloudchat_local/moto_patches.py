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

:func:`fast_stream_records`: moto answers DynamoDB Streams ``GetRecords`` through its
generic, model-driven serializer, which walks every attribute value of every image against
the service model; in the local stack that was most of the moto process's time. The records
are already DynamoDB JSON, so they are dumped the way moto's DynamoDB responses are.
:func:`cache_backend_modules`: moto's request routing lists its package directory twice per
request. :func:`partition_queries`: moto's ``Query`` sorts the whole table on every call.

:func:`gsi_lag`: moto's global secondary indexes are always current; DynamoDB's are
eventually consistent. With a lag, index queries answer from the table as it was that many
seconds ago (see :mod:`cloudchat_local._gsi_lag`).
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
        item_size_counts_the_result()
        for name, value in list(vars(DynamoDBBackend).items()):
            if name.startswith("_") or not callable(value):
                continue
            setattr(DynamoDBBackend, name, _locked(value))
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

    def __setitem__(self: LimitedSizeDict, key: str, value: Any) -> None:
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
    LimitedSizeDict.__setitem__ = __setitem__  # type: ignore[method-assign]


def gsi_lag(seconds: float, clock: Callable[[], float] | None = None) -> None:
    """Global secondary index reads lag the table by ``seconds`` (0: moto's own, always
    current answers). ``clock`` (default ``time.monotonic``) is for tests. Resets what was
    recorded; raises RuntimeError on a moto other than the pinned one."""
    from cloudchat_local import _gsi_lag

    _gsi_lag.configure(seconds, clock)


def server_speedups() -> None:
    """The speed fixes the moto *server* process gets (each checked against moto's own
    answers in tests/local): fast GetRecords and item answers, partition-only queries, a
    routing table read once, items built in linear time, update expressions parsed once.
    Idempotent."""
    fast_stream_records()
    fast_dynamodb_responses()
    partition_queries()
    cache_backend_modules()
    linear_item_size()
    cache_update_expressions()
    cache_traversed_node_types()
    fast_ast_copies()
    parse_conditions_once_per_transaction()


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
    DynamoType.size = size  # type: ignore[method-assign]
    Item.__init__ = __init__  # type: ignore[method-assign]


def cache_update_expressions(maxsize: int = 1024) -> None:
    """moto parses an ``UpdateExpression`` into an AST on every use (twice per update: to
    validate the request, then to apply it). The AST depends on the string alone and is
    never modified by moto (its validator works on a deep copy), so it is parsed once per
    distinct string. Parse errors are not cached: they are raised again, as moto raises them."""
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,  # (the class moto's models and responses use)
    )

    if getattr(UpdateExpressionParser.make, "_cloudchat_cached", False):
        return
    original = UpdateExpressionParser.make.__func__

    @functools.lru_cache(maxsize=maxsize)
    def parse(expression: str) -> Any:
        return original(UpdateExpressionParser, expression)

    def make(cls: Any, expression_str: str) -> Any:
        if cls is not UpdateExpressionParser or not isinstance(expression_str, str):
            return original(cls, expression_str)
        return parse(expression_str)

    make._cloudchat_cached = True  # type: ignore[attr-defined]
    make._cloudchat_original = UpdateExpressionParser.__dict__["make"]  # type: ignore[attr-defined]
    UpdateExpressionParser.make = classmethod(make)


def fast_stream_records() -> None:
    """Idempotently makes moto's ``GetRecords`` dump its records as DynamoDB JSON directly
    (binary values base64, timestamps as epoch seconds, as AWS answers)."""
    from moto.dynamodb.models.utilities import dynamo_json_dump
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    if getattr(DynamoDBStreamsHandler.get_records, "_cloudchat_fast", False):
        return

    def get_records(self: Any) -> str:
        limit = self._get_param("Limit")
        result = self.backend.get_records(self._get_param("ShardIterator"),
                                          1000 if limit is None else limit)
        return str(dynamo_json_dump(result))

    get_records._cloudchat_fast = True  # type: ignore[attr-defined]
    DynamoDBStreamsHandler.get_records = get_records  # type: ignore[method-assign,assignment]


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
    Table.query = query  # type: ignore[method-assign]


_FAST_DYNAMODB_ACTIONS = frozenset({
    "GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem",
    "TransactWriteItems", "TransactGetItems", "BatchWriteItem",
})


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def fast_dynamodb_responses() -> None:
    """moto serializes every DynamoDB answer with its generic, model-driven serializer; the
    item operations' answers are already DynamoDB JSON (binary values as bytes), so they are
    dumped directly, as DynamoDB answers them (None members left out)."""
    from moto.dynamodb.models.utilities import dynamo_json_dump
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.serialized
    if getattr(original, "_cloudchat_fast", False):
        return

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if self._get_action() not in _FAST_DYNAMODB_ACTIONS or isinstance(result, Exception):
            return original(self, action_result)
        headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
        return 200, headers, dynamo_json_dump(_without_none(result))

    serialized._cloudchat_fast = True  # type: ignore[attr-defined]
    DynamoHandler.serialized = serialized  # type: ignore[method-assign]


def cache_backend_modules() -> None:
    """moto's server lists its package directory (``os.listdir`` plus an ``isdir`` per
    service, ~200) twice per request to route it; the list never changes while it runs."""
    import moto.backends as backends

    if isinstance(backends.list_of_moto_modules(), tuple):
        return  # already cached
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def cache_traversed_node_types() -> None:
    """moto's update-expression validator runs ten AST traversers per update; for every node
    each asks ``nodes_to_be_processed()``, which builds its ``_processing_map()`` (a new dict
    of bound methods) to take its keys. Those keys are node classes fixed per traverser class
    (every ``_processing_map`` in moto returns a literal dict), so they are taken once per
    class. Traversers that override ``nodes_to_be_processed`` keep their own."""
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser  # type: ignore[attr-defined]

    original = DepthFirstTraverser.nodes_to_be_processed
    if getattr(original, "_cloudchat_cached", False):
        return
    by_class: dict[type, tuple[type, ...]] = {}

    def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
        cls = type(self)
        keys = by_class.get(cls)
        if keys is None:
            keys = by_class[cls] = tuple(original(self))
        return keys

    nodes_to_be_processed._cloudchat_cached = True  # type: ignore[attr-defined]
    nodes_to_be_processed._cloudchat_original = original  # type: ignore[attr-defined]
    DepthFirstTraverser.nodes_to_be_processed = nodes_to_be_processed


def fast_ast_copies() -> None:
    """moto's update-expression validator deep-copies the expression's AST for every update,
    through ``copy``'s generic path (``__reduce_ex__``, ``copyreg``, ``_reconstruct``). AST
    nodes are plain objects (no slots, no copy or pickle hooks), so a node's copy is a new
    instance of its class whose ``__dict__`` is a deep copy of the original's: what the
    generic path builds, without going through pickling's protocol."""
    from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]

    if "__deepcopy__" in vars(Node):
        return

    def __deepcopy__(self: Any, memo: dict[int, Any]) -> Any:
        cls = self.__class__
        new = cls.__new__(cls)
        memo[id(self)] = new
        state = copy.deepcopy(self.__dict__, memo)
        if state:
            new.__dict__.update(state)
        return new

    Node.__deepcopy__ = __deepcopy__


_CONDITIONS = threading.local()


def parse_conditions_once_per_transaction() -> None:
    """moto parses each ``ConditionExpression`` of a ``TransactWriteItems`` three times: to
    validate the request, to check it against the current item, and again inside the
    ``Put``/``Update``/``Delete`` it then runs. While one ``TransactWriteItems`` request is
    handled, the parse of a given (expression, names, values) is kept and reused: the same
    condition tree (moto evaluates it without changing it), and the same names and values
    found (moto checks that every name and value given is used). Parse errors are raised
    each time, as moto raises them. Nothing is kept once the request is answered."""
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.responses import DynamoHandler

    original_parse = ConditionExpressionParser.parse
    if getattr(original_parse, "_cloudchat_memo", False):
        return
    original_handler = DynamoHandler.transact_write_items

    def parse(self: Any) -> Any:
        memo: dict[tuple[str, str, str], Any] | None = getattr(_CONDITIONS, "memo", None)
        if memo is None or not self.condition_expression:
            return original_parse(self)
        # (None and {} alike: a parse that succeeds with either never looked into it)
        key = (self.condition_expression, repr(self.expression_attribute_names or {}),
               repr(self.expression_attribute_values or {}))
        hit = memo.get(key)
        if hit is None:
            op = original_parse(self)
            memo[key] = (op, list(self.expr_attr_names_found), list(self.expr_attr_values_found))
            return op
        op, names, values = hit
        self.expr_attr_names_found.extend(names)
        self.expr_attr_values_found.extend(values)
        return op

    @functools.wraps(original_handler)
    def transact_write_items(self: Any) -> Any:
        _CONDITIONS.memo = {}
        try:
            return original_handler(self)
        finally:
            _CONDITIONS.memo = None

    parse._cloudchat_memo = True  # type: ignore[attr-defined]
    parse._cloudchat_original = original_parse  # type: ignore[attr-defined]
    transact_write_items._cloudchat_original = original_handler  # type: ignore[attr-defined]
    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]
    DynamoHandler.transact_write_items = transact_write_items  # type: ignore[method-assign]


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
