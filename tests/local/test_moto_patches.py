"""cloudchat_local.moto's patches (one private module each) compared with unpatched moto.

_queries.partition_queries: base-table queries see only their partition, and answer
exactly what moto answers without the patch (conditions, order, pages, filters, indexes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cloudchat_local.moto._expressions import (
    cache_traversed_node_types,
    cache_update_expressions,
    fast_ast_copies,
    fast_traversal,
    parse_conditions_once_per_transaction,
    validate_whole_update_once,
)
from cloudchat_local.moto._item_size import linear_item_size, running_update_sizes
from cloudchat_local.moto._queries import partition_queries

REPO = Path(__file__).resolve().parents[2]

QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": "A"}}},
    {"KeyConditionExpression": "PK = :p AND begins_with(SK, :s)",
     "ExpressionAttributeValues": {":p": {"S": "A"}, ":s": {"S": "MSG#"}}},
    {"KeyConditionExpression": "PK = :p AND SK BETWEEN :a AND :b", "ScanIndexForward": False,
     "ExpressionAttributeValues": {":p": {"S": "B"}, ":a": {"S": "MSG#003"}, ":b": {"S": "MSG#007"}}},
    {"KeyConditionExpression": "PK = :p AND SK > :a", "Limit": 3,
     "ExpressionAttributeValues": {":p": {"S": "A"}, ":a": {"S": "MEMBER#"}}},
    {"KeyConditionExpression": "PK = :p", "FilterExpression": "n > :n", "ConsistentRead": True,
     "ExpressionAttributeValues": {":p": {"S": "B"}, ":n": {"N": "4"}}},
    {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": "none"}}},
    {"IndexName": "GSI", "KeyConditionExpression": "G = :g",
     "ExpressionAttributeValues": {":g": {"S": "g1"}}},
]


def _answers() -> list[list[dict[str, Any]]]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "G")],
        GlobalSecondaryIndexes=[{"IndexName": "GSI", "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
    )
    for pk in ("A", "B", "C"):
        for i in range(10):
            ddb.put_item(TableName="t", Item={"PK": {"S": pk}, "SK": {"S": f"MSG#{i:03d}"},
                                              "n": {"N": str(i)}, "G": {"S": f"g{i % 2}"}})
        ddb.put_item(TableName="t", Item={"PK": {"S": pk}, "SK": {"S": "MEMBER#x"}})
    out = []
    for q in QUERIES:
        pages, start = [], None
        while True:
            resp = ddb.query(TableName="t", **q, **({"ExclusiveStartKey": start} if start else {}))
            pages.append({"Items": resp["Items"], "Last": resp.get("LastEvaluatedKey")})
            start = resp.get("LastEvaluatedKey")
            if not start:
                break
        out.append(pages)
    return out


def test_partition_queries_answer_what_moto_answers() -> None:
    with mock_aws():
        before = _answers()
    partition_queries()
    partition_queries()  # idempotent
    with mock_aws():
        after = _answers()
    assert after == before
    assert sum(len(p["Items"]) for p in before[0]) == 11  # (the fixture is not empty)


def _keyed_table() -> Any:
    """A client and table "t" keyed PK (hash) + SK (range), inside a mock_aws block."""
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK")],
    )
    return ddb


def test_base_table_queries_do_not_gather_the_whole_table(monkeypatch: Any) -> None:
    from moto.dynamodb.models.table import Table

    partition_queries()

    def whole_table(self: Any) -> Any:
        raise AssertionError("a base-table query gathered every item of the table")

    with mock_aws():
        ddb = _keyed_table()
        for i in range(3):
            ddb.put_item(TableName="t", Item={"PK": {"S": "A"}, "SK": {"S": f"S{i}"}})
        monkeypatch.setattr(Table, "all_items", whole_table)
        got = ddb.query(TableName="t", KeyConditionExpression="PK = :p",
                        ExpressionAttributeValues={":p": {"S": "A"}})
    assert [i["SK"]["S"] for i in got["Items"]] == ["S0", "S1", "S2"]


def test_a_sort_key_condition_reads_only_the_items_it_selects(monkeypatch: Any) -> None:
    """A begins_with query in a partition of many messages sizes only the matching items
    (DynamoDB reads only those); moto sized every item of the partition."""
    from moto.dynamodb.models.dynamo_type import Item

    partition_queries()
    sized: list[str] = []
    original = Item.size

    def counting(self: Any) -> int:
        sized.append(self.range_key.value if self.range_key is not None else "")
        return int(original(self))

    with mock_aws():
        ddb = _keyed_table()
        for i in range(200):
            ddb.put_item(TableName="t", Item={"PK": {"S": "C"}, "SK": {"S": f"MSG#{i:05d}"}, "b": {"S": "x" * 100}})
        for m in ("a", "b"):
            ddb.put_item(TableName="t", Item={"PK": {"S": "C"}, "SK": {"S": f"MEMBER#{m}"}})
        monkeypatch.setattr(Item, "size", counting)
        got = ddb.query(TableName="t", KeyConditionExpression="PK = :p AND begins_with(SK, :m)",
                        ExpressionAttributeValues={":p": {"S": "C"}, ":m": {"S": "MEMBER#"}})
    assert [i["SK"]["S"] for i in got["Items"]] == ["MEMBER#a", "MEMBER#b"]
    assert sized and all(key.startswith("MEMBER#") for key in sized), sized[:5]


# --------------------------------------------------------------------------- item sizes

SIZED_VALUES: list[dict[str, Any]] = [
    {"S": "héllo"}, {"S": ""}, {"N": "12.50"}, {"N": "-1E+3"}, {"B": b"\x00\xff"}, {"BOOL": True},
    {"BOOL": False}, {"NULL": True}, {"SS": ["a", "bé"]}, {"NS": ["1", "2.5"]}, {"BS": [b"\x01", b"\x02\x03"]},
    {"L": []}, {"M": {}}, {"L": [{"S": "x"}, {"N": "7"}, {"L": [{"B": b"yy"}, {"M": {"k": {"S": "v"}}}]}]},
    {"M": {"bodies": {"L": [{"M": {"ct": {"B": b"c" * 90}, "nonce": {"B": b"n" * 12}, "kv": {"N": "1"}}}]},
           "nested": {"M": {"deeper": {"M": {"ss": {"SS": ["p", "q"]}, "t": {"BOOL": True}}}}},
           "empty": {"NULL": True}, "n": {"N": "3"}}},
]


def _moto_sizes() -> list[Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    out: list[Any] = [DynamoType(v).size() for v in SIZED_VALUES]
    # Items at moto's limit, just over it, and a big item made of many attributes.
    for attrs in ({"a": {"S": "x" * 404999}}, {"a": {"S": "x" * 405000}},
                  {f"k{i:03d}": {"S": "y" * 2000} for i in range(300)},
                  {"PK": {"S": "p"}, **{f"m{i}": v for i, v in enumerate(SIZED_VALUES)}}):
        try:
            item = Item(DynamoType({"S": "p"}), None, attrs)
            out.append(("ok", item.size(), {k: v.to_json() for k, v in item.attrs.items()}))
        except Exception as exc:
            out.append((type(exc).__name__, str(exc)))
    return out


def _unpatched_sizes(monkeypatch: Any) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    monkeypatch.setattr(DynamoType, "size", DynamoType.size._cloudchat_original)
    monkeypatch.setattr(Item, "__init__", Item.__init__._cloudchat_original)


def _size_operations() -> list[Any]:
    """What a client sees for items at, over and growing past the size limit."""
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="s", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}])
    out: list[Any] = []

    def run(fn: Any, **kw: Any) -> None:
        try:
            resp = fn(**kw)
            out.append({k: v for k, v in resp.items() if k != "ResponseMetadata"})
        except ddb.exceptions.ClientError as exc:
            out.append((exc.response["Error"]["Code"], exc.response["Error"]["Message"]))

    run(ddb.put_item, TableName="s", Item={"PK": {"S": "a"}, "v": {"S": "x" * 404990}})
    run(ddb.put_item, TableName="s", Item={"PK": {"S": "b"}, "v": {"S": "x" * 405100}})
    run(ddb.put_item, TableName="s", Item={"PK": {"S": "c"}, **{f"k{i}": {"S": "z" * 1500} for i in range(300)}})
    run(ddb.put_item, TableName="s", Item={"PK": {"S": "d"}, "m": SIZED_VALUES[-1], "l": SIZED_VALUES[-2]})
    run(ddb.update_item, TableName="s", Key={"PK": {"S": "d"}}, UpdateExpression="SET big = :b",
        ExpressionAttributeValues={":b": {"S": "q" * 405000}})
    run(ddb.update_item, TableName="s", Key={"PK": {"S": "d"}}, UpdateExpression="SET small = :b",
        ExpressionAttributeValues={":b": {"S": "q" * 1000}}, ReturnValues="ALL_NEW")
    run(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": "s", "Item": {"PK": {"S": "e"}, "v": {"S": "x" * 405100}}}}])
    run(ddb.get_item, TableName="s", Key={"PK": {"S": "a"}})
    run(ddb.scan, TableName="s")
    return out


def test_item_sizes_are_moto_sizes(monkeypatch: Any) -> None:
    """linear_item_size: the same sizes, the same items, ItemSizeTooLarge at the same point
    (moto's limit, 405,000 bytes) as moto's own code, in the model and through the API."""
    linear_item_size()
    linear_item_size()  # idempotent
    patched = _moto_sizes()
    with mock_aws():
        patched_api = _size_operations()
    with monkeypatch.context() as m:
        _unpatched_sizes(m)
        moto = _moto_sizes()
        with mock_aws():
            moto_api = _size_operations()
    assert patched == moto
    assert patched_api == moto_api
    assert [r[0] for r in moto[len(SIZED_VALUES):]] == ["ok", "ItemSizeTooLarge", "ItemSizeTooLarge", "ok"]
    assert moto_api[1][0] == "ValidationException" and "size has exceeded" in moto_api[1][1]


def test_items_are_built_in_linear_time() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    linear_item_size()
    calls = 0
    size = DynamoType.size

    def counted(self: Any) -> int:
        nonlocal calls
        calls += 1
        return int(size(self))

    DynamoType.size = counted  # type: ignore[method-assign]
    try:
        Item(DynamoType({"S": "p"}), None, {f"k{i}": {"S": "v"} for i in range(200)})
    finally:
        DynamoType.size = size  # type: ignore[method-assign]
    assert calls == 200  # moto's own: 200 * 201 / 2


# --------------------------------------------------------------------------- update expressions

UPDATES: list[dict[str, Any]] = [
    {"UpdateExpression": "SET n = :one, s = :s", "ExpressionAttributeValues": {":one": {"N": "1"}, ":s": {"S": "x"}}},
    {"UpdateExpression": "SET n = n + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}},
    {"UpdateExpression": "SET n = n + :one", "ExpressionAttributeValues": {":one": {"N": "5"}}},
    {"UpdateExpression": "SET c = if_not_exists(c, :z) + :one",
     "ExpressionAttributeValues": {":z": {"N": "0"}, ":one": {"N": "1"}}},
    {"UpdateExpression": "SET l = list_append(if_not_exists(l, :e), :v)",
     "ExpressionAttributeValues": {":e": {"L": []}, ":v": {"L": [{"S": "a"}]}}},
    {"UpdateExpression": "SET l = list_append(if_not_exists(l, :e), :v)",
     "ExpressionAttributeValues": {":e": {"L": []}, ":v": {"L": [{"S": "b"}]}}},
    {"UpdateExpression": "SET #m = :m", "ExpressionAttributeNames": {"#m": "map"},
     "ExpressionAttributeValues": {":m": {"M": {"a": {"M": {"b": {"N": "1"}}}}}}},
    {"UpdateExpression": "SET #m.a.b = :v, #m.c = :v", "ExpressionAttributeNames": {"#m": "map"},
     "ExpressionAttributeValues": {":v": {"N": "2"}}},
    {"UpdateExpression": "ADD sends :one, tags :t SET expiresAt = :exp",
     "ExpressionAttributeValues": {":one": {"N": "1"}, ":t": {"SS": ["x", "y"]}, ":exp": {"N": "9"}}},
    {"UpdateExpression": "ADD sends :one, tags :t SET expiresAt = :exp",
     "ExpressionAttributeValues": {":one": {"N": "1"}, ":t": {"SS": ["z"]}, ":exp": {"N": "10"}}},
    {"UpdateExpression": "DELETE tags :t", "ExpressionAttributeValues": {":t": {"SS": ["x"]}}},
    {"UpdateExpression": "REMOVE s, l[0]"},
    {"UpdateExpression": "SET n = :one", "ExpressionAttributeValues": {":one": {"N": "1"}},
     "ConditionExpression": "n > :big", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"},
    {"UpdateExpression": "SET n = :one, n = :one", "ExpressionAttributeValues": {":one": {"N": "1"}}},
    {"UpdateExpression": "SET PK = :one", "ExpressionAttributeValues": {":one": {"S": "1"}}},
    {"UpdateExpression": "SET s = s + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}},
    {"UpdateExpression": "SET x = :missing", "ExpressionAttributeValues": {":one": {"N": "1"}}},
    {"UpdateExpression": "SET name = :one", "ExpressionAttributeValues": {":one": {"N": "1"}}},
    {"UpdateExpression": "SET = :one", "ExpressionAttributeValues": {":one": {"N": "1"}}},
    {"UpdateExpression": "SET a = :one REMOVE", "ExpressionAttributeValues": {":one": {"N": "1"}}},
    {"UpdateExpression": "SET n = :one", "ExpressionAttributeValues": {":one": {"N": "1"}, ":unused": {"N": "2"}}},
    {"UpdateExpression": "SET n = n + :one", "ExpressionAttributeValues": {":one": {"N": "1"}},
     "ReturnValues": "UPDATED_OLD"},
]


def _update_operations() -> list[Any]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="u", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}])
    out: list[Any] = []
    for key in ("a", "b"):
        for update in UPDATES:
            kw = {"ReturnValues": "ALL_NEW", **update}
            if "ConditionExpression" in kw:
                kw["ExpressionAttributeValues"] = {**kw["ExpressionAttributeValues"], ":big": {"N": "1000"}}
            try:
                resp = ddb.update_item(TableName="u", Key={"PK": {"S": key}}, **kw)
                out.append({k: v for k, v in resp.items() if k != "ResponseMetadata"})
            except ddb.exceptions.ClientError as exc:
                out.append((exc.response["Error"]["Code"], exc.response["Error"]["Message"]))
        try:  # the same expressions inside a transaction
            ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": "u", "Key": {"PK": {"S": key}}, **UPDATES[1]}},
                {"Update": {"TableName": "u", "Key": {"PK": {"S": key + "2"}}, **UPDATES[8]}},
            ])
            out.append("committed")
        except ddb.exceptions.ClientError as exc:
            out.append((exc.response["Error"]["Code"], exc.response["Error"]["Message"]))
    out.append(ddb.scan(TableName="u")["Items"])
    return out


def test_cached_update_expressions_answer_what_moto_answers(monkeypatch: Any) -> None:
    """cache_update_expressions: every update (valid, invalid, failing, in a transaction)
    answers what moto answers when it parses every time, and the cached ASTs are not
    modified by use."""
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    cache_update_expressions()
    cache_update_expressions()  # idempotent
    with mock_aws():
        cached = _update_operations()
    ast = UpdateExpressionParser.make("SET n = n + :one")
    assert UpdateExpressionParser.make("SET n = n + :one") is ast  # cached
    shape = repr(ast), [repr(c) for c in ast.children]
    with mock_aws():
        again = _update_operations()
    assert (repr(ast), [repr(c) for c in ast.children]) == shape
    with monkeypatch.context() as m:
        m.setattr(UpdateExpressionParser, "make", UpdateExpressionParser.make._cloudchat_original)
        with mock_aws():
            moto = _update_operations()
    assert cached == moto
    assert again == moto
    assert sum(isinstance(r, tuple) for r in moto) >= 8  # (errors were exercised)


def test_traversers_answer_what_moto_answers(monkeypatch: Any) -> None:
    """cache_traversed_node_types: the same battery of updates answers the same, and every
    traverser class in moto's parsing package has a fixed set of node types."""
    import inspect

    import moto.dynamodb.parsing.executors as executors
    import moto.dynamodb.parsing.validators as validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser

    cache_traversed_node_types()
    cache_traversed_node_types()  # idempotent
    with mock_aws():
        cached = _update_operations()
    with monkeypatch.context() as m:
        m.setattr(DepthFirstTraverser, "nodes_to_be_processed",
                  DepthFirstTraverser.nodes_to_be_processed._cloudchat_original)
        with mock_aws():
            moto = _update_operations()
    assert cached == moto
    traversers = [c for module in (validators, executors) for _, c in inspect.getmembers(module, inspect.isclass)
                  if issubclass(c, DepthFirstTraverser) and c is not DepthFirstTraverser]
    assert len(traversers) >= 8
    for cls in traversers:
        source = inspect.getsource(cls._processing_map)
        assert "return {" in source and source.count("return") == 1, cls  # a literal map


def _same_tree(a: Any, b: Any, seen: dict[int, Any]) -> None:
    """b is a faithful deep copy of a: same classes and attributes, no shared nodes, and
    parent links that point at the copies of the original parents."""
    from moto.dynamodb.parsing.ast_nodes import Node

    if isinstance(a, Node):
        assert type(b) is type(a) and b is not a
        if id(a) in seen:
            assert seen[id(a)] is b
            return
        seen[id(a)] = b
        assert vars(a).keys() == vars(b).keys()
        for key, value in vars(a).items():
            if key == "parent":
                assert vars(b)[key] is (None if value is None else seen[id(value)])
            else:
                _same_tree(value, vars(b)[key], seen)
    elif isinstance(a, list | tuple):
        assert type(b) is type(a) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same_tree(x, y, seen)
    else:
        assert a == b


def test_ast_copies_are_what_deepcopy_makes(monkeypatch: Any) -> None:
    """fast_ast_copies: every AST of the battery copies to the same tree as through copy's
    generic path, and the battery of updates answers the same as unpatched moto."""
    import copy

    from moto.dynamodb.parsing.ast_nodes import Node
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    fast_ast_copies()
    fast_ast_copies()  # idempotent
    for update in [*UPDATES, _shift_update(12)]:
        try:
            ast = UpdateExpressionParser.make(update["UpdateExpression"])
        except Exception:  # (syntax errors are in the battery on purpose)
            continue
        fast = copy.deepcopy(ast)
        with monkeypatch.context() as m:
            m.delattr(Node, "__deepcopy__")
            generic = copy.deepcopy(ast)
        _same_tree(ast, fast, {})
        _same_tree(ast, generic, {})
    with mock_aws():
        patched = _update_operations()
    with monkeypatch.context() as m:
        m.delattr(Node, "__deepcopy__")
        with mock_aws():
            moto = _update_operations()
    assert patched == moto


TRANSACTIONS: list[list[dict[str, Any]]] = [
    [{"Put": {"TableName": "c", "Item": {"PK": {"S": "a"}, "n": {"N": "1"}}, "ConditionExpression": "attribute_not_exists(PK)"}},
     {"Put": {"TableName": "c", "Item": {"PK": {"S": "b"}, "n": {"N": "1"}}, "ConditionExpression": "attribute_not_exists(PK)"}}],
    [{"Update": {"TableName": "c", "Key": {"PK": {"S": "a"}}, "ConditionExpression": "attribute_exists(PK) AND n = :one",
                 "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":one": {"N": "1"}, ":two": {"N": "2"}}}},
     {"Update": {"TableName": "c", "Key": {"PK": {"S": "b"}}, "ConditionExpression": "attribute_exists(PK) AND n = :one",
                 "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":one": {"N": "1"}, ":two": {"N": "2"}}}}],
    [{"Update": {"TableName": "c", "Key": {"PK": {"S": "a"}}, "ConditionExpression": "n = :one",
                 "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":one": {"N": "1"}, ":two": {"N": "3"}},
                 "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
     {"Put": {"TableName": "c", "Item": {"PK": {"S": "x"}}, "ConditionExpression": "attribute_not_exists(PK)"}}],
    [{"ConditionCheck": {"TableName": "c", "Key": {"PK": {"S": "b"}}, "ConditionExpression": "#n BETWEEN :lo AND :hi",
                         "ExpressionAttributeNames": {"#n": "n"}, "ExpressionAttributeValues": {":lo": {"N": "1"}, ":hi": {"N": "5"}}}},
     {"Delete": {"TableName": "c", "Key": {"PK": {"S": "a"}}, "ConditionExpression": "#n IN (:a, :b)",
                 "ExpressionAttributeNames": {"#n": "n"}, "ExpressionAttributeValues": {":a": {"N": "2"}, ":b": {"N": "9"}}}}],
    [{"Put": {"TableName": "c", "Item": {"PK": {"S": "y"}}, "ConditionExpression": "attribute_not_exists(PK)",
              "ExpressionAttributeValues": {":unused": {"N": "1"}}}}],
    [{"Put": {"TableName": "c", "Item": {"PK": {"S": "y"}}, "ConditionExpression": "attribute_not_exists(#p)",
              "ExpressionAttributeNames": {"#p": "PK", "#unused": "x"}}}],
    [{"Put": {"TableName": "c", "Item": {"PK": {"S": "y"}}, "ConditionExpression": "attribute_not_exists(PK) AND"}}],
    [{"Put": {"TableName": "c", "Item": {"PK": {"S": "y"}}, "ConditionExpression": "size(PK) > :n",
              "ExpressionAttributeValues": {":n": {"N": "0"}}}},
     {"Update": {"TableName": "c", "Key": {"PK": {"S": "b"}}, "ConditionExpression": "n <> :n",
                 "UpdateExpression": "ADD n :n", "ExpressionAttributeValues": {":n": {"N": "0"}}}}],
    [{"Put": {"TableName": "c", "Item": {"PK": {"S": "z"}}, "ConditionExpression": "attribute_not_exists(PK)"}},
     {"Put": {"TableName": "c", "Item": {"PK": {"S": "z"}}, "ConditionExpression": "attribute_not_exists(PK)"}}],
]


def _transactions() -> list[Any]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="c", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}])
    out: list[Any] = []
    for _ in range(2):
        for items in TRANSACTIONS:
            try:
                ddb.transact_write_items(TransactItems=items)
                out.append("committed")
            except ddb.exceptions.ClientError as exc:
                out.append((exc.response["Error"]["Code"], exc.response["Error"]["Message"],
                            exc.response.get("CancellationReasons")))
            except ValueError as exc:  # in-process moto lets a syntax error through as is
                out.append((type(exc).__name__, str(exc)))
        out.append(sorted(ddb.scan(TableName="c")["Items"], key=lambda i: i["PK"]["S"]))
    return out


def test_conditions_parsed_once_per_transaction_answer_what_moto_answers(monkeypatch: Any) -> None:
    """parse_conditions_once_per_transaction: transactions that commit, fail a condition
    (with and without ALL_OLD), leave a name or value unused, have a syntax error or touch
    one item twice answer as unpatched moto does, with fewer parses; nothing is kept after
    a request."""
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.responses import DynamoHandler

    import cloudchat_local.moto._expressions as patches

    parse_conditions_once_per_transaction()
    parse_conditions_once_per_transaction()  # idempotent
    lex = ConditionExpressionParser._lex_condition_expression
    lexed = 0

    def counted(self: Any) -> Any:  # one lexing per real parse
        nonlocal lexed
        lexed += 1
        return lex(self)

    monkeypatch.setattr(ConditionExpressionParser, "_lex_condition_expression", counted)
    with mock_aws():
        patched = _transactions()
    patched_parses, lexed = lexed, 0
    assert getattr(patches._CONDITIONS, "memo", None) is None
    with monkeypatch.context() as m:
        m.setattr(ConditionExpressionParser, "parse", ConditionExpressionParser.parse._cloudchat_original)
        m.setattr(DynamoHandler, "transact_write_items", DynamoHandler.transact_write_items._cloudchat_original)
        with mock_aws():
            moto = _transactions()
    assert patched == moto
    assert sum(r == "committed" for r in moto) >= 4 and sum(isinstance(r, tuple) for r in moto) >= 8
    assert 0 < patched_parses < lexed / 2


# --------------------------------------------------------------------------- GSI lag


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _gsi_table(ddb: Any, name: str = "g", range_key: bool = True) -> None:
    keys = [{"AttributeName": "PK", "KeyType": "HASH"}]
    if range_key:
        keys.append({"AttributeName": "SK", "KeyType": "RANGE"})
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=keys,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"}
                              for n in (["PK", "SK", "G", "H"] if range_key else ["PK", "G", "H"])],
        GlobalSecondaryIndexes=[
            {"IndexName": "GSI", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"},
                           {"AttributeName": "H", "KeyType": "RANGE"}]}],
    )


def _item(pk: str, g: str, h: str, v: str, sk: str | None = "S") -> dict[str, Any]:
    item = {"PK": {"S": pk}, "G": {"S": g}, "H": {"S": h}, "v": {"S": v}}
    if sk is not None:
        item["SK"] = {"S": sk}
    return item


def _gsi_writes(ddb: Any, clock: _Clock | None, range_key: bool = True) -> list[Any]:
    """Writes of every kind, some of them 10 s later than the rest, and what the index,
    the table and a scan of the index answer after each step."""
    sk = "S" if range_key else None
    key = (lambda pk: {"PK": {"S": pk}, **({"SK": {"S": "S"}} if range_key else {})})
    out: list[Any] = []

    def look() -> None:
        pages, start = [], None
        while True:  # paged, to check the positions too
            resp = ddb.query(TableName="g", IndexName="GSI", KeyConditionExpression="G = :g",
                             ExpressionAttributeValues={":g": {"S": "g"}}, Limit=2,
                             **({"ExclusiveStartKey": start} if start else {}))
            pages.append((resp["Items"], resp.get("LastEvaluatedKey")))
            start = resp.get("LastEvaluatedKey")
            if not start:
                break
        out.append(pages)
        out.append(sorted(json.dumps(i, sort_keys=True) for i in ddb.scan(TableName="g", IndexName="GSI")["Items"]))
        out.append([ddb.get_item(TableName="g", Key=key(p), ConsistentRead=True).get("Item")
                    for p in ("a", "b", "c", "d", "e")])

    for p, h in (("a", "1"), ("b", "2"), ("c", "3")):
        ddb.put_item(TableName="g", Item=_item(p, "g", h, "old", sk))
    if clock:
        clock.now += 10
    look()
    ddb.update_item(TableName="g", Key=key("a"), UpdateExpression="SET v = :v, H = :h",
                    ExpressionAttributeValues={":v": {"S": "new"}, ":h": {"S": "9"}})
    ddb.delete_item(TableName="g", Key=key("b"))
    ddb.put_item(TableName="g", Item=_item("d", "g", "4", "new", sk))
    ddb.update_item(TableName="g", Key=key("e"), UpdateExpression="SET G = :g, H = :h, v = :v",
                    ExpressionAttributeValues={":g": {"S": "g"}, ":h": {"S": "5"},
                                               ":v": {"S": "new"}})
    ddb.batch_write_item(RequestItems={"g": [{"PutRequest": {"Item": _item("c", "g", "3", "new", sk)}}]})
    try:  # cancelled: changes nothing, now or in the past
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "g", "Item": _item("a", "g", "0", "cancelled", sk)}},
            {"ConditionCheck": {"TableName": "g", "Key": key("zz"),
                                "ConditionExpression": "attribute_exists(PK)"}}])
    except ddb.exceptions.TransactionCanceledException:
        out.append("cancelled")
    look()
    return out


def _with_lag(seconds: float, clock: _Clock | None, range_key: bool = True) -> list[Any]:
    from cloudchat_local.moto import gsi_lag, serialize_dynamodb

    serialize_dynamodb()
    gsi_lag(seconds, clock)
    try:
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            _gsi_table(ddb, range_key=range_key)
            return _gsi_writes(ddb, clock, range_key)
    finally:
        gsi_lag(0)


def test_gsi_lag_zero_answers_what_moto_answers() -> None:
    from cloudchat_local.moto import _gsi_lag

    for range_key in (True, False):
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            _gsi_table(ddb, range_key=range_key)
            moto = _gsi_writes(ddb, None, range_key)
        _with_lag(5, _Clock(), range_key)  # installs the hooks
        assert _gsi_lag._State.installed
        assert _with_lag(0, _Clock(), range_key) == moto
        # with a lag shorter than every gap between writes and reads, too
        assert _with_lag(1e-9, None, range_key) == moto
        assert "cancelled" in moto


def test_gsi_reads_answer_from_the_table_as_it_was_lag_seconds_ago() -> None:
    from cloudchat_local.moto import gsi_lag, serialize_dynamodb

    for range_key in (True, False):
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            _gsi_table(ddb, range_key=range_key)
            moto = _gsi_writes(ddb, None, range_key)
        clock = _Clock()
        serialize_dynamodb()
        gsi_lag(5, clock)
        try:
            with mock_aws():
                ddb = boto3.client("dynamodb", region_name="us-east-1")
                _gsi_table(ddb, range_key=range_key)
                lagged = _gsi_writes(ddb, clock, range_key)
                clock.now += 6  # the lag has passed: the index is current
                caught_up = ddb.query(TableName="g", IndexName="GSI",
                                      KeyConditionExpression="G = :g",
                                      ExpressionAttributeValues={":g": {"S": "g"}})["Items"]
        finally:
            gsi_lag(0)
        before, after = moto[:3], moto[4:]
        assert lagged[:3] == before  # nothing written within the lag yet
        # 10 s later, within a lag of 5 s of the second batch of writes: the index still
        # answers with the first state (a's old image, b not deleted, d and e absent) ...
        assert lagged[4] == before[0]
        assert lagged[5] == before[1]
        # ... while the table itself is current,
        assert lagged[6] == after[2]
        assert lagged[6] != before[2]
        # and once the lag has passed the index answers what moto answers.
        assert caught_up == [i for items, _ in after[0] for i in items]
        assert [i["v"]["S"] for i in caught_up] == ["new", "new", "new", "new"]


def test_gsi_lag_measures_from_each_write() -> None:
    """An index read sees each write once it is ``lag`` seconds old, not before."""
    from cloudchat_local.moto import gsi_lag, serialize_dynamodb

    clock = _Clock()
    serialize_dynamodb()
    gsi_lag(0.5, clock)
    try:
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            _gsi_table(ddb)

            def seen() -> list[str]:
                return [i["PK"]["S"] for i in ddb.query(
                    TableName="g", IndexName="GSI", KeyConditionExpression="G = :g",
                    ExpressionAttributeValues={":g": {"S": "g"}})["Items"]]

            ddb.put_item(TableName="g", Item=_item("a", "g", "1", "x"))
            clock.now += 0.3
            ddb.put_item(TableName="g", Item=_item("b", "g", "2", "x"))
            assert seen() == []
            clock.now += 0.2
            assert seen() == ["a"]
            clock.now += 0.29
            assert seen() == ["a"]
            clock.now += 0.02
            assert seen() == ["a", "b"]
            # a base-table query is never behind
            assert ddb.query(TableName="g", KeyConditionExpression="PK = :p",
                             ExpressionAttributeValues={":p": {"S": "b"}})["Count"] == 1
    finally:
        gsi_lag(0)


def test_consistent_reads_on_a_gsi_are_refused_as_dynamodb_refuses_them() -> None:
    from cloudchat_local.moto import gsi_lag, serialize_dynamodb

    serialize_dynamodb()
    for lag in (0.0, 5.0):
        gsi_lag(lag, _Clock())
        try:
            with mock_aws():
                ddb = boto3.client("dynamodb", region_name="us-east-1")
                _gsi_table(ddb)
                ddb.put_item(TableName="g", Item=_item("a", "g", "1", "x"))
                with pytest.raises(ddb.exceptions.ClientError) as query:
                    ddb.query(TableName="g", IndexName="GSI", ConsistentRead=True,
                              KeyConditionExpression="G = :g",
                              ExpressionAttributeValues={":g": {"S": "g"}})
                with pytest.raises(ddb.exceptions.ClientError) as scan:
                    ddb.scan(TableName="g", IndexName="GSI", ConsistentRead=True)
                for refused in (query, scan):
                    assert refused.value.response["Error"] == {
                        "Code": "ValidationException",
                        "Message": "Consistent reads are not supported on global secondary indexes"}
        finally:
            gsi_lag(0)


def test_gsi_lag_refuses_another_moto_version(monkeypatch: Any) -> None:
    import moto

    from cloudchat_local.moto import _gsi_lag, gsi_lag

    monkeypatch.setattr(moto, "__version__", "9.9.9")
    with pytest.raises(RuntimeError, match=r"moto 9\.9\.9"):
        gsi_lag(1)
    assert _gsi_lag.lag_seconds() == 0.0
    monkeypatch.undo()
    gsi_lag(0)
    from cloudchat_local.moto import MOTO_VERSION

    assert f"=={MOTO_VERSION}" in (REPO / "requirements-dev.txt").read_text()


def test_the_moto_server_process_lags_its_gsis_when_asked(tmp_path: Path) -> None:
    """``MotoProcess.start(gsi_lag_s=...)`` (what ``dev --gsi-lag`` passes on): over HTTP,
    a write reaches the table at once and the index only after the lag."""
    import time

    from cloudchat_local._moto_server import MotoProcess

    moto = MotoProcess.start(log_path=tmp_path / "moto.log", autosave_interval=0, gsi_lag_s=1.0)
    try:
        ddb = boto3.client("dynamodb", endpoint_url=moto.endpoint, region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
        _gsi_table(ddb)
        ddb.put_item(TableName="g", Item=_item("a", "g", "1", "x"))
        written = time.monotonic()

        def indexed() -> int:
            return int(ddb.query(TableName="g", IndexName="GSI", KeyConditionExpression="G = :g",
                                 ExpressionAttributeValues={":g": {"S": "g"}})["Count"])

        assert indexed() == 0
        assert ddb.get_item(TableName="g", Key={"PK": {"S": "a"}, "SK": {"S": "S"}},
                            ConsistentRead=True)["Item"]["v"] == {"S": "x"}
        while not indexed():
            assert time.monotonic() - written < 10, "the index never caught up"
            time.sleep(0.05)
        assert time.monotonic() - written >= 1.0
    finally:
        moto.stop()


def test_dev_takes_a_gsi_lag_and_refuses_a_negative_one(capsys: Any) -> None:
    from cloudchat_local import dev

    assert dev._parser().parse_args([]).gsi_lag == dev.DEFAULT_GSI_LAG_S > 0
    assert dev._parser().parse_args(["--gsi-lag", "0.5"]).gsi_lag == 0.5
    assert dev.main(["--gsi-lag", "-1"]) == 2
    assert "--gsi-lag must be >= 0" in capsys.readouterr().err


def _rate_log_update(slots: int) -> str:
    """The shape of cloudchat.store's rate-log update: one SET action per slot."""
    shifts = [f"t{i} = if_not_exists(t{i + 1}, :z)" for i in range(slots - 1)]
    return "SET " + ", ".join([*shifts, f"t{slots - 1} = :z", "slots = :z", "expiresAt = :z"])


#: Updates that break the two whole-expression rules once each (so the first offending pair
#: is the only one), and valid ones, long and short.
VALIDATED: list[dict[str, Any]] = [
    {"UpdateExpression": "SET a = :one, b = :one, c = :one, a = :one"},
    {"UpdateExpression": "SET a = :one, b = :one, a.b = :one"},
    {"UpdateExpression": "SET m.x = :one, b = :one, c = :one, m = :one"},
    {"UpdateExpression": "SET a = :one SET b = :one"},
    {"UpdateExpression": "ADD a :one, b :one ADD c :one"},
    {"UpdateExpression": "REMOVE a REMOVE b SET c = :one"},
    {"UpdateExpression": "SET a = :one, b = :one REMOVE c ADD d :one DELETE e :s"},
    {"UpdateExpression": "SET a = :one REMOVE a"},
    {"UpdateExpression": _rate_log_update(120).replace(":z", ":one")},
    {"UpdateExpression": _rate_log_update(120).replace(":z", ":one") + ", t5 = :one"},
]


def _validated_answers() -> list[Any]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="v", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}])
    out: list[Any] = []
    for i, update in enumerate(VALIDATED):
        values = {":one": {"N": "1"}}
        if ":s" in update["UpdateExpression"]:
            values[":s"] = {"SS": ["x"]}
        try:
            ddb.update_item(TableName="v", Key={"PK": {"S": f"k{i}"}}, ExpressionAttributeValues=values,
                            ReturnValues="ALL_NEW", **update)
            out.append("ok")
        except ddb.exceptions.ClientError as exc:
            out.append((exc.response["Error"]["Code"], exc.response["Error"]["Message"]))
    out.append(sorted(ddb.scan(TableName="v")["Items"], key=lambda item: item["PK"]["S"]))
    return out


def test_whole_update_validated_once_answers_what_moto_answers(monkeypatch: Any) -> None:
    """validate_whole_update_once: the clause-count and overlapping-path rules run once per
    update instead of once per AST node; every update (each rule broken once, valid long and
    short ones) answers exactly what unpatched moto answers, and the rate log's 122-action
    update is checked once instead of ~120 times."""
    from moto.dynamodb.parsing.validators import ActionCountValidator, OverlappingPathsValidator

    validate_whole_update_once()
    validate_whole_update_once()  # idempotent
    checks: list[int] = []
    original_check = OverlappingPathsValidator.check_for_overlapping_paths

    def counted(self: Any, node: Any) -> Any:
        checks.append(1)
        return original_check(self, node)

    with monkeypatch.context() as m:
        m.setattr(OverlappingPathsValidator, "check_for_overlapping_paths", counted)
        with mock_aws():
            patched = _validated_answers()
        patched_checks = len(checks)
        checks.clear()
        for cls in (ActionCountValidator, OverlappingPathsValidator):
            m.delattr(cls, "traverse")  # (moto's classes inherit DepthFirstTraverser's)
        with mock_aws():
            moto = _validated_answers()
        moto_checks = len(checks)
    assert patched == moto
    assert sum(isinstance(r, tuple) for r in moto) == 8  # each broken rule was refused
    assert len(moto[-1]) == 2  # the two valid ones were written
    assert patched_checks <= len(VALIDATED)  # once per update (fewer when a clause count fails)
    assert moto_checks > 240  # per AST node: ~120 for each long update


# --------------------------------------------------------------------------- running update sizes

def _shift_update(n: int) -> dict[str, Any]:
    """The rate log's shape: n top-level SETs, each taking the next attribute's value."""
    shifts = [f"t{i} = if_not_exists(t{i + 1}, :z)" for i in range(n - 1)]
    return {"UpdateExpression": "SET " + ", ".join([*shifts, f"t{n - 1} = :now", "slots = :n"]),
            "ExpressionAttributeValues": {":z": {"N": "0"}, ":now": {"N": "1700000000000"},
                                          ":n": {"N": str(n)}}}


def _running_size_answers() -> list[Any]:
    """Updates that the running total serves (top-level SETs only), near and past moto's
    limit, and ones it leaves to moto (nested, ADD, REMOVE); every answer and the table after."""
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="r", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}])
    big = {f"k{i:03d}": {"S": "y" * 2000} for i in range(200)}  # ~400,800 bytes
    ddb.put_item(TableName="r", Item={"PK": {"S": "full"}, **big})
    ddb.put_item(TableName="r", Item={"PK": {"S": "log"}, **{f"t{i}": {"N": str(i)} for i in range(120)}})
    ddb.put_item(TableName="r", Item={"PK": {"S": "m"}, "map": {"M": {"a": {"S": "x"}}}, "n": {"N": "1"}})
    out: list[Any] = []

    def run(key: str, **kw: Any) -> None:
        try:
            resp = ddb.update_item(TableName="r", Key={"PK": {"S": key}}, ReturnValues="ALL_NEW", **kw)
            out.append({k: v for k, v in resp.items() if k != "ResponseMetadata"})
        except ddb.exceptions.ClientError as exc:
            out.append((exc.response["Error"]["Code"], exc.response["Error"]["Message"]))

    y = {"S": "z" * 2000}
    run("log", **_shift_update(120))
    run("log", **_shift_update(120))
    run("fresh", **_shift_update(122))
    run("full", UpdateExpression="SET k000 = :v", ExpressionAttributeValues={":v": y})  # replaces
    # past the limit only if the replaced value is counted (moto's sums refuse it)
    run("full", UpdateExpression="SET k002 = :s", ExpressionAttributeValues={":s": {"S": "q" * 5000}})
    run("full", UpdateExpression="SET k001 = :v, extra = :s",
        ExpressionAttributeValues={":v": {"S": "w" * 1000}, ":s": {"S": "e" * 3500}})
    run("full", UpdateExpression="SET a1 = :s, a2 = :s, a3 = :s",  # refused at the 1st, 2nd or 3rd
        ExpressionAttributeValues={":s": {"S": "q" * 1900}})
    run("full", UpdateExpression="SET k002 = :s", ExpressionAttributeValues={":s": {"S": "q" * 6000}})
    run("m", UpdateExpression="SET #m.b = :s, n = :s",  # nested: moto's own code
        ExpressionAttributeNames={"#m": "map"}, ExpressionAttributeValues={":s": {"S": "v"}})
    run("m", UpdateExpression="SET n = :s ADD c :one REMOVE gone",
        ExpressionAttributeValues={":s": {"S": "v"}, ":one": {"N": "1"}})
    try:
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "r", "Key": {"PK": {"S": "log"}}, **_shift_update(120)}},
            {"Update": {"TableName": "r", "Key": {"PK": {"S": "full"}},
                        "UpdateExpression": "SET k003 = :s",
                        "ExpressionAttributeValues": {":s": {"S": "q" * 9000}}}},
        ])
        out.append("committed")
    except ddb.exceptions.ClientError as exc:
        out.append((exc.response["Error"]["Code"], exc.response["Error"].get("Message")))
    out.append(sorted(ddb.scan(TableName="r")["Items"], key=lambda i: i["PK"]["S"]))
    return out


@pytest.mark.parametrize("result_counting", [False, True], ids=["moto-sums", "counts-the-result"])
def test_running_update_sizes_answer_what_moto_answers(monkeypatch: Any, result_counting: bool) -> None:
    """running_update_sizes: an update of top-level SETs sizes the item once, not once per
    action, and every answer (accepted, refused at which action, the items left) is moto's,
    whether moto counts the value a SET replaces or item_size_counts_the_result leaves it out."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor

    from cloudchat_local.moto._locking import result_counting as counting

    running_update_sizes()
    running_update_sizes()  # idempotent
    with monkeypatch.context() as m:
        setitem = vars(LimitedSizeDict)["__setitem__"]
        moto_setitem = getattr(setitem, "_cloudchat_original", setitem)
        m.setattr(LimitedSizeDict, "__setitem__",
                  counting(moto_setitem) if result_counting else moto_setitem)
        with mock_aws():
            patched = _running_size_answers()
        m.setattr(UpdateExpressionExecutor, "execute", UpdateExpressionExecutor.execute._cloudchat_original)
        with mock_aws():
            moto = _running_size_answers()
    assert patched == moto
    refusals = [r for r in moto[:-1] if isinstance(r, tuple)]
    assert len(refusals) >= 2, refusals  # (the limit was reached, in and out of a transaction)
    assert isinstance(moto[4], tuple) != result_counting  # (the two ways of counting differ)


def test_an_update_of_top_level_sets_sizes_the_item_once() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    running_update_sizes()
    calls = 0
    size = DynamoType.size

    def counted(self: Any) -> int:
        nonlocal calls
        calls += 1
        return int(size(self))

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="c", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}])
        ddb.put_item(TableName="c", Item={"PK": {"S": "log"}, **{f"t{i}": {"N": str(i)} for i in range(120)}})
        DynamoType.size = counted  # type: ignore[method-assign]
        try:
            from moto.dynamodb.models import dynamodb_backends

            table = dynamodb_backends["123456789012"]["us-east-1"].get_table("c")
            item = table.get_item(DynamoType({"S": "log"}), None)
            from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
            from moto.dynamodb.parsing.expressions import UpdateExpressionParser
            from moto.dynamodb.parsing.validators import UpdateExpressionValidator

            update = _shift_update(120)
            ast = UpdateExpressionValidator(
                UpdateExpressionParser.make(update["UpdateExpression"]),
                expression_attribute_names={},
                expression_attribute_values=update["ExpressionAttributeValues"],
                item=item, table=table).validate()
            ast.normalize()
            calls = 0
            UpdateExpressionExecutor(ast, item, {}).execute()
        finally:
            DynamoType.size = size  # type: ignore[method-assign]
    assert calls <= 3 * 121  # moto's own: ~121 x 121


def test_fast_traversal_answers_what_moto_answers(monkeypatch: Any) -> None:
    """fast_traversal: every battery of updates (valid, invalid, failing, near the size
    limit, the rate log's shape) answers what moto's own traversal answers, and each
    (traverser, node class) pair is checked once, not once per node."""
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser

    fast_traversal()
    fast_traversal()  # idempotent

    def batteries() -> list[Any]:
        out: list[Any] = []
        for battery in (_update_operations, _validated_answers, _running_size_answers):
            with mock_aws():
                out.append(battery())
        return out

    patched = batteries()
    with monkeypatch.context() as m:
        walk = DepthFirstTraverser.traverse_node_recursively
        m.setattr(DepthFirstTraverser, "traverse_node_recursively", walk._cloudchat_original)
        m.setattr(DepthFirstTraverser, "process", DepthFirstTraverser.process._cloudchat_original)
        moto = batteries()
    assert patched == moto
    assert sum(isinstance(r, tuple) for r in moto[0]) >= 8  # (errors were exercised)
