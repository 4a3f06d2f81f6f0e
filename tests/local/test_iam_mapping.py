"""cloudchat_local.iam: HTTP requests (built by real botocore clients) -> IAM checks."""

from __future__ import annotations

import base64
import io
import json
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config

from cloudchat_local._identity import credentials_for
from cloudchat_local.iam import MappedCall, PolicyMap, caller_of, map_request
from cloudchat_local.iam._middleware import _form

REGION = "us-east-1"
ACCOUNT = "123456789012"
ENDPOINT = "http://127.0.0.1:4010"
KEY_ID = "0a1b2c3d-0000-4000-8000-000000000001"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t"
POLICIES = PolicyMap(ACCOUNT, REGION, {}, kms_aliases={"alias/chat": KEY_ARN},
                     bucket_keys={"media": {"key": KEY_ARN, "bucket_key": True}},
                     secrets={"token": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:token-AbCdEf"})
ACCESS_KEY, SECRET = credentials_for("MessagesFunction")


class _Sent(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def _client(service: str) -> Any:
    config = Config(signature_version="s3v4") if service == "s3" else None
    client = boto3.client(service, region_name=REGION, endpoint_url=ENDPOINT, config=config,
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)

    def capture(request: Any, **_: Any) -> None:
        raise _Sent(request)

    client.meta.events.register("before-send", capture)
    return client


def environ(method: str, url: str, headers: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The WSGI environ a server builds for this request (PATH_INFO percent-decoded)."""
    parts = urllib.parse.urlsplit(url)
    env: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": urllib.parse.unquote(parts.path),
        "QUERY_STRING": parts.query, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
    }
    for name, raw in headers.items():
        value = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            env[key] = value
        else:
            env[f"HTTP_{key}"] = value
    return env


def mapped_env(env: dict[str, Any], body: bytes) -> MappedCall:
    form = None if env.get("HTTP_AUTHORIZATION") else _form(env, body)
    caller = caller_of(env, body, form)
    assert caller is not None and caller.access_key_id == ACCESS_KEY
    return map_request(caller, env, body, form, POLICIES)


def mapped(service: str, call: Callable[[Any], Any]) -> MappedCall:
    with pytest.raises(_Sent) as sent:
        call(_client(service))
    request = sent.value.request
    body = request.body or b""
    body = body.encode() if isinstance(body, str) else (body if isinstance(body, bytes) else body.read())
    return mapped_env(environ(request.method, request.url, dict(request.headers.items()), body), body)


def checks(call: MappedCall) -> list[tuple[str, str]]:
    assert call.problem is None, call.problem
    return [(c.action, c.resource) for c in call.checks]


# ------------------------------------------------------------------ DynamoDB

KEY = {"PK": {"S": "a"}, "SK": {"S": "b"}}


@pytest.mark.parametrize(("operation", "kwargs", "action"), [
    ("get_item", {"Key": KEY}, "dynamodb:GetItem"),
    ("put_item", {"Item": KEY}, "dynamodb:PutItem"),
    ("update_item", {"Key": KEY, "UpdateExpression": "SET x = :x",
                     "ExpressionAttributeValues": {":x": {"S": "1"}}}, "dynamodb:UpdateItem"),
    ("delete_item", {"Key": KEY}, "dynamodb:DeleteItem"),
    ("query", {"KeyConditionExpression": "PK = :p",
               "ExpressionAttributeValues": {":p": {"S": "a"}}}, "dynamodb:Query"),
    ("scan", {}, "dynamodb:Scan"),
    ("describe_table", {}, "dynamodb:DescribeTable"),
])
def test_dynamodb_item_operations(operation: str, kwargs: dict[str, Any], action: str) -> None:
    call = mapped("dynamodb", lambda c: getattr(c, operation)(TableName="t", **kwargs))
    assert call.protocol == "json" and call.json_version == "1.0"
    assert checks(call) == [(action, TABLE)]


def test_dynamodb_index_reads_name_the_index() -> None:
    call = mapped("dynamodb", lambda c: c.query(
        TableName="t", IndexName="GSI1", KeyConditionExpression="GSI1PK = :p",
        ExpressionAttributeValues={":p": {"S": "a"}}))
    assert checks(call) == [("dynamodb:Query", f"{TABLE}/index/GSI1")]


def test_dynamodb_batches_are_checked_per_table() -> None:
    call = mapped("dynamodb", lambda c: c.batch_get_item(
        RequestItems={"t": {"Keys": [KEY]}, "u": {"Keys": [KEY]}}))
    assert checks(call) == [("dynamodb:BatchGetItem", TABLE),
                            ("dynamodb:BatchGetItem", TABLE.replace("table/t", "table/u"))]
    call = mapped("dynamodb", lambda c: c.batch_write_item(
        RequestItems={"t": [{"PutRequest": {"Item": KEY}}]}))
    assert checks(call) == [("dynamodb:BatchWriteItem", TABLE)]


def test_dynamodb_transactions_are_checked_per_item() -> None:
    call = mapped("dynamodb", lambda c: c.transact_write_items(TransactItems=[
        {"ConditionCheck": {"TableName": "t", "Key": KEY, "ConditionExpression": "attribute_exists(PK)"}},
        {"Update": {"TableName": "t", "Key": KEY, "UpdateExpression": "SET x = :x",
                    "ExpressionAttributeValues": {":x": {"S": "1"}}}},
        {"Put": {"TableName": "t", "Item": KEY}},
        {"Delete": {"TableName": "t", "Key": KEY}},
    ]))
    assert checks(call) == [("dynamodb:ConditionCheckItem", TABLE), ("dynamodb:UpdateItem", TABLE),
                            ("dynamodb:PutItem", TABLE), ("dynamodb:DeleteItem", TABLE)]
    assert call.checks[0].context["dynamodb:enclosingoperation"] == "TransactWriteItems"
    call = mapped("dynamodb", lambda c: c.transact_get_items(
        TransactItems=[{"Get": {"TableName": "t", "Key": KEY}}]))
    assert checks(call) == [("dynamodb:GetItem", TABLE)]


# ------------------------------------------------------------------ KMS


@pytest.mark.parametrize("key_id", [KEY_ID, KEY_ARN, "alias/chat", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/chat"])
def test_kms_key_ids_become_the_key_arn(key_id: str) -> None:
    call = mapped("kms", lambda c: c.generate_data_key(
        KeyId=key_id, KeySpec="AES_256", EncryptionContext={"conversationId": "c1"}))
    assert checks(call) == [("kms:GenerateDataKey", KEY_ARN)]
    context = call.checks[0].context
    assert context["kms:encryptioncontext:conversationid"] == "c1"
    assert context["kms:encryptioncontextkeys"] == ["conversationId"]
    assert "kms:viaservice" not in context  # a direct call, not through S3 / DynamoDB


def test_kms_decrypt_without_key_id_reads_the_ciphertext() -> None:
    blob = KEY_ID.encode() + bytes(12 + 16) + b"ciphertext"
    call = mapped("kms", lambda c: c.decrypt(CiphertextBlob=blob))
    assert checks(call) == [("kms:Decrypt", KEY_ARN)]
    call = mapped("kms", lambda c: c.decrypt(CiphertextBlob=b"short"))
    assert call.problem is not None and not call.checks


def test_kms_reencrypt_needs_both_keys() -> None:
    call = mapped("kms", lambda c: c.re_encrypt(CiphertextBlob=b"x", SourceKeyId=KEY_ID,
                                                DestinationKeyId="alias/chat"))
    assert checks(call) == [("kms:ReEncryptFrom", KEY_ARN), ("kms:ReEncryptTo", KEY_ARN)]


# ------------------------------------------------------------------ SNS, SQS, Cognito, Secrets


def test_ses_send_email_is_checked_on_the_from_addresss_identity() -> None:
    call = mapped("ses", lambda c: c.send_email(
        Source="CloudChat <notices@example.com>", Destination={"ToAddresses": ["bob@example.com"]},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}))
    assert call.protocol == "query" and checks(call) == [
        ("ses:SendEmail", f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/notices@example.com")]
    context = call.checks[0].context
    assert context["ses:fromaddress"] == "notices@example.com"
    assert context["ses:recipients"] == ["bob@example.com"]


def test_sns() -> None:
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:topic"
    call = mapped("sns", lambda c: c.publish(TopicArn=topic, Message="m"))
    assert call.protocol == "query" and checks(call) == [("sns:Publish", topic)]
    endpoint = f"arn:aws:sns:{REGION}:{ACCOUNT}:endpoint/APNS/app/1"
    assert checks(mapped("sns", lambda c: c.publish(TargetArn=endpoint, Message="m"))) == [
        ("sns:Publish", endpoint)]
    app = f"arn:aws:sns:{REGION}:{ACCOUNT}:app/APNS/app"
    call = mapped("sns", lambda c: c.create_platform_endpoint(PlatformApplicationArn=app, Token="t"))
    assert checks(call) == [("sns:CreatePlatformEndpoint", app)]


def test_sqs() -> None:
    url = f"{ENDPOINT}/{ACCOUNT}/q"
    call = mapped("sqs", lambda c: c.send_message(QueueUrl=url, MessageBody="m"))
    assert call.query_compatible
    assert checks(call) == [("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:q")]


def test_cognito_idp() -> None:
    call = mapped("cognito-idp", lambda c: c.admin_create_user(UserPoolId="us-east-1_x", Username="u"))
    assert checks(call) == [("cognito-idp:AdminCreateUser",
                             f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/us-east-1_x")]


def test_secretsmanager_by_name_and_arn() -> None:
    arn = POLICIES.secrets["token"]
    assert checks(mapped("secretsmanager", lambda c: c.get_secret_value(SecretId="token"))) == [
        ("secretsmanager:GetSecretValue", arn)]
    assert checks(mapped("secretsmanager", lambda c: c.get_secret_value(SecretId=arn))) == [
        ("secretsmanager:GetSecretValue", arn)]


# ------------------------------------------------------------------ S3

MEDIA = "arn:aws:s3:::media"
VIA_S3 = f"s3.{REGION}.amazonaws.com"


def test_s3_get_object_needs_kms_decrypt_via_s3_on_an_sse_kms_bucket() -> None:
    call = mapped("s3", lambda c: c.get_object(Bucket="media", Key="conversations/c/u/f"))
    assert call.protocol == "rest-xml"
    assert checks(call) == [("s3:GetObject", f"{MEDIA}/conversations/c/u/f"), ("kms:Decrypt", KEY_ARN)]
    kms = call.checks[1].context
    assert kms["kms:viaservice"] == VIA_S3
    assert kms["kms:encryptioncontext:aws:s3:arn"] == MEDIA  # S3 Bucket Key: the bucket's ARN
    assert call.list_bucket is not None and call.list_bucket.action == "s3:ListBucket"


def test_s3_head_object_is_get_object_without_kms() -> None:
    call = mapped("s3", lambda c: c.head_object(Bucket="media", Key="a b/ü"))
    assert checks(call) == [("s3:GetObject", f"{MEDIA}/a b/ü")]


def test_s3_put_object_with_tagging_and_copy() -> None:
    call = mapped("s3", lambda c: c.put_object(Bucket="media", Key="k", Body=b"x", Tagging="a=b"))
    assert checks(call) == [("s3:PutObject", f"{MEDIA}/k"), ("s3:PutObjectTagging", f"{MEDIA}/k"),
                            ("kms:GenerateDataKey", KEY_ARN)]
    call = mapped("s3", lambda c: c.copy_object(Bucket="other", Key="k2", CopySource="media/k"))
    assert checks(call) == [("s3:PutObject", "arn:aws:s3:::other/k2"), ("s3:GetObject", f"{MEDIA}/k")]


@pytest.mark.parametrize(("operation", "kwargs", "expected"), [
    ("put_object_tagging", {"Key": "k", "Tagging": {"TagSet": [{"Key": "a", "Value": "b"}]}},
     [("s3:PutObjectTagging", f"{MEDIA}/k")]),
    ("get_object_tagging", {"Key": "k"}, [("s3:GetObjectTagging", f"{MEDIA}/k")]),
    ("delete_object", {"Key": "k"}, [("s3:DeleteObject", f"{MEDIA}/k")]),
    ("list_objects_v2", {"Prefix": "conversations/"}, [("s3:ListBucket", MEDIA)]),
    ("head_bucket", {}, [("s3:ListBucket", MEDIA)]),
    ("get_bucket_cors", {}, [("s3:GetBucketCORS", MEDIA)]),
    ("put_bucket_cors", {"CORSConfiguration": {"CORSRules": [{"AllowedMethods": ["GET"],
                                                               "AllowedOrigins": ["*"]}]}},
     [("s3:PutBucketCORS", MEDIA)]),
])
def test_s3_operations(operation: str, kwargs: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert checks(mapped("s3", lambda c: getattr(c, operation)(Bucket="media", **kwargs))) == expected


def _client_plain(service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=ENDPOINT,
                        config=Config(signature_version="s3v4"),
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)


def test_s3_presigned_get_is_the_signers_get_object() -> None:
    url = _client_plain("s3").generate_presigned_url(
        "get_object", Params={"Bucket": "media", "Key": "conversations/c/f",
                              "ResponseContentDisposition": 'inline; filename="a.png"'}, ExpiresIn=60)
    call = mapped_env(environ("GET", url, {}, b""), b"")
    assert checks(call) == [("s3:GetObject", f"{MEDIA}/conversations/c/f"), ("kms:Decrypt", KEY_ARN)]


def _multipart(fields: dict[str, str], file: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
              "Content-Type: image/png\r\n\r\n".encode() + file + f"\r\n--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def test_s3_presigned_post_is_the_signers_put_object() -> None:
    post = _client_plain("s3").generate_presigned_post(
        Bucket="media", Key="conversations/c/u/1", Fields={"tagging": "<Tagging/>"},
        Conditions=[{"tagging": "<Tagging/>"}], ExpiresIn=60)
    body, content_type = _multipart(post["fields"], b"\x89PNG")
    env = environ("POST", post["url"], {"Content-Type": content_type}, body)
    call = mapped_env(env, body)
    assert checks(call) == [("s3:PutObject", f"{MEDIA}/conversations/c/u/1"),
                            ("s3:PutObjectTagging", f"{MEDIA}/conversations/c/u/1"),
                            ("kms:GenerateDataKey", KEY_ARN)]
    assert env["wsgi.input"].read() == body  # the form was read without consuming the body


def test_s3_unmapped_subresource_is_a_problem_not_a_pass() -> None:
    call = mapped("s3", lambda c: c.get_object_lock_configuration(Bucket="media"))
    assert call.checks and call.checks[0].action == "s3:GetBucketObjectLockConfiguration"
    call = mapped("s3", lambda c: c.put_bucket_replication(Bucket="media", ReplicationConfiguration={
        "Role": "arn:aws:iam::1:role/r", "Rules": [{"Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::x"}}]}))
    assert call.problem is not None and not call.checks


def test_requests_without_credentials_have_no_caller() -> None:
    assert caller_of(environ("GET", f"{ENDPOINT}/media/k", {}, b""), b"", None) is None
    token = base64.b64encode(json.dumps({"a": 1}).encode()).decode()
    assert caller_of(environ("GET", f"{ENDPOINT}/x?token={token}", {}, b""), b"", None) is None


def test_dynamodb_on_a_table_with_a_customer_managed_key_also_needs_kms_via_dynamodb() -> None:
    global POLICIES
    saved = POLICIES
    POLICIES = PolicyMap(ACCOUNT, REGION, {}, table_keys={"t": KEY_ARN})
    try:
        call = mapped("dynamodb", lambda c: c.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": KEY}}, {"Delete": {"TableName": "t", "Key": KEY}}]))
        assert checks(call) == [("dynamodb:PutItem", TABLE), ("dynamodb:DeleteItem", TABLE),
                                ("kms:Decrypt", KEY_ARN)]
        assert call.checks[-1].context["kms:viaservice"] == f"dynamodb.{REGION}.amazonaws.com"
        call = mapped("dynamodb", lambda c: c.describe_table(TableName="t"))
        assert checks(call) == [("dynamodb:DescribeTable", TABLE)]  # no table data: no key
        call = mapped("dynamodb", lambda c: c.get_item(TableName="u", Key=KEY))
        assert checks(call) == [("dynamodb:GetItem", TABLE.replace("table/t", "table/u"))]
    finally:
        POLICIES = saved
