"""The moto server process with IAM enforced, driven by plain boto3 clients: each AWS
service's denial is the one botocore parses as that service's AccessDenied error."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from cloudchat_local._identity import credentials_for
from tests.local.iam_harness import (
    IamStack,
    full_template,  # noqa: F401 - autouse: every test starts from the full template
    iam_stack,
)

KEY = {"PK": {"S": "iam"}, "SK": {"S": "server"}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamStack]:
    with iam_stack(tmp_path_factory.mktemp("iam-server")) as running:
        yield running


def client(stack: IamStack, service: str, who: str | None = None, key: tuple[str, str] | None = None) -> Any:
    access, secret = key or (credentials_for(who) if who else (stack.prov.access_key_id,
                                                             stack.prov.secret_access_key))
    config = Config(signature_version="s3v4", retries={"max_attempts": 1}) if service == "s3" else Config(
        retries={"max_attempts": 1})
    return boto3.client(service, endpoint_url=stack.moto.endpoint, region_name=stack.prov.region,
                        aws_access_key_id=access, aws_secret_access_key=secret, config=config)


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_a_functions_allowed_calls_pass_and_others_are_access_denied(stack: IamStack) -> None:
    ddb = client(stack, "dynamodb", "ReceiptsFunction")
    table = stack.prov.table_name
    ddb.update_item(TableName=table, Key=KEY, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"S": "1"}})
    assert ddb.get_item(TableName=table, Key=KEY)["Item"]["v"] == {"S": "1"}
    with pytest.raises(ClientError) as denied:
        ddb.put_item(TableName=table, Item=KEY)
    assert code(denied) == "AccessDeniedException"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = denied.value.response["Error"]["Message"]
    assert message == (
        "User: arn:aws:sts::123456789012:assumed-role/cloudchat-local-ReceiptsFunctionRole/"
        f"cloudchat-local-receipts is not authorized to perform: dynamodb:PutItem on resource: "
        f"{stack.prov.table_arn} because no identity-based policy allows the dynamodb:PutItem action")
    assert "AccessDenied (ReceiptsFunction)" in stack.log_text()


def test_every_service_answers_with_its_own_access_denied(stack: IamStack) -> None:
    prov = stack.prov
    checks = [
        (lambda: client(stack, "kms", "ReceiptsFunction").describe_key(KeyId=prov.kms_key_arn),
         "AccessDeniedException"),
        (lambda: client(stack, "sns", "MessagesFunction").publish(
            TopicArn=prov.topics["NotificationsTopic"], Message="m"), "AuthorizationError"),
        (lambda: client(stack, "sqs", "StreamFunction").send_message(
            QueueUrl=next(iter(prov.queues.values())), MessageBody="m"), "AccessDenied"),
        (lambda: client(stack, "cognito-idp", "MessagesFunction").admin_create_user(
            UserPoolId=prov.user_pool_id, Username="x@example.com"), "AccessDeniedException"),
        (lambda: client(stack, "secretsmanager", "MessagesFunction").get_secret_value(
            SecretId="TokenSecret"), "AccessDeniedException"),
        (lambda: client(stack, "s3", "ConversationsFunction").get_object(
            Bucket=prov.buckets["AttachmentsBucket"], Key="conversations/x"), "AccessDenied"),
        (lambda: client(stack, "s3", "MessagesFunction").get_object(
            Bucket=prov.buckets["AttachmentsBucket"], Key="elsewhere/x"), "AccessDenied"),
    ]
    for run, expected in checks:
        with pytest.raises(ClientError) as denied:
            run()
        assert code(denied) == expected


def test_the_admin_key_passes_unchecked(stack: IamStack) -> None:
    ddb = client(stack, "dynamodb")
    ddb.put_item(TableName=stack.prov.table_name, Item={**KEY, "SK": {"S": "admin"}})
    ddb.delete_item(TableName=stack.prov.table_name, Key={**KEY, "SK": {"S": "admin"}})
    client(stack, "kms").describe_key(KeyId=stack.prov.kms_key_arn)


def test_get_caller_identity_needs_no_permission(stack: IamStack) -> None:
    identity = client(stack, "sts", "ReceiptsFunction").get_caller_identity()
    assert identity["Account"] == stack.prov.account_id


def test_an_unknown_function_key_is_denied(stack: IamStack) -> None:
    with pytest.raises(ClientError) as denied:
        client(stack, "dynamodb", key=("LKIA0000000000000000", "x")).get_item(
            TableName=stack.prov.table_name, Key=KEY)
    assert code(denied) == "AccessDeniedException"


def test_an_operation_that_cannot_be_mapped_is_denied_with_a_reason(stack: IamStack) -> None:
    s3 = client(stack, "s3", "MessagesFunction")
    with pytest.raises(ClientError) as denied:
        s3.put_bucket_replication(Bucket=stack.prov.buckets["AttachmentsBucket"], ReplicationConfiguration={
            "Role": "arn:aws:iam::123456789012:role/r",
            "Rules": [{"Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::x"}}]})
    assert code(denied) == "AccessDenied"
    assert "cannot map this request to IAM" in stack.log_text()


def test_a_missing_key_is_403_without_list_bucket_and_404_with_it(stack: IamStack, tmp_path: Path) -> None:
    from tests.local.iam_harness import template_without

    bucket = stack.prov.buckets["AttachmentsBucket"]
    s3 = client(stack, "s3", "MessagesFunction")
    # The template grants MessagesFunction s3:ListBucket (prefix conversations/*): 404.
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key="conversations/none")
    assert code(missing) == "404"
    with pytest.raises(ClientError) as missing_get:
        s3.get_object(Bucket=bucket, Key="conversations/none")
    assert code(missing_get) == "NoSuchKey"
    # Without that grant S3 answers 403, so as not to tell whether the key exists.
    stack.enforce(template_without(stack.template, "MessagesFunction", "AttachmentListing", tmp_path))
    with pytest.raises(ClientError) as head:
        s3.head_object(Bucket=bucket, Key="conversations/none")
    assert code(head) == "403"
    with pytest.raises(ClientError) as get:
        s3.get_object(Bucket=bucket, Key="conversations/none")
    assert code(get) == "AccessDenied"
    # A key outside the granted prefix is 403 even with the grant (s3:prefix is the key).
    stack.enforce()
    with pytest.raises(ClientError) as outside:
        s3.head_object(Bucket=bucket, Key="elsewhere/none")
    assert code(outside) == "403"


def test_a_presigned_get_of_an_sse_kms_object_needs_kms_decrypt_via_s3(stack: IamStack, tmp_path: Path) -> None:
    bucket = stack.prov.buckets["AttachmentsBucket"]
    client(stack, "s3").put_object(Bucket=bucket, Key="conversations/c/f", Body=b"data")
    url = client(stack, "s3", "MessagesFunction").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "conversations/c/f"}, ExpiresIn=60)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"data"
    from tests.local.iam_harness import template_without

    stack.enforce(template_without(stack.template, "MessagesFunction", "AttachmentEncryption", tmp_path))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 403
    body = refused.value.read()
    assert b"<Code>AccessDenied</Code>" in body and b"kms:Decrypt" in body


def test_a_bad_policy_load_is_refused(stack: IamStack) -> None:
    request = urllib.request.Request(f"{stack.moto.endpoint}/_cloudchat/iam", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400


def test_usage_is_recorded_and_reported(stack: IamStack) -> None:
    client(stack, "dynamodb", "ReceiptsFunction").get_item(TableName=stack.prov.table_name, Key=KEY)
    with urllib.request.urlopen(f"{stack.moto.endpoint}/_cloudchat/iam/usage", timeout=10) as resp:
        usage = json.load(resp)
    assert "dynamodb:GetItem" in usage["ReceiptsFunction"]["Table"]
    on_disk = json.loads(stack.usage_path.read_text())["functions"]
    assert "dynamodb:GetItem" in on_disk["ReceiptsFunction"]["Table"]
    report = subprocess.run(
        [sys.executable, "-m", "cloudchat_local.iam", "report", "--state-dir", str(stack.usage_path.parent)],
        capture_output=True, text=True, check=True, timeout=60).stdout
    receipts = report.split("ReceiptsFunction:", 1)[1].split("\n\n", 1)[0]
    section = receipts.split("\nStreamFunction", 1)[0]
    assert "Table: dynamodb:GetItem" not in section
    assert "TableEncryptionAtRest: kms:ReEncrypt*" in section
