"""The local stack's moto fixes: isolation and item-level rollback behave like DynamoDB."""

from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from cloudchat_local.moto import serialize_dynamodb


@pytest.fixture
def ddb():
    serialize_dynamodb()
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                       {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}])
        yield client


def put(pk: str, sk: str, **extra) -> dict:
    return {"Put": {"TableName": "t", "Item": {"PK": {"S": pk}, "SK": {"S": sk}, **extra},
                    "ConditionExpression": "attribute_not_exists(PK)"}}


def test_failed_transaction_leaves_no_partial_write(ddb) -> None:
    ddb.put_item(TableName="t", Item={"PK": {"S": "a"}, "SK": {"S": "1"}, "v": {"N": "1"}})
    ddb.put_item(TableName="t", Item={"PK": {"S": "c"}, "SK": {"S": "1"}})
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "t", "Key": {"PK": {"S": "a"}, "SK": {"S": "1"}},
                        "UpdateExpression": "SET v = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            put("b", "1"),
            put("c", "1"),  # exists: cancels the whole transaction
        ])
    assert exc.value.response["Error"]["Code"] == "TransactionCanceledException"
    items = sorted(ddb.scan(TableName="t")["Items"], key=lambda i: i["PK"]["S"])
    assert items == [{"PK": {"S": "a"}, "SK": {"S": "1"}, "v": {"N": "1"}},
                     {"PK": {"S": "c"}, "SK": {"S": "1"}}]


def test_concurrent_transactions_do_not_erase_each_other(ddb) -> None:
    def one(i: int) -> None:
        try:
            ddb.transact_write_items(TransactItems=[put("p", f"{i}"), put("p", "shared")])
        except ClientError:
            ddb.put_item(TableName="t", Item={"PK": {"S": "p"}, "SK": {"S": f"{i}"}})

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, range(64)))
    sks = {i["SK"]["S"] for i in ddb.scan(TableName="t")["Items"]}
    assert sks == {str(i) for i in range(64)} | {"shared"}
