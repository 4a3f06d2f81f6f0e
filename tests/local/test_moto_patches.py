"""moto_patches.partition_queries: base-table queries see only their partition, and answer
exactly what moto answers without the patch (conditions, order, pages, filters, indexes)."""

from __future__ import annotations

from typing import Any

import boto3
from moto import mock_aws

from cloudchat_local.moto_patches import partition_queries

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
