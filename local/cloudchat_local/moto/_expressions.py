"""Update and condition expressions parsed once.

**What moto does.** For every ``UpdateItem`` moto parses the ``UpdateExpression`` twice (to
validate, then to apply), deep-copies its AST through ``copy``'s generic (pickle protocol)
path, and runs ten AST traversers that each rebuild a dict of bound methods for every node.
For every ``TransactWriteItems`` each ``ConditionExpression`` is parsed three times.

**What we change.** (1) ``UpdateExpressionParser.make`` is cached per expression string
(moto never modifies the AST; errors are raised again, not cached). (2) Each traverser
class's node types are taken once, and (5) which node a traverser processes, and with which
of its methods, once per pair of classes (:func:`fast_traversal`). (3) AST nodes get a
``__deepcopy__`` that builds what the generic path builds. (4) While one
``TransactWriteItems`` request is handled, the parse of a given (expression, names, values)
is reused, with the names and values it found.

**Why.** Speed only: the same trees, the same answers and the same errors (tests compare
them with moto's own parses).

**Upstream.** No issue found. Pull request text ready to send: "DynamoDB: parse each
expression once per request — lru_cache UpdateExpressionParser.make, compute each
traverser's node types per class, give ast Node a __deepcopy__ and reuse a
TransactWriteItems condition's parse across validation and execution."
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

from cloudchat_local.moto._patching import replace


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
    replace(UpdateExpressionParser, "make", classmethod(make))



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
    replace(DepthFirstTraverser, "nodes_to_be_processed", nodes_to_be_processed)


def fast_traversal() -> None:
    """moto's ``DepthFirstTraverser`` visits every node of an update's AST once per traverser
    (eight per update) and asks, at each node, ``isinstance(node, Node)`` and
    ``isinstance(node, <the traverser's node types>)``: checks against abstract base classes,
    each going through ``ABCMeta.__instancecheck__``; ``process`` then builds a new dict of
    bound methods to find the node's processor. Those answers depend only on the node's class
    and the traverser's class (moto registers no virtual subclasses; every processing map is a
    literal dict, :func:`cache_traversed_node_types`), so they are taken once per pair of
    classes. The walk, its order, its hooks and every processor's result are moto's."""
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node  # type: ignore[attr-defined]

    if getattr(DepthFirstTraverser.traverse_node_recursively, "_cloudchat_fast", False):
        return
    original_walk = DepthFirstTraverser.traverse_node_recursively
    original_process = DepthFirstTraverser.process
    is_node: dict[type, bool] = {}
    processed: dict[tuple[type, type], bool] = {}
    processor_of: dict[tuple[type, type], Any] = {}

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        kind = type(node)
        node_like = is_node.get(kind)
        if node_like is None:
            node_like = is_node[kind] = isinstance(node, Node)
        if not node_like:
            return node
        parent_node = node.parent
        if node.children is not None:
            for i, child_node in enumerate(node.children):
                self.pre_processing_of_child(node, i)
                self.traverse_node_recursively(child_node, i)
        pair = (type(self), kind)
        wanted = processed.get(pair)
        if wanted is None:
            wanted = processed[pair] = isinstance(node, self.nodes_to_be_processed())
        if wanted:
            node = self.process(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    def process(self: Any, node: Any) -> Any:
        pair = (type(self), type(node))
        function = processor_of.get(pair)
        if function is None:  # the first key of the literal map the node is an instance of
            found = next((fn for cls, fn in self._processing_map().items()
                          if isinstance(node, cls)), None)
            if found is None:
                return None
            if getattr(found, "__self__", None) is not self:
                return found(node)  # (not a method of this traverser: nothing to keep)
            function = processor_of[pair] = found.__func__
        return function(self, node)

    traverse_node_recursively._cloudchat_fast = True  # type: ignore[attr-defined]
    traverse_node_recursively._cloudchat_original = original_walk  # type: ignore[attr-defined]
    process._cloudchat_original = original_process  # type: ignore[attr-defined]
    replace(DepthFirstTraverser, "traverse_node_recursively", traverse_node_recursively)
    replace(DepthFirstTraverser, "process", process)


def fast_ast_copies() -> None:
    """moto's update-expression validator deep-copies the expression's AST for every update,
    through ``copy``'s generic path (``__reduce_ex__``, ``copyreg``, ``_reconstruct``). AST
    nodes are plain objects (no slots, no copy or pickle hooks), so a node's copy is a new
    instance of its class whose ``__dict__`` is a deep copy of the original's: what the
    generic path builds, without going through pickling's protocol."""
    from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]

    if "__deepcopy__" in vars(Node):
        return

    atoms = (str, int, bool, type(None))

    def __deepcopy__(self: Any, memo: dict[int, Any]) -> Any:
        # What copy.deepcopy(self.__dict__, memo) builds, without its generic dispatch for
        # the common parts: immutable atoms kept, a list (``children``) copied item by item
        # (memoized, as copy memoizes lists), anything else through copy.deepcopy.
        cls = self.__class__
        new = cls.__new__(cls)
        memo[id(self)] = new
        state = {}
        for key, value in self.__dict__.items():
            kind = type(value)
            if kind in atoms:
                state[key] = value
            elif kind is list:
                done = memo.get(id(value))
                if done is None:
                    done = memo[id(value)] = []
                    done.extend(v if type(v) in atoms else copy.deepcopy(v, memo) for v in value)
                    memo.setdefault(id(memo), []).append(value)  # (copy's keep-alive)
                state[key] = done
            else:
                state[key] = copy.deepcopy(value, memo)
        if state:
            new.__dict__.update(state)
        return new

    replace(Node, "__deepcopy__", __deepcopy__)


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
    replace(ConditionExpressionParser, "parse", parse)
    replace(DynamoHandler, "transact_write_items", transact_write_items)



def validate_whole_update_once() -> None:
    """moto's update-expression validator checks "at most one SET/ADD/REMOVE clause"
    (``ActionCountValidator``) and "no two actions on overlapping paths"
    (``OverlappingPathsValidator``) at *every* ``UpdateExpression`` node of the AST, and the
    parser nests one such node per action: each check collects the clauses or actions of its
    whole subtree (and compares every pair of paths), so an update of n actions costs O(n^2)
    collections and O(n^3) path comparisons. The rate log's 122-action update
    (``cloudchat.store``) took ~430 ms of moto CPU; DynamoDB itself takes such expressions
    (up to 4 KB) in stride. Every subtree's clauses and actions are part of the root's, so a
    subtree violates a rule only if the whole expression does: the checks run once, on the
    root. Valid expressions get the same answers; an invalid one gets the same error type,
    naming the first offending pair in the whole expression rather than in the innermost
    subtree (tests compare both with moto's own answers)."""
    from moto.dynamodb.parsing.ast_nodes import UpdateExpression  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.validators import (
        ActionCountValidator,
        OverlappingPathsValidator,
    )

    for cls in (ActionCountValidator, OverlappingPathsValidator):
        if getattr(cls.traverse, "_cloudchat_root_only", False):
            continue

        def traverse(self: Any, node: Any) -> Any:
            return self.process(node) if isinstance(node, UpdateExpression) else node

        traverse._cloudchat_root_only = True  # type: ignore[attr-defined]
        replace(cls, "traverse", traverse)
