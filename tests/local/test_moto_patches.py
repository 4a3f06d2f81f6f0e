"""moto_patches.partition_queries: base-table queries see only their partition, and answer
exactly what moto answers without the patch (conditions, order, pages, filters, indexes)."""

from __future__ import annotations

from typing import Any

import boto3
from moto import mock_aws

from cloudchat_local.moto_patches import (
    cache_traversed_node_types,
    cache_update_expressions,
    fast_ast_copies,
    linear_item_size,
    parse_conditions_once_per_transaction,
    partition_queries,
)

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


def test_base_table_queries_do_not_gather_the_whole_table(monkeypatch: Any) -> None:
    from moto.dynamodb.models.table import Table

    partition_queries()

    def whole_table(self: Any) -> Any:
        raise AssertionError("a base-table query gathered every item of the table")

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK")],
        )
        for i in range(3):
            ddb.put_item(TableName="t", Item={"PK": {"S": "A"}, "SK": {"S": f"S{i}"}})
        monkeypatch.setattr(Table, "all_items", whole_table)
        got = ddb.query(TableName="t", KeyConditionExpression="PK = :p",
                        ExpressionAttributeValues={":p": {"S": "A"}})
    assert [i["SK"]["S"] for i in got["Items"]] == ["S0", "S1", "S2"]


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
    for update in UPDATES:
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

    import cloudchat_local.moto_patches as patches

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
