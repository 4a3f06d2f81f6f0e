"""cloudchat_local.provision against a real moto server (a subprocess on 127.0.0.1)."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from cloudchat_local._runtime import terminate
from cloudchat_local.provision import (
    DEMO_PASSWORD,
    DEMO_USERS,
    Provisioned,
    ProvisionError,
    provision,
)
from cloudchat_local.template import Template, load_template, load_yaml

STACK = "cloudchat-provision-test"
API_URL = "http://127.0.0.1:4000/graphql"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_serving(endpoint: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("moto server did not start within 60 s")


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_serving(endpoint, process, log)
            yield endpoint
        finally:
            terminate(process)


@pytest.fixture(scope="module")
def stack(moto_endpoint: str) -> Provisioned:
    return provision(moto_endpoint, stack_name=STACK, api_url=API_URL)


def test_table_matches_the_template(stack: Provisioned) -> None:
    template = load_template()
    wanted = template.table_create_kwargs(stack.table_name)
    table = stack.client("dynamodb").describe_table(TableName=stack.table_name)["Table"]
    assert table["KeySchema"] == wanted["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        wanted["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    assert [
        (i["IndexName"], i["KeySchema"], i["Projection"]) for i in table["GlobalSecondaryIndexes"]
    ] == [
        (i["IndexName"], i["KeySchema"], i["Projection"]) for i in wanted["GlobalSecondaryIndexes"]
    ]
    assert table["StreamSpecification"] == {
        "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert stack.table_stream_arn and stack.table_stream_arn == table["LatestStreamArn"]
    ttl = stack.client("dynamodb").describe_time_to_live(TableName=stack.table_name)
    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt",
    }


def test_kms_key_alias_and_envelope_encryption(stack: Provisioned) -> None:
    kms = stack.client("kms")
    assert kms.get_key_rotation_status(KeyId=stack.kms_key_id)["KeyRotationEnabled"] is True
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases[f"alias/{STACK}-chat"] == stack.kms_key_id
    context = {"conversationId": "01J00000000000000000000000"}
    data_key = kms.generate_data_key(
        KeyId=stack.kms_key_arn, KeySpec="AES_256", EncryptionContext=context
    )
    plain = kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext=context)
    assert plain["Plaintext"] == data_key["Plaintext"]


def test_user_pool_groups_and_client(stack: Provisioned) -> None:
    idp = stack.client("cognito-idp")
    pool = idp.describe_user_pool(UserPoolId=stack.user_pool_id)["UserPool"]
    assert pool["Name"] == f"{STACK}-users"
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    groups = {g["GroupName"] for g in idp.list_groups(UserPoolId=stack.user_pool_id)["Groups"]}
    assert groups == {"admin", "moderator"}
    client = idp.describe_user_pool_client(
        UserPoolId=stack.user_pool_id, ClientId=stack.user_pool_client_id
    )["UserPoolClient"]
    assert "ALLOW_USER_PASSWORD_AUTH" in client["ExplicitAuthFlows"]
    assert "ClientSecret" not in client
    assert stack.issuer == f"https://cognito-idp.us-east-1.amazonaws.com/{stack.user_pool_id}"
    assert stack.jwks_url == f"{stack.endpoint}/{stack.user_pool_id}/.well-known/jwks.json"


@pytest.mark.parametrize("name", sorted(DEMO_USERS))
def test_demo_users_sign_in_with_rs256_tokens_verifiable_by_jwks(
    stack: Provisioned, name: str
) -> None:
    user = stack.demo_user(name)
    assert user.username == f"{name}@example.com"
    assert user.password == DEMO_PASSWORD
    idp = stack.client("cognito-idp")
    result = idp.initiate_auth(
        ClientId=stack.user_pool_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user.username, "PASSWORD": user.password},
    )["AuthenticationResult"]
    token = result["AccessToken"]
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    signing_key = jwt.PyJWKClient(stack.jwks_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key.key, algorithms=["RS256"], issuer=stack.issuer)
    assert claims["token_use"] == "access"
    assert claims["client_id"] == stack.user_pool_client_id
    assert claims["sub"] == user.sub
    assert claims.get("cognito:groups", []) == list(DEMO_USERS[name])
    attributes = {
        a["Name"]: a["Value"]
        for a in idp.admin_get_user(UserPoolId=stack.user_pool_id, Username=user.username)[
            "UserAttributes"
        ]
    }
    assert attributes["email_verified"] == "true"
    assert attributes["email"] == user.username


def test_function_environments_point_at_the_local_resources(stack: Provisioned) -> None:
    assert set(stack.function_env) == {f.logical_id for f in load_template().functions()}  # every function
    for env in stack.function_env.values():
        assert env["TABLE_NAME"] == stack.table_name
        assert env["KMS_KEY_ID"] == stack.kms_key_arn
        assert env["TOKEN_SECRET"] == stack.token_secret
        assert env["MAX_GROUP_MEMBERS"] == "100"  # a parameter's Default
    assert len(stack.token_secret) == 64 and stack.token_secret.isalnum()
    assert stack.aws_environment()["AWS_ENDPOINT_URL"] == stack.endpoint


def test_provisioning_again_reuses_everything(stack: Provisioned, moto_endpoint: str) -> None:
    again = provision(moto_endpoint, stack_name=STACK, api_url=API_URL)
    for attribute in (
        "table_name", "table_stream_arn", "kms_key_arn", "user_pool_id", "user_pool_client_id",
        "token_secret", "function_env", "demo_users",
    ):
        assert getattr(again, attribute) == getattr(stack, attribute), attribute
    idp = stack.client("cognito-idp")
    pools = [p for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == f"{STACK}-users"]
    assert len(pools) == 1
    clients = idp.list_user_pool_clients(UserPoolId=stack.user_pool_id)["UserPoolClients"]
    assert len(clients) == 1


def test_buckets_and_topics_in_the_template_are_created(
    moto_endpoint: str, tmp_path: Path
) -> None:
    document = load_yaml(load_template().path.read_text())
    document["Resources"]["Uploads"] = {
        "Type": "AWS::S3::Bucket",
        "Properties": {"CorsConfiguration": {"CorsRules": [
            {"AllowedMethods": ["POST"], "AllowedOrigins": ["*"]},
        ]}},
    }
    document["Resources"]["Events"] = {"Type": "AWS::SNS::Topic"}
    template = Template(document, tmp_path / "template.yaml")
    first = provision(moto_endpoint, stack_name="with-extras", template=template, demo_users=False,
                      api_url=API_URL)
    second = provision(moto_endpoint, stack_name="with-extras", template=template, demo_users=False,
                       api_url=API_URL)
    assert first.buckets == second.buckets
    assert first.buckets["Uploads"] == "with-extras-uploads"
    assert first.topics == second.topics
    s3 = first.client("s3")
    assert s3.get_bucket_cors(Bucket="with-extras-uploads")["CORSRules"][0]["AllowedMethods"] == ["POST"]
    topic_arn = first.topics["Events"]
    assert topic_arn.endswith(":with-extras-Events")
    assert topic_arn in [t["TopicArn"] for t in first.client("sns").list_topics()["Topics"]]
    assert first.user_pool_id != ""  # the rest of the template came along


def test_bucket_cors_uses_cloudformation_names_and_list_parameters(
    moto_endpoint: str, tmp_path: Path
) -> None:
    document = load_yaml(load_template().path.read_text())
    document["Parameters"]["Origins"] = {"Type": "CommaDelimitedList", "Default": "https://a.example, https://b.example"}
    document["Resources"]["Files"] = {
        "Type": "AWS::S3::Bucket",
        "Properties": {"CorsConfiguration": {"CorsRules": [{
            "AllowedMethods": ["GET", "POST"], "AllowedOrigins": {"Ref": "Origins"},
            "ExposedHeaders": ["ETag"], "MaxAge": 3000, "Id": "web",
        }]}},
    }
    template = Template(document, tmp_path / "template.yaml")
    stack = provision(moto_endpoint, stack_name="with-cors", template=template, demo_users=False,
                      api_url=API_URL)
    (rule,) = stack.client("s3").get_bucket_cors(Bucket=stack.buckets["Files"])["CORSRules"]
    assert rule["AllowedOrigins"] == ["https://a.example", "https://b.example"]
    assert (rule["ExposeHeaders"], rule["MaxAgeSeconds"], rule["ID"]) == (["ETag"], 3000, "web")


def test_queues_in_the_template_are_created(moto_endpoint: str, tmp_path: Path) -> None:
    document = load_yaml(load_template().path.read_text())
    document["Resources"]["Dead"] = {
        "Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": 1209600},
    }
    document["Resources"]["Work"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "VisibilityTimeout": 30,
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["Dead", "Arn"]}, "maxReceiveCount": 3},
        },
    }
    document["Resources"]["Ordered"] = {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}}
    template = Template(document, tmp_path / "template.yaml")
    first = provision(moto_endpoint, stack_name="with-queues", template=template, demo_users=False,
                      api_url=API_URL)
    second = provision(moto_endpoint, stack_name="with-queues", template=template, demo_users=False,
                       api_url=API_URL)
    assert first.queues == second.queues
    assert first.queues["Ordered"].endswith("/with-queues-Ordered.fifo")
    sqs = first.client("sqs")
    ordered = sqs.get_queue_attributes(QueueUrl=first.queues["Ordered"], AttributeNames=["All"])
    assert ordered["Attributes"]["FifoQueue"] == "true"
    attributes = sqs.get_queue_attributes(QueueUrl=first.queues["Work"], AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "30"
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == first.resolved["Dead.Arn"]
    assert first.resolved["Dead.Arn"].endswith(":with-queues-Dead")


def test_the_graphql_api_resolves_to_the_local_endpoint(stack: Provisioned) -> None:
    assert stack.resolved["GraphQLApi.GraphQLUrl"] == API_URL
    assert stack.resolved["GraphQLApi.RealtimeUrl"] == "ws://127.0.0.1:4000/graphql/realtime"
    for env in stack.function_env.values():
        if "APPSYNC_URL" in env:
            assert env["APPSYNC_URL"] == API_URL


def test_an_api_reference_without_api_url_is_a_clear_error(moto_endpoint: str, tmp_path: Path) -> None:
    document = load_yaml(load_template().path.read_text())
    document["Globals"]["Function"]["Environment"]["Variables"]["API"] = {
        "Fn::GetAtt": ["GraphQLApi", "GraphQLUrl"]
    }
    template = Template(document, tmp_path / "template.yaml")
    with pytest.raises(ProvisionError, match="api_url"):
        provision(moto_endpoint, stack_name="no-api-url", template=template, demo_users=False)


def test_refuses_anything_but_loopback() -> None:
    with pytest.raises(ProvisionError, match="loopback"):
        provision("http://10.0.0.1:5000")
    with pytest.raises(ProvisionError, match="loopback"):
        provision("https://dynamodb.us-east-1.amazonaws.com")



NOT_EMULATED = {
    "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard", "AWS::Logs::MetricFilter",
    "AWS::SNS::Subscription", "AWS::WAFv2::WebACL", "AWS::WAFv2::WebACLAssociation",
}


def test_operations_resources_are_skipped_with_a_debug_log(
    moto_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Alarms, the dashboard, metric filters, the e-mail subscription and the WAF (turned on
    here) are not emulated: provisioning names each at DEBUG and goes on."""
    template = load_template()
    assert {r["Type"] for r in template.document["Resources"].values()} >= NOT_EMULATED
    with caplog.at_level(logging.DEBUG, logger="cloudchat_local.provision"):
        stack = provision(moto_endpoint, stack_name="with-ops", template=template, demo_users=False,
                          api_url=API_URL,
                          parameters={"EnableWaf": "true", "AlarmEmail": "ops@example.com"})
    skipped = {r.args[1] for r in caplog.records  # type: ignore[index]
               if r.levelno == logging.DEBUG and "not emulated" in r.getMessage()}
    assert skipped >= NOT_EMULATED
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert stack.topics["AlarmTopic"].endswith(":with-ops-AlarmTopic")  # the topic is emulated


def test_resources_whose_condition_is_false_are_not_created(
    moto_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    pager = "arn:aws:sns:us-east-1:123456789012:pager"
    with caplog.at_level(logging.DEBUG, logger="cloudchat_local.provision"):
        stack = provision(moto_endpoint, stack_name="own-pager", demo_users=False, api_url=API_URL,
                          parameters={"AlarmTopicArn": pager})
    assert "AlarmTopic" not in stack.topics
    assert not [t for t in stack.client("sns").list_topics()["Topics"]
                if t["TopicArn"].endswith(":own-pager-AlarmTopic")]
    assert any("AlarmTopic" in r.getMessage() and "CreateAlarmTopic" in r.getMessage()
               for r in caplog.records)
    assert stack.topics["NotificationsTopic"]  # unconditional resources still are
