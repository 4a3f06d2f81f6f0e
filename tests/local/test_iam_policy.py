"""cloudchat_local.iam: IAM policy evaluation and reading the template's policies."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from cloudchat_local._identity import credentials_for
from cloudchat_local.iam import AuthzRequest, PolicyError, build_policy_map, evaluate, parse_statements
from cloudchat_local.iam._conditions import condition_matches
from cloudchat_local.template import Template, TemplateError, load_template, load_yaml

KEY = "arn:aws:kms:us-east-1:123456789012:key/k1"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/t"


def policy(*statements: dict[str, Any]) -> list[Any]:
    return parse_statements({"Version": "2012-10-17", "Statement": list(statements)}, "test")


def allowed(statements: list[Any], action: str, resource: str, **context: Any) -> bool:
    ctx = {k.lower(): v for k, v in context.items()}
    return evaluate(statements, AuthzRequest(action, resource, ctx)).allowed


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


# ------------------------------------------------------------------ actions and resources


def test_nothing_is_allowed_without_an_allow() -> None:
    assert not allowed([], "dynamodb:GetItem", TABLE)
    assert not allowed(policy(allow("dynamodb:PutItem", TABLE)), "dynamodb:GetItem", TABLE)


def test_actions_match_case_insensitively_with_wildcards() -> None:
    statements = policy(allow(["DynamoDB:getitem", "kms:GenerateDataKey*", "s3:Get?bject"]))
    assert allowed(statements, "dynamodb:GetItem", TABLE)
    assert allowed(statements, "kms:GenerateDataKeyWithoutPlaintext", KEY)
    assert allowed(statements, "kms:GenerateDataKey", KEY)
    assert allowed(statements, "s3:GetObject", "arn:aws:s3:::b/k")
    assert not allowed(statements, "s3:GetObjectTagging", "arn:aws:s3:::b/k")
    assert not allowed(statements, "kms:Decrypt", KEY)


def test_resources_match_arn_parts_case_sensitively() -> None:
    statements = policy(allow("dynamodb:Query", [TABLE, f"{TABLE}/index/*"]))
    assert allowed(statements, "dynamodb:Query", TABLE)
    assert allowed(statements, "dynamodb:Query", f"{TABLE}/index/GSI1")
    assert not allowed(statements, "dynamodb:Query", TABLE.upper())
    assert not allowed(statements, "dynamodb:Query", f"{TABLE}2")
    assert not allowed(statements, "dynamodb:Query", TABLE.replace("us-east-1", "eu-west-1"))


def test_explicit_deny_wins_over_allow() -> None:
    statements = policy(allow("dynamodb:*", TABLE),
                        {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"})
    assert allowed(statements, "dynamodb:PutItem", TABLE)
    decision = evaluate(statements, AuthzRequest("dynamodb:DeleteItem", TABLE))
    assert not decision.allowed and decision.explicit_deny


def test_not_action_and_not_resource() -> None:
    statements = policy({"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": TABLE},
                        {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b/secret/*"})
    assert allowed(statements, "dynamodb:PutItem", TABLE)
    assert not allowed(statements, "dynamodb:DeleteItem", TABLE)
    assert not allowed(statements, "dynamodb:PutItem", f"{TABLE}2")
    assert allowed(statements, "s3:GetObject", "arn:aws:s3:::b/public/x")
    assert not allowed(statements, "s3:GetObject", "arn:aws:s3:::b/secret/x")


def test_allowed_by_names_every_matching_statement() -> None:
    statements = policy(allow("kms:Decrypt", KEY, Sid="A"), allow("kms:*", KEY))
    assert evaluate(statements, AuthzRequest("kms:Decrypt", KEY)).allowed_by == ("A", "#1")


# ------------------------------------------------------------------ conditions


@pytest.mark.parametrize(("operator", "wanted", "present", "expected"), [
    ("StringEquals", "a", "a", True),
    ("StringEquals", "a", "A", False),
    ("StringEquals", ["x", "a"], "a", True),
    ("StringNotEquals", "a", "b", True),
    ("StringNotEquals", "a", "a", False),
    ("StringEqualsIgnoreCase", "abc", "ABC", True),
    ("StringNotEqualsIgnoreCase", "abc", "ABC", False),
    ("StringLike", "conv-*", "conv-1", True),
    ("StringLike", "conv-?", "conv-12", False),
    ("StringNotLike", "conv-*", "other", True),
    ("StringNotLike", "conv-*", "conv-1", False),
    ("Bool", "true", "true", True),
    ("Bool", "false", "true", False),
    ("ArnLike", "arn:aws:s3:::b/*", "arn:aws:s3:::b/k", True),
    ("ArnLike", "arn:aws:s3:::b/*", "arn:aws:s3:::c/k", False),
    ("ArnEquals", "arn:aws:sns:*:123456789012:t", "arn:aws:sns:us-east-1:123456789012:t", True),
    ("ArnNotLike", "arn:aws:s3:::b/*", "arn:aws:s3:::c/k", True),
    ("ArnNotEquals", "arn:aws:s3:::b/k", "arn:aws:s3:::b/k", False),
    ("NumericLessThanEquals", "10", "10", True),
    ("NumericLessThan", "10", "10", False),
    ("NumericGreaterThan", "10", "11", True),
    ("NumericGreaterThanEquals", "10", "9", False),
    ("NumericEquals", "10", "10.0", True),
    ("NumericNotEquals", "10", "10", False),
    ("NumericEquals", "10", "ten", False),
    ("IpAddress", "10.0.0.0/8", "10.1.2.3", True),
    ("NotIpAddress", "10.0.0.0/8", "10.1.2.3", False),
])
def test_condition_operators(operator: str, wanted: Any, present: str, expected: bool) -> None:
    assert condition_matches({operator: {"k": wanted}}, {"k": present}) is expected


@pytest.mark.parametrize(("operator", "expected"), [
    ("StringEquals", False), ("StringLike", False), ("Bool", False), ("ArnLike", False),
    ("NumericLessThanEquals", False), ("IpAddress", False),
    # Negated operators are true when the key is absent; so are ...IfExists.
    ("StringNotEquals", True), ("StringNotLike", True), ("ArnNotLike", True),
    ("NumericNotEquals", True), ("NotIpAddress", True),
    ("StringEqualsIfExists", True), ("StringLikeIfExists", True),
    ("ForAnyValue:StringEquals", False), ("ForAllValues:StringEquals", True),
])
def test_absent_key(operator: str, expected: bool) -> None:
    assert condition_matches({operator: {"k": "v"}}, {}) is expected


def test_null_tests_presence() -> None:
    assert condition_matches({"Null": {"k": "true"}}, {}) is True
    assert condition_matches({"Null": {"k": "true"}}, {"k": "v"}) is False
    assert condition_matches({"Null": {"k": "false"}}, {"k": "v"}) is True
    assert condition_matches({"Null": {"k": "false"}}, {}) is False


def test_multivalued_keys() -> None:
    keys = {"k": ["a", "b"]}
    assert condition_matches({"ForAnyValue:StringEquals": {"k": "a"}}, keys) is True
    assert condition_matches({"ForAllValues:StringEquals": {"k": "a"}}, keys) is False
    assert condition_matches({"ForAllValues:StringEquals": {"k": ["a", "b", "c"]}}, keys) is True


def test_condition_keys_are_case_insensitive_and_all_must_match() -> None:
    cond = {"StringEquals": {"KMS:ViaService": "s3.us-east-1.amazonaws.com", "kms:CallerAccount": "1"}}
    assert condition_matches(cond, {"kms:viaservice": "s3.us-east-1.amazonaws.com",
                                    "kms:calleraccount": "1"}) is True
    assert condition_matches(cond, {"kms:viaservice": "s3.us-east-1.amazonaws.com"}) is False


def test_encryption_context_and_via_service_conditions() -> None:
    statements = policy(
        allow("kms:Decrypt", KEY, Sid="Keys",
              Condition={"StringLike": {"kms:EncryptionContext:conversationId": "*"}}),
        allow("kms:Decrypt", KEY, Sid="ViaS3",
              Condition={"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}))
    assert allowed(statements, "kms:Decrypt", KEY, **{"kms:EncryptionContext:conversationId": "c1"})
    assert not allowed(statements, "kms:Decrypt", KEY)  # no context, not via S3
    assert allowed(statements, "kms:Decrypt", KEY, **{"kms:ViaService": "s3.us-east-1.amazonaws.com"})
    assert not allowed(statements, "kms:Decrypt", KEY,
                       **{"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"})


def test_an_unknown_operator_never_allows_and_always_denies() -> None:
    assert condition_matches({"DateLessThanEquals": {"aws:CurrentTime": "2030-01-01"}}, {}) is not True
    from cloudchat_local.iam._policy import Statement
    from cloudchat_local.iam._policy import evaluate as run

    unknown = {"StringMatchesRegex": {"k": ".*"}}
    allow_it = [Statement("A", "Allow", actions=("s3:*",), resources=("*",), condition=unknown)]
    assert not run(allow_it, AuthzRequest("s3:GetObject", "arn:aws:s3:::b/k", {"k": "v"})).allowed
    deny_it = [Statement("A", "Allow", actions=("s3:*",), resources=("*",)),
               Statement("D", "Deny", actions=("s3:*",), resources=("*",), condition=unknown)]
    assert run(deny_it, AuthzRequest("s3:GetObject", "arn:aws:s3:::b/k", {"k": "v"})).explicit_deny


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(("document", "message"), [
    ({"Version": "2012-10-17", "Statement": [allow("s3:*", Condition={"DateLessThan": {"k": "x"}})]},
     "not supported"),
    ({"Version": "2012-10-17", "Statement": [allow("s3:*", "arn:aws:s3:::b/${aws:username}/*")]},
     "policy variable"),
    ({"Version": "2008-10-17", "Statement": [allow("s3:*")]}, "Version"),
    ({"Version": "2012-10-17", "Statement": [{**allow("s3:*"), "Principal": "*"}]}, "Principal"),
    ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}, "Resource"),
    ({"Version": "2012-10-17", "Statement": [allow({"Fn::GetAtt": ["X", "Arn"]})]}, "strings"),
])
def test_policies_that_cannot_be_evaluated_are_refused(document: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_statements(document, "test")


def _resolve(template: Template) -> dict[str, str]:
    key = "arn:aws:kms:us-east-1:123456789012:key/k1"
    values = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
              "AWS::StackName": "cloudchat-local", "ChatKey": "k1", "ChatKey.Arn": key,
              "Table": "cloudchat-local-Table", "Table.Arn": TABLE,
              "AttachmentsBucket": "bucket", "AttachmentsBucket.Arn": "arn:aws:s3:::bucket",
              "UserPool": "us-east-1_x", "UserPool.Arn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x",
              "NotificationsTopic": "arn:aws:sns:us-east-1:123456789012:topic",
              "GraphQLApi.ApiId": "local", "GraphQLApi.Arn": "arn:aws:appsync:us-east-1:123456789012:apis/local"}
    for function in template.functions():
        values.setdefault(function.logical_id, f"cloudchat-local-{function.logical_id}")
    return values


def test_every_template_function_gets_its_resolved_policies() -> None:
    template = load_template()
    policies = build_policy_map(template, _resolve(template))
    messages = policies.by_logical_id("MessagesFunction")
    assert messages.access_key_id == credentials_for("MessagesFunction")[0]
    assert messages.principal_arn == ("arn:aws:sts::123456789012:assumed-role/"
                                      "cloudchat-local-MessagesFunctionRole/cloudchat-local-MessagesFunction")
    table = next(s for s in messages.statements if s.sid == "Table")
    assert table.resources == (TABLE, f"{TABLE}/index/*")
    stream = policies.by_logical_id("StreamFunction")
    graphql = next(s for s in stream.statements if s.sid == "PublishUserEvents")
    assert graphql.resources == (
        "arn:aws:appsync:us-east-1:123456789012:apis/local/types/Mutation/fields/publishUserEvent",)
    assert policies.bucket_keys["bucket"] == {"key": "arn:aws:kms:us-east-1:123456789012:key/k1",
                                              "bucket_key": True}
    assert {f.logical_id for f in policies.functions.values()} == {
        f.logical_id for f in template.functions()}
    # It survives its JSON form (what the moto server is sent).
    from cloudchat_local.iam import PolicyMap

    assert PolicyMap.from_json(policies.to_json()) == policies


@pytest.mark.parametrize("form", [
    {"DynamoDBCrudPolicy": {"TableName": {"Ref": "Table"}}},
    "AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess",
])
def test_a_sam_policy_template_or_managed_policy_refuses_to_start(form: Any, tmp_path: Path) -> None:
    document = copy.deepcopy(dict(load_template().document))
    document["Resources"]["MessagesFunction"]["Properties"]["Policies"].append(form)
    template = Template(document, tmp_path / "template.yaml")
    with pytest.raises(PolicyError, match=r"MessagesFunction\.Policies") as caught:
        build_policy_map(template, _resolve(template))
    assert isinstance(caught.value, TemplateError)  # the local stack reports it and exits


def test_an_unresolvable_reference_refuses_to_start() -> None:
    template = load_template()
    resolve = _resolve(template)
    del resolve["ChatKey.Arn"]
    with pytest.raises(PolicyError, match=r"ChatKey\.Arn"):
        build_policy_map(template, resolve)


def test_load_yaml_keeps_the_policy_version_a_string() -> None:
    assert load_yaml("Version: 2012-10-17")["Version"] == "2012-10-17"
