"""cloudchat_local.template: the CloudFormation YAML loader and intrinsic resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudchat_local.template import (
    DEFAULT_TEMPLATE_PATH,
    Template,
    TemplateError,
    UnresolvedReference,
    load_template,
    load_yaml,
)

DOC = """
AWSTemplateFormatVersion: 2010-09-09
Parameters:
  Stage: {Type: String, Default: dev}
  Size: {Type: Number, Default: 7}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
Globals:
  Function:
    CodeUri: src/handlers/
    Handler: app.main
    Environment:
      Variables:
        A: !Ref Size
        B: from-globals
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: pkg.mod.handle
      Environment:
        Variables:
          B: !Sub "${AWS::StackName}-${Stage}-${!Literal}"
          C: !GetAtt Key.Arn
          D: !If [IsProd, !Ref Missing, fallback]
          E: !Join ["/", [a, !Select [1, [x, y]]]]
          F: !Sub "{{resolve:secretsmanager:${Secret}:SecretString}}"
          G: !Sub ["${X}.${Key.Arn}", {X: !Ref Stage}]
          H: !Ref AWS::NoValue
  Key: {Type: AWS::KMS::Key}
  Secret: {Type: AWS::SecretsManager::Secret}
"""

RESOLVE = {
    "AWS::StackName": "stack",
    "Key.Arn": "arn:key",
    "Secret.SecretString": "s3cret",
}


@pytest.fixture
def doc_template(tmp_path: Path) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(DOC)
    return load_template(path)


def test_short_forms_become_long_forms() -> None:
    doc = load_yaml("a: !GetAtt A.B.C\nb: !Ref X\nc: !Sub ['${a}', {a: 1}]\nd: 2012-10-17\n")
    assert doc == {
        "a": {"Fn::GetAtt": ["A", "B.C"]},
        "b": {"Ref": "X"},
        "c": {"Fn::Sub": ["${a}", {"a": 1}]},
        "d": "2012-10-17",
    }


def test_function_environment_merges_globals_and_resolves(doc_template: Template) -> None:
    env = doc_template.function_environment("Fn", RESOLVE)
    assert env == {
        "A": "7",
        "B": "stack-dev-${Literal}",
        "C": "arn:key",
        "D": "fallback",
        "E": "a/y",
        "F": "s3cret",
        "G": "dev.arn:key",
    }


def test_parameters_can_be_overridden(doc_template: Template) -> None:
    assert doc_template.condition("IsProd", {}) is False
    assert doc_template.condition("NotProd", {"Stage": "prod"}) is False
    with pytest.raises(UnresolvedReference, match="Missing"):
        doc_template.function_environment("Fn", {**RESOLVE, "Stage": "prod"})


def test_unresolved_reference_names_the_key(doc_template: Template) -> None:
    with pytest.raises(UnresolvedReference) as info:
        doc_template.function_environment("Fn", {"AWS::StackName": "s"})
    assert info.value.key in {"Key.Arn", "Secret.SecretString"}


def test_module_derivation(doc_template: Template) -> None:
    function = doc_template.function("Fn")
    assert (function.module, function.handler_attr) == ("src.handlers.pkg.mod", "handle")


def test_errors(doc_template: Template, tmp_path: Path) -> None:
    with pytest.raises(TemplateError):
        doc_template.function("Key")
    with pytest.raises(TemplateError):
        doc_template.resource("Nope")
    with pytest.raises(TemplateError):
        doc_template.table()  # no table in this document
    bad = tmp_path / "bad.yaml"
    bad.write_text("just: text\n")
    with pytest.raises(TemplateError):
        load_template(bad)


def test_default_path_is_the_repository_template() -> None:
    assert Path(__file__).resolve().parents[2] / "template.yaml" == DEFAULT_TEMPLATE_PATH
    assert load_template().path == DEFAULT_TEMPLATE_PATH


def test_table_kwargs_for_provisioned_billing(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        """
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      ProvisionedThroughput: {ReadCapacityUnits: 2, WriteCapacityUnits: 3}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: false}
"""
    )
    template = load_template(path)
    kwargs = template.table_create_kwargs("x")
    assert kwargs["BillingMode"] == "PROVISIONED"
    assert kwargs["ProvisionedThroughput"] == {"ReadCapacityUnits": 2, "WriteCapacityUnits": 3}
    assert "StreamSpecification" not in kwargs
    assert template.ttl_attribute() is None
