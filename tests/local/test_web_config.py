"""The web client's config.json for a deployed stack, from (fake) CloudFormation outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudchat_local import web_config
from cloudchat_local.web_config import (
    WebConfigError,
    config_from_stack_outputs,
    local_config,
    outputs_by_key,
)

OUTPUTS = [
    {"OutputKey": "GraphQLApiUrl", "OutputValue": "https://abc.appsync-api.eu-west-1.amazonaws.com/graphql"},
    {"OutputKey": "GraphQLRealtimeUrl", "OutputValue": "wss://abc.appsync-realtime-api.eu-west-1.amazonaws.com/graphql"},
    {"OutputKey": "UserPoolId", "OutputValue": "eu-west-1_AbCdEf123"},
    {"OutputKey": "UserPoolClientId", "OutputValue": "4tq1example"},
    {"OutputKey": "Region", "OutputValue": "eu-west-1"},
    {"OutputKey": "TableName", "OutputValue": "cloudchat-dev-Table"},
]


def test_deployed_stack_outputs_map_to_an_srp_config() -> None:
    assert config_from_stack_outputs(OUTPUTS) == {
        "graphqlUrl": "https://abc.appsync-api.eu-west-1.amazonaws.com/graphql",
        "region": "eu-west-1",
        "userPoolId": "eu-west-1_AbCdEf123",
        "userPoolClientId": "4tq1example",
        "authFlow": "USER_SRP_AUTH",
        "cognitoEndpoint": None,
        "stage": "aws",
    }


def test_region_falls_back_to_the_pool_id_then_the_argument() -> None:
    without_region = [o for o in OUTPUTS if o["OutputKey"] != "Region"]
    assert config_from_stack_outputs(without_region)["region"] == "eu-west-1"
    odd_pool = [*without_region[:2], {"OutputKey": "UserPoolId", "OutputValue": "pool"}, *without_region[3:]]
    assert config_from_stack_outputs(odd_pool, region="us-west-2")["region"] == "us-west-2"
    with pytest.raises(WebConfigError, match="region"):
        config_from_stack_outputs(odd_pool)


@pytest.mark.parametrize("missing", ["GraphQLApiUrl", "UserPoolId", "UserPoolClientId"])
def test_missing_outputs_are_named(missing: str) -> None:
    with pytest.raises(WebConfigError, match=missing):
        config_from_stack_outputs([o for o in OUTPUTS if o["OutputKey"] != missing])


def test_plain_http_and_unknown_flows_are_refused() -> None:
    http = {**outputs_by_key(OUTPUTS), "GraphQLApiUrl": "http://example.com/graphql"}
    with pytest.raises(WebConfigError, match="https"):
        config_from_stack_outputs(http)
    with pytest.raises(WebConfigError, match="auth flow"):
        config_from_stack_outputs(OUTPUTS, auth_flow="CUSTOM_AUTH")


def test_a_mapping_works_like_the_describe_stacks_list() -> None:
    assert config_from_stack_outputs(outputs_by_key(OUTPUTS)) == config_from_stack_outputs(OUTPUTS)


def test_local_config_uses_password_auth_and_moto() -> None:
    config = local_config(graphql_url="https://127.0.0.1:4443/graphql", region="us-east-1",
                          user_pool_id="us-east-1_x", user_pool_client_id="c",
                          cognito_endpoint="http://127.0.0.1:4010")
    assert config["authFlow"] == "USER_PASSWORD_AUTH"
    assert config["cognitoEndpoint"] == "http://127.0.0.1:4010"
    assert config["stage"] == "local"


class FakeCloudFormation:
    def __init__(self, outputs: list[dict[str, Any]]) -> None:
        self.outputs = outputs
        self.meta = type("Meta", (), {"region_name": "eu-west-1"})()
        self.calls: list[dict[str, Any]] = []

    def describe_stacks(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"Stacks": [{"StackName": kwargs["StackName"], "Outputs": self.outputs}]}


def test_main_writes_the_file_from_describe_stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import boto3

    fake = FakeCloudFormation(OUTPUTS)
    monkeypatch.setattr(boto3, "client", lambda service, **_kw: fake if service == "cloudformation" else None)
    out = tmp_path / "public" / "config.json"
    assert web_config.main(["--stack", "cloudchat-dev", "--out", str(out)]) == 0
    assert fake.calls == [{"StackName": "cloudchat-dev"}]
    assert json.loads(out.read_text()) == config_from_stack_outputs(OUTPUTS)
    assert "cloudchat-dev" in capsys.readouterr().out


def test_main_reports_missing_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    import boto3

    monkeypatch.setattr(boto3, "client", lambda service, **_kw: FakeCloudFormation(OUTPUTS[3:]))
    out = tmp_path / "config.json"
    assert web_config.main(["--stack", "cloudchat-dev", "--out", str(out)]) == 1
    assert not out.exists()
    assert "GraphQLApiUrl" in capsys.readouterr().err
