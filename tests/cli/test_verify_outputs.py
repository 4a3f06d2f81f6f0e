"""``cloudchat verify --stack NAME [--region R]`` reads a deployed stack's CloudFormation
outputs: here a stack created in moto (in-process, no traffic leaves the test) whose template
has template.yaml's Outputs as constants."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cloudchat_cli.__main__ import build_parser, main
from cloudchat_cli.errors import ConfigError
from cloudchat_cli.verify import resolve_target
from cloudchat_cli.verify_target import REQUIRED_OUTPUTS, target_from_stack
from cloudchat_local.template import load_template

REGION = "eu-west-1"
API = "abcdefghijklmnopqrstuvwxyz"
OUTPUTS = {
    "GraphQLApiUrl": f"https://{API}.appsync-api.{REGION}.amazonaws.com/graphql",
    "GraphQLRealtimeUrl": f"wss://{API}.appsync-realtime-api.{REGION}.amazonaws.com/graphql",
    "UserPoolId": f"{REGION}_AbCdEfGhI",
    "UserPoolClientId": "1h2j3k4l5m6n7o8p9q0r1s2t3u",
    "Region": REGION,
    "AttachmentsBucketName": "cloudchat-dev-attachmentsbucket-1a2b3c4d5e6f",
    "TableName": "cloudchat-dev-Table-ABCDEF123456",
    "KmsKeyArn": f"arn:aws:kms:{REGION}:123456789012:key/00000000-0000-0000-0000-000000000000",
    "NotificationsTopicArn": f"arn:aws:sns:{REGION}:123456789012:cloudchat-dev-NotificationsTopic",
    "AlarmTopicArn": f"arn:aws:sns:{REGION}:123456789012:cloudchat-dev-AlarmTopic",
    "OperationsDashboardUrl": f"https://{REGION}.console.aws.amazon.com/cloudwatch/home"
                              f"?region={REGION}#dashboards:name=cloudchat-dev-operations",
    "ApiWebAclArn": f"arn:aws:wafv2:{REGION}:123456789012:regional/webacl/cloudchat-dev-api/"
                    "00000000-0000-0000-0000-000000000000",
}


def stack_template(outputs: dict[str, str]) -> str:
    return json.dumps({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    })


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("cloudformation", region_name=REGION)


def test_the_constants_are_template_yamls_outputs() -> None:
    declared = set(load_template().outputs)
    assert set(OUTPUTS) == declared
    assert set(REQUIRED_OUTPUTS) <= declared


def test_verify_reads_the_stacks_outputs(aws: Any) -> None:
    aws.create_stack(StackName="cloudchat-dev", TemplateBody=stack_template(OUTPUTS))
    target = target_from_stack("cloudchat-dev", REGION)
    described = target.describe()
    assert {k: described[k] for k in ("graphqlUrl", "realtimeUrl", "userPoolId", "userPoolClientId",
                                      "region", "attachmentsBucket", "table", "stack")} == {
        "graphqlUrl": OUTPUTS["GraphQLApiUrl"], "realtimeUrl": OUTPUTS["GraphQLRealtimeUrl"],
        "userPoolId": OUTPUTS["UserPoolId"], "userPoolClientId": OUTPUTS["UserPoolClientId"],
        "region": REGION, "attachmentsBucket": OUTPUTS["AttachmentsBucketName"],
        "table": OUTPUTS["TableName"], "stack": "cloudchat-dev",
    }
    # A deployed stack: the admin API and sign-in go to the regional Cognito, not an emulator.
    assert described["local"] is False and described["cognitoEndpoint"] is None
    assert target.endpoint.host == f"{API}.appsync-api.{REGION}.amazonaws.com"


def test_the_command_line_flags_select_the_stack(aws: Any) -> None:
    aws.create_stack(StackName="cloudchat-dev", TemplateBody=stack_template(OUTPUTS))
    args = build_parser().parse_args(["verify", "--stack", "cloudchat-dev", "--region", REGION])
    assert resolve_target(args).endpoint.user_pool_id == OUTPUTS["UserPoolId"]
    before = build_parser().parse_args(["--stack", "cloudchat-dev", "--region", REGION, "verify"])
    assert resolve_target(before).stack == "cloudchat-dev"


def test_without_region_the_default_region_is_searched(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.create_stack(StackName="cloudchat-dev", TemplateBody=stack_template(OUTPUTS))
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    assert target_from_stack("cloudchat-dev", None).endpoint.region == REGION


def test_no_region_at_all_is_a_clear_error(aws: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(ConfigError, match=r"stack cloudchat-dev: which region\? pass --region"):
        target_from_stack("cloudchat-dev", None)


def test_a_stack_in_another_region_is_not_found(aws: Any) -> None:
    aws.create_stack(StackName="cloudchat-dev", TemplateBody=stack_template(OUTPUTS))
    with pytest.raises(ConfigError, match=r"stack cloudchat-dev in us-west-2: .*does not exist"):
        target_from_stack("cloudchat-dev", "us-west-2")


def test_a_region_output_that_disagrees_with_region_is_refused(aws: Any) -> None:
    boto3.client("cloudformation", region_name="us-west-2").create_stack(
        StackName="odd", TemplateBody=stack_template(OUTPUTS))
    with pytest.raises(ConfigError, match="stack odd is in eu-west-1, not in --region us-west-2"):
        target_from_stack("odd", "us-west-2")


@pytest.mark.parametrize("missing", ["GraphQLApiUrl", "UserPoolId", "UserPoolClientId", "GraphQLRealtimeUrl"])
def test_incomplete_outputs_name_what_is_missing(aws: Any, missing: str) -> None:
    outputs = {k: v for k, v in OUTPUTS.items() if k != missing}
    aws.create_stack(StackName="partial", TemplateBody=stack_template(outputs))
    with pytest.raises(ConfigError, match=f"stack partial lacks the output {missing} that verify needs"):
        target_from_stack("partial", REGION)


def test_a_stack_without_outputs_names_them_all(aws: Any) -> None:
    aws.create_stack(StackName="bare", TemplateBody=stack_template({}))
    with pytest.raises(ConfigError) as info:
        target_from_stack("bare", REGION)
    assert "lacks the outputs GraphQLApiUrl, GraphQLRealtimeUrl, UserPoolId, UserPoolClientId" in str(info.value)


def test_a_stack_that_is_not_deployed_yet_is_refused() -> None:
    class Creating:
        def describe_stacks(self, StackName: str) -> dict[str, Any]:
            return {"Stacks": [{"StackName": StackName, "StackStatus": "CREATE_IN_PROGRESS",
                                "Outputs": []}]}

    with pytest.raises(ConfigError, match="stack s is CREATE_IN_PROGRESS: deploy it"):
        target_from_stack("s", REGION, cloudformation=lambda region: Creating())


def test_a_missing_stack_is_a_clear_error_and_exit_1(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "--stack", "nope", "--region", REGION])
    assert code == 1
    assert "stack nope in eu-west-1: Stack with id nope does not exist" in capsys.readouterr().err


def test_stack_and_outputs_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--stack", "a", "--outputs", "x.json"]) == 1
    assert "give --outputs or --stack, not both" in capsys.readouterr().err


def test_a_missing_outputs_file_is_a_clear_error(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--outputs", str(tmp_path / "none.json"), "verify"]) == 1
    assert f"no stack outputs at {tmp_path / 'none.json'}" in capsys.readouterr().err
