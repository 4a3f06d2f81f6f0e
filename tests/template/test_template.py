"""template.yaml: lints clean, deploys what the design asks for, and wires exactly the schema."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLObjectType

from cloudchat_local.emulator import build_appsync_schema
from cloudchat_local.template import (
    SERVERLESS_FUNCTION,
    FieldWiring,
    Template,
    iter_intrinsics,
    load_template,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"


ROOT_TYPES = ("Query", "Mutation", "Subscription")

# The DynamoDB actions each function may have: nothing more (and never Scan).
DYNAMODB_ACTIONS = {
    "UsersFunction": {"GetItem", "PutItem", "UpdateItem", "Query", "BatchGetItem",
                      "DeleteItem", "ConditionCheckItem"},  # (unblockUser; deleteAccount, registerDevice)
    "ConversationsFunction": {
        "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchGetItem",
        "ConditionCheckItem",  # (the block checks of createConversation and addMembers)
    },
    "MessagesFunction": {
        "GetItem", "PutItem", "UpdateItem", "Query", "BatchGetItem", "ConditionCheckItem",
        "DeleteItem",  # search postings, in an edit's or delete's transaction
    },
    "ReceiptsFunction": {"GetItem", "UpdateItem", "Query", "ConditionCheckItem", "BatchGetItem"},
    "StreamFunction": {"GetItem", "UpdateItem", "Query", "BatchGetItem",
                       "PutItem", "DeleteItem"},  # (search postings; account deletion's steps)
    "CognitoTriggerFunction": {"PutItem"},
}
# Envelope-encryption actions on the chat key (encryption context {conversationId}).
CONVERSATION_KEY_ACTIONS = {
    "UsersFunction": set(),  # profiles, directory and presence hold no message
    "ConversationsFunction": {"kms:GenerateDataKey", "kms:Decrypt"},
    "MessagesFunction": {"kms:Decrypt"},
    "ReceiptsFunction": set(),  # receipts and typing never touch message bodies
    "StreamFunction": {"kms:Decrypt"},  # message previews for user events
    "CognitoTriggerFunction": set(),
}
# Fields resolved on the NONE data source (server-side publishing, IAM only).
NONE_FIELDS = {"Mutation.publishUserEvent"}
EXPECTED_FIELDS = {
    "UsersFunction": {
        "Query.me", "Query.users", "Query.usersByIds", "Query.presence", "Mutation.updateProfile",
        "Mutation.heartbeat", "Subscription.onUserEvent", "Mutation.registerDevice",
        "Mutation.adminCreateUser",
        "Mutation.blockUser", "Mutation.unblockUser", "Query.blockedUsers",
        "Mutation.updateNotificationSettings",
        "Mutation.deleteAccount",
        "Mutation.adminDeleteUser",
    },
    "ConversationsFunction": {
        "Query.conversation", "Query.conversations", "Query.members", "Mutation.createConversation",
        "Mutation.addMembers", "Mutation.removeMember", "Mutation.leaveConversation",
        "Mutation.setMemberRole", "Subscription.onMembershipChange", "Mutation.muteConversation",
        "Mutation.renameConversation",
    },
    "MessagesFunction": {
        "Query.messages", "Query.messagesSince", "Query.thread", "Query.editHistory",
        "Mutation.sendMessage", "Mutation.editMessage", "Mutation.deleteMessage",
        "Mutation.addReaction", "Mutation.removeReaction", "Subscription.onMessage",
        "Mutation.reportMessage", "Query.reportedMessages", "Mutation.requestUpload",
        "Query.searchMessages",
    },
    "ReceiptsFunction": {
        "Mutation.markRead", "Mutation.markDelivered", "Mutation.sendTyping",
        "Query.readReceipts", "Subscription.onReceipt", "Subscription.onTyping",
    },
}
OUTPUTS = {
    "GraphQLApiUrl", "GraphQLRealtimeUrl", "UserPoolId", "UserPoolClientId", "Region",
    "TableName", "KmsKeyArn", "NotificationsTopicArn", "AttachmentsBucketName",
}
FUNCTION_ENV = {
    "ATTACHMENTS_BUCKET", "MAX_UPLOAD_BYTES", "TABLE_NAME", "KMS_KEY_ID", "TOKEN_SECRET", "MAX_GROUP_MEMBERS", "EDIT_WINDOW_SECONDS",
    "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL",
}
# What the local stack would fill in; enough to resolve every function environment.
DUMMY_RESOLVE = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "cloudchat-test",
    "Table": "cloudchat-test-table",
    "ChatKey": "key-id",
    "ChatKey.Arn": "arn:aws:kms:us-east-1:123456789012:key/key-id",
    "TokenSecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:token",
    "TokenSecret.SecretString": "template-test-token-secret",
    "GraphQLApi.GraphQLUrl": "https://example.appsync-api.us-east-1.amazonaws.com/graphql",
    "GraphQLApi.ApiId": "exampleapiid",
    "AttachmentsBucket": "cloudchat-test-attachments",
    "NotificationsTopic": "arn:aws:sns:us-east-1:123456789012:cloudchat-test-notifications",
    "UserPool": "us-east-1_Example01",
}


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


@pytest.fixture(scope="module")
def wiring(template: Template) -> list[FieldWiring]:
    return template.field_wiring()


def _tool(name: str) -> str:
    candidate = ROOT / ".venv" / "bin" / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    return found


def _offline_env(tmp_path: Path) -> dict[str, str]:
    """Dummy credentials and a SAM CLI config dir whose version check is recent, so SAM CLI
    makes no network call (no telemetry, no update check)."""
    app_dir = tmp_path / "sam-app"
    app_dir.mkdir()
    (app_dir / "metadata.json").write_text(
        json.dumps({"lastVersionCheck": time.time(), "telemetryEnabled": False})
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAM_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        SAM_CLI_TELEMETRY="0",
        __SAM_CLI_APP_DIR=str(app_dir),
    )
    return env


# --------------------------------------------------------------------------- linters


def test_cfn_lint_is_clean() -> None:
    result = subprocess.run(
        [_tool("cfn-lint"), "--", str(TEMPLATE)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_only_ignored_cfn_lint_finding_is_the_known_false_e6101() -> None:
    """template.yaml ignores E6101 (cfn-lint's SAM GraphQLApi schema has no attributes):
    forced back on, it must flag exactly the two URL outputs, nothing else."""
    result = subprocess.run(
        [_tool("cfn-lint"), "--format", "json", "--mandatory-checks", "E6101", "--",
         str(TEMPLATE)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )
    findings = json.loads(result.stdout or "[]")
    flagged = sorted(
        (f["Rule"]["Id"], tuple(f["Location"]["Path"][:2])) for f in findings
    )
    assert flagged == [
        ("E6101", ("Outputs", "GraphQLApiUrl")),
        ("E6101", ("Outputs", "GraphQLRealtimeUrl")),
    ], result.stdout + result.stderr


@pytest.mark.skipif(not SAM.exists(), reason="SAM CLI not installed in .venv-sam (make install)")
def test_sam_validate_lint(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(SAM), "validate", "--lint", "--region", "us-east-1", "--template-file",
         str(TEMPLATE)],
        capture_output=True, text=True, cwd=ROOT, env=_offline_env(tmp_path), timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


_TRANSFORM = r"""
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

LOCAL_URIS = {"CodeUri", "ContentUri", "SchemaUri", "DefinitionUri"}

def to_s3(node):
    if isinstance(node, dict):
        return {k: ("s3://cloudchat-artifacts/" + v.strip("/")
                    if k in LOCAL_URIS and isinstance(v, str) and not v.startswith("s3://")
                    else to_s3(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [to_s3(v) for v in node]
    return node

class NoManagedPolicies:
    def load(self):
        return {}

template = to_s3(yaml_parse(open(sys.argv[1]).read()))
json.dump(transform(template, {}, NoManagedPolicies()), open(sys.argv[2], "w"), indent=1)
"""


@pytest.mark.skipif(not SAM_PYTHON.exists(), reason="SAM CLI not installed in .venv-sam")
def test_sam_transformed_template_is_lint_clean(tmp_path: Path) -> None:
    """cfn-lint on the SAM output checks what it cannot see in SAM syntax: the IAM policies
    SAM generates (e.g. that every action exists), the AppSync resources, the outputs."""
    out = tmp_path / "transformed.json"
    transform = subprocess.run(
        [str(SAM_PYTHON), "-c", _TRANSFORM, str(TEMPLATE), str(out)],
        capture_output=True, text=True, env=_offline_env(tmp_path), timeout=300, check=False,
    )
    assert transform.returncode == 0, transform.stderr
    transformed = json.loads(out.read_text())
    types = Counter(r["Type"] for r in transformed["Resources"].values())
    assert types["AWS::AppSync::Resolver"] == (
        sum(len(v) for v in EXPECTED_FIELDS.values()) + len(NONE_FIELDS))
    assert types["AWS::AppSync::FunctionConfiguration"] == len(EXPECTED_FIELDS) + len(NONE_FIELDS)
    lint = subprocess.run(
        [_tool("cfn-lint"), "--", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


# --------------------------------------------------------------------------- schema wiring


@pytest.fixture(scope="module")
def schema(template: Template) -> Any:
    return build_appsync_schema(template.schema_path().read_text())


def test_schema_is_the_repository_schema(template: Template) -> None:
    assert template.schema_path() == ROOT / "schema.graphql"


def test_every_root_field_is_wired_and_every_wired_field_exists(
    schema: Any, wiring: list[FieldWiring]
) -> None:
    schema_roots = {
        f"{type_name}.{field}"
        for type_name in ROOT_TYPES
        if isinstance(schema.get_type(type_name), GraphQLObjectType)
        for field in schema.get_type(type_name).fields
    }
    wired = [w.coordinate for w in wiring]
    assert len(wired) == len(set(wired)), f"a field is wired twice: {wired}"
    for w in wiring:
        gql_type = schema.get_type(w.type_name)
        assert isinstance(gql_type, GraphQLObjectType), f"{w.coordinate}: no such type"
        assert w.field_name in gql_type.fields, f"{w.coordinate}: no such field in the schema"
    missing = schema_roots - set(wired)
    assert not missing, f"schema fields without a resolver in template.yaml: {sorted(missing)}"


# deleteConversation (crypto-shredding) and the purge of what it leaves.
DYNAMODB_ACTIONS["StreamFunction"].add("BatchWriteItem")
EXPECTED_FIELDS["ConversationsFunction"].add("Mutation.deleteConversation")


def test_fields_go_to_the_designed_functions(wiring: list[FieldWiring]) -> None:
    by_function: dict[str, set[str]] = {}
    for w in wiring:
        if w.data_source_kind == "NONE":
            assert w.coordinate in NONE_FIELDS and w.function_logical_id is None
            continue
        by_function.setdefault(str(w.function_logical_id), set()).add(w.coordinate)
    assert by_function == EXPECTED_FIELDS


#: Fields whose resolver has its own code (the rest: SAM's default pass-through).
RESOLVER_CODE = {
    **{f"Subscription.{f}": "subscribe.js" for f in ("onMessage", "onReceipt", "onTyping", "onMembershipChange")},
    **{f"Mutation.{f}": "revoke.js" for f in ("removeMember", "leaveConversation")},
}
RESOLVER_CODE["Mutation.deleteConversation"] = "revoke.js"  # closes every member's subscriptions


def test_lambda_fields_derive_their_handler_module(
    template: Template, wiring: list[FieldWiring]
) -> None:
    for w in wiring:
        if w.coordinate in NONE_FIELDS:
            assert w.data_source_kind == "NONE"
            assert w.code_path == ROOT / "appsync" / "publish.js"
            continue
        assert w.data_source_kind == "LAMBDA"
        assert w.function_logical_id is not None
        function = template.function(w.function_logical_id)
        assert function.code_uri.rstrip("/") == "resolvers"
        handler_module, _, attr = function.handler.rpartition(".")
        assert w.module == f"resolvers.{handler_module}"
        assert w.handler_attr == attr == "lambda_handler"
        assert w.code_path == ROOT / "appsync" / "invoke.js"
        assert w.code_path.exists()
        if w.coordinate in RESOLVER_CODE:  # subscription filters / invalidation
            assert w.resolver_code_path == ROOT / "appsync" / RESOLVER_CODE[w.coordinate]
            assert w.resolver_code_path.exists()
        else:
            assert w.resolver_code_path is None  # SAM's default pass-through resolver code


def test_handler_modules_import_and_route_their_fields(
    template: Template, wiring: list[FieldWiring], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only for resolver files that exist yet; a module that exists must import, expose its
    handler, and (Powertools AppSyncResolver) route exactly the fields wired to it."""
    checked = 0
    for function in template.functions():
        path = ROOT / (function.module.replace(".", "/") + ".py")
        if not path.exists():
            continue
        for name, value in template.function_environment(function.logical_id, DUMMY_RESOLVE).items():
            monkeypatch.setenv(name, value)
        module = importlib.import_module(function.module)
        assert callable(getattr(module, function.handler_attr, None)), function.module
        routes = getattr(getattr(module, "app", None), "routes", None)
        if isinstance(routes, dict):
            wired = {w.coordinate for w in wiring if w.function_logical_id == function.logical_id}
            assert set(routes) == wired, f"{function.module} routes {sorted(routes)}"
        checked += 1
    if not checked:
        pytest.skip("no resolver module written yet")


# --------------------------------------------------------------------------- resources


def _statements(template: Template, logical_id: str) -> list[dict[str, Any]]:
    policies = template.resource(logical_id).properties.get("Policies")
    assert isinstance(policies, list) and policies, f"{logical_id}: no inline policies"
    statements: list[dict[str, Any]] = []
    for policy in policies:
        assert isinstance(policy, dict) and "Statement" in policy, (
            f"{logical_id}: only inline policy documents (no managed or SAM template policies)"
        )
        # a statement only some deployments have (!If [cond, statement, AWS::NoValue]): its
        # granting form is held to the same rules
        statements += [st["Fn::If"][1] if "Fn::If" in st else st for st in policy["Statement"]]
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("logical_id", sorted(DYNAMODB_ACTIONS))
def test_function_policies_are_least_privilege(template: Template, logical_id: str) -> None:
    table_resources = [{"Fn::GetAtt": ["Table", "Arn"]}, {"Fn::Sub": "${Table.Arn}/index/*"}]
    key = {"Fn::GetAtt": ["ChatKey", "Arn"]}
    dynamodb: set[str] = set()
    conversation_key: set[str] = set()
    for statement in _statements(template, logical_id):
        assert statement["Effect"] == "Allow"
        actions = _as_list(statement["Action"])
        resources = _as_list(statement["Resource"])
        assert all(isinstance(r, dict) for r in resources), f"literal resource in {statement}"
        assert "*" not in resources
        assert all(a != "*" and not a.endswith(":*") for a in actions), statement
        services = {a.split(":")[0] for a in actions}
        assert len(services) == 1, f"one service per statement: {statement}"
        if services == {"dynamodb"}:
            # the table, and its indexes only where they are queried
            # (a Query of the base table needs the table's ARN only)
            assert resources[0] == table_resources[0] and resources[1:] in ([], table_resources[1:]), statement
            dynamodb |= {a.split(":")[1] for a in actions}
        elif services == {"kms"}:
            assert resources == [key], statement
            condition = statement.get("Condition") or {}
            if condition.get("StringLike") == {"kms:EncryptionContext:conversationId": "*"}:
                conversation_key |= set(actions)
            else:
                # The table (and the attachments) are encrypted at rest with the chat key:
                # only through DynamoDB (or S3).
                assert condition in ({"StringEquals": {"kms:ViaService": {
                    "Fn::Sub": f"{svc}.${{AWS::Region}}.amazonaws.com"}}} for svc in ("dynamodb", "s3")
                ), statement
        elif services == {"s3"}:
            # Attachments, only under conversations/: the messages function uploads, checks
            # and presigns; the conversations function presigns GETs (last messages); the
            # stream consumer tags a deleted account's attachments for expiry.
            # Exact statements: tests/template/test_policies.py.
            if logical_id == "StreamFunction" and actions == ["s3:DeleteObject"]:
                # the purge of a deleted conversation's uploads
                assert resources == [{"Fn::Sub": "${AttachmentsBucket.Arn}/conversations/*"}]
                continue
            assert logical_id in ("MessagesFunction", "ConversationsFunction", "StreamFunction"), statement
            if actions == ["s3:ListBucket"]:
                assert resources == [{"Fn::GetAtt": ["AttachmentsBucket", "Arn"]}], statement
                assert statement["Condition"] == {"StringLike": {"s3:prefix": "conversations/*"}}
            else:
                assert set(actions) <= {"s3:PutObject", "s3:PutObjectTagging", "s3:GetObject"}
                assert resources == [{"Fn::Sub": "${AttachmentsBucket.Arn}/conversations/*"}]
        elif services == {"sns"}:
            assert logical_id in ("StreamFunction", "UsersFunction"), statement
            assert set(actions) <= {"sns:Publish", "sns:CreatePlatformEndpoint",
                                    "sns:DeleteEndpoint"}, statement
        elif services == {"cognito-idp"}:
            # admins create and delete users; turning e-mail notices on reads the address
            assert logical_id == "UsersFunction" and actions in (
                ["cognito-idp:AdminCreateUser"], ["cognito-idp:AdminGetUser"],
                ["cognito-idp:AdminUserGlobalSignOut", "cognito-idp:AdminDeleteUser"]), statement
            assert resources == [{"Fn::GetAtt": ["UserPool", "Arn"]}], statement
        elif services == {"ses"}:
            # e-mail notices: only the stream consumer sends, only from NoticeSender
            assert logical_id == "StreamFunction" and actions == ["ses:SendEmail"], statement
            assert statement["Condition"] == {
                "StringEquals": {"ses:FromAddress": {"Ref": "NoticeSender"}}}, statement
        elif services == {"appsync"}:
            # Only the stream consumer publishes, and only through the IAM-only field.
            assert logical_id == "StreamFunction" and actions == ["appsync:GraphQL"], statement
            (arn,) = resources
            assert arn["Fn::Sub"].endswith("/types/Mutation/fields/publishUserEvent"), statement
        else:
            pytest.fail(f"{logical_id}: unexpected service in {statement}")
    assert dynamodb == DYNAMODB_ACTIONS[logical_id]
    assert "Scan" not in dynamodb
    assert conversation_key == CONVERSATION_KEY_ACTIONS[logical_id]


def test_functions_globals(template: Template) -> None:
    g = template.function_globals
    assert g["Runtime"] == "python3.12"
    assert g["Architectures"] == ["arm64"]
    assert g["MemorySize"] == 512 and g["Timeout"] == 10 and g["Tracing"] == "Active"
    assert g["CodeUri"] == "resolvers/"
    assert g["Layers"] == [{"Ref": "SharedLayer"}]
    env = g["Environment"]["Variables"]
    assert set(env) == FUNCTION_ENV
    assert env["TOKEN_SECRET"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${TokenSecret}:SecretString}}"
    }
    assert env["KMS_KEY_ID"] == {"Fn::GetAtt": ["ChatKey", "Arn"]}
    layer = template.resource("SharedLayer")
    assert layer.properties["ContentUri"] == "layers/shared/"
    assert layer.metadata == {"BuildMethod": "python3.12", "BuildArchitecture": "arm64"}
    assert (ROOT / "layers" / "shared" / "requirements.txt").exists()
    assert (ROOT / "layers" / "shared" / "cloudchat" / "__init__.py").exists()


@pytest.mark.parametrize("logical_id", sorted(DYNAMODB_ACTIONS))
def test_each_function_logs_json_to_its_own_retained_log_group(
    template: Template, logical_id: str
) -> None:
    function = template.function(logical_id)
    logging = function.properties["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    group = template.resource(logging["LogGroup"]["Ref"])
    assert group.type == "AWS::Logs::LogGroup"
    assert group.properties["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    name = template.evaluate(group.properties["LogGroupName"], DUMMY_RESOLVE)
    function_name = template.evaluate(function.properties["FunctionName"], DUMMY_RESOLVE)
    assert name == f"/aws/lambda/{function_name}"


def test_function_environment_resolves(template: Template) -> None:
    for function in template.functions():
        env = template.function_environment(function.logical_id, DUMMY_RESOLVE)
        extra = {
            "StreamFunction": {"APPSYNC_URL", "NOTIFICATIONS_TOPIC_ARN", "NOTIFY_WINDOW_SECONDS",
                               "NOTICE_SENDER", "NOTICE_INCLUDES_TEXT", "FANOUT_WORKERS",
                               "LARGE_GROUP_THRESHOLD"},
            "UsersFunction": {"PUSH_PLATFORM_APPLICATIONS", "USER_POOL_ID", "NOTICE_SENDER",
                              "NOTICE_INCLUDES_TEXT"},
        }.get(function.logical_id, set())
        assert set(env) == FUNCTION_ENV | extra
        assert env["TABLE_NAME"] == "cloudchat-test-table"
        assert env["KMS_KEY_ID"] == DUMMY_RESOLVE["ChatKey.Arn"]
        assert env["TOKEN_SECRET"] == "template-test-token-secret"
        assert env["MAX_GROUP_MEMBERS"] == "100"
        assert env["EDIT_WINDOW_SECONDS"] == "900"
        if function.logical_id == "StreamFunction":
            assert env["LARGE_GROUP_THRESHOLD"] == "20"


def test_table(template: Template) -> None:
    table = template.table()
    assert table.definition["DeletionPolicy"] == "Retain"
    assert table.definition["UpdateReplacePolicy"] == "Retain"
    p = table.properties
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["SSESpecification"] == {
        "SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Fn::GetAtt": ["ChatKey", "Arn"]},
    }
    assert template.ttl_attribute() == "expiresAt"
    kwargs = template.table_create_kwargs("t")
    assert kwargs["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in kwargs["AttributeDefinitions"]} == {
        k: "S" for k in ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK")
    }
    assert [
        (i["IndexName"], [k["AttributeName"] for k in i["KeySchema"]], i["Projection"])
        for i in kwargs["GlobalSecondaryIndexes"]
    ] == [
        ("GSI1", ["GSI1PK", "GSI1SK"], {"ProjectionType": "ALL"}),
        ("GSI2", ["GSI2PK", "GSI2SK"], {"ProjectionType": "ALL"}),
        ("GSI3", ["GSI3PK", "GSI3SK"], {"ProjectionType": "ALL"}),
    ]


def test_kms_key_and_secret(template: Template) -> None:
    key = template.kms_key()
    assert key.properties["EnableKeyRotation"] is True
    assert key.definition["DeletionPolicy"] == "Retain"  # it encrypts the retained table
    (statement,) = key.properties["KeyPolicy"]["Statement"]
    assert statement["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    (alias,) = template.kms_aliases()
    assert alias.properties == {
        "AliasName": {"Fn::Sub": "alias/${AWS::StackName}-chat"},
        "TargetKeyId": {"Ref": key.logical_id},
    }
    (secret,) = template.secrets()
    assert secret.properties["GenerateSecretString"] == {
        "PasswordLength": 64, "ExcludePunctuation": True,
    }


def test_cognito(template: Template) -> None:
    pool = template.user_pool().properties
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 8
    assert template.evaluate(pool["AdminCreateUserConfig"], {}) == {
        "AllowAdminCreateUserOnly": False
    }
    assert template.evaluate(pool["AdminCreateUserConfig"], {"AllowSelfSignUp": "false"}) == {
        "AllowAdminCreateUserOnly": True
    }
    groups = {g.properties["GroupName"] for g in template.user_pool_groups()}
    assert groups == {"admin", "moderator"}
    client = template.user_pool_client().properties
    assert client["GenerateSecret"] is False
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert (client["AccessTokenValidity"], client["IdTokenValidity"]) == (60, 60)
    assert client["RefreshTokenValidity"] == 30
    assert client["TokenValidityUnits"] == {
        "AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days",
    }
    assert client["PreventUserExistenceErrors"] == "ENABLED"


def test_graphql_api(template: Template) -> None:
    api = template.graphql_api().properties
    assert api["SchemaUri"] == "schema.graphql"
    assert api["XrayEnabled"] is True
    assert api["Auth"]["Type"] == "AMAZON_COGNITO_USER_POOLS"
    assert api["Auth"]["UserPool"]["UserPoolId"] == {"Ref": "UserPool"}
    assert api["Auth"]["UserPool"]["DefaultAction"] == "ALLOW"
    assert api["Auth"]["Additional"] == [{"Type": "AWS_IAM"}]
    # Errors only, and never request/response bodies: message bodies must not reach logs.
    assert api["Logging"] == {"FieldLogLevel": "ERROR", "ExcludeVerboseContent": True}
    for function in api["Functions"].values():
        assert function["Runtime"] == {"Name": "APPSYNC_JS", "Version": "1.0.0"}


def test_outputs(template: Template) -> None:
    outputs = template.outputs
    assert set(outputs) >= OUTPUTS
    assert outputs["GraphQLApiUrl"]["Value"] == {"Fn::GetAtt": ["GraphQLApi", "GraphQLUrl"]}
    assert outputs["GraphQLRealtimeUrl"]["Value"] == {"Fn::GetAtt": ["GraphQLApi", "RealtimeUrl"]}
    assert template.resource("GraphQLApi").type == "AWS::Serverless::GraphQLApi"


def test_every_reference_points_at_something(template: Template) -> None:
    names = set(template.document["Resources"]) | set(template.parameters)
    for ref in iter_intrinsics(template.document, "Ref"):
        assert ref in names or str(ref).startswith("AWS::"), ref
    for target in iter_intrinsics(template.document, "Fn::GetAtt"):
        assert target[0] in template.document["Resources"], target
    for function in template.resources(SERVERLESS_FUNCTION):
        assert (ROOT / template.function(function.logical_id).code_uri).is_dir()


# --------------------------------------------------------------------------- operations

ALARM_TARGET = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
FUNCTIONS = set(DYNAMODB_ACTIONS)


def _alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {r.logical_id: r.properties for r in template.resources("AWS::CloudWatch::Alarm")}


def _alarm_metrics(props: dict[str, Any]) -> list[dict[str, Any]]:
    """Each metric an alarm reads: {Namespace, MetricName, Dimensions}."""
    if "MetricName" in props:
        return [{k: props.get(k) for k in ("Namespace", "MetricName", "Dimensions")}]
    return [m["MetricStat"]["Metric"] for m in props["Metrics"] if "MetricStat" in m]


def _watched(template: Template, namespace: str, metric: str) -> list[dict[str, Any]]:
    """The dimensions of every alarmed metric ``namespace``/``metric``, as {name: value}."""
    return [
        {d["Name"]: d["Value"] for d in m.get("Dimensions") or []}
        for props in _alarms(template).values()
        for m in _alarm_metrics(props)
        if m["Namespace"] == namespace and m["MetricName"] == metric
    ]


def _runbook_anchor(props: dict[str, Any]) -> str:
    import re

    found = re.search(r"docs/operations\.md#([a-z0-9-]+)", props["AlarmDescription"])
    assert found, props["AlarmDescription"]
    return found.group(1)


def test_alarms_watch_the_stream_consumer(template: Template) -> None:
    assert _watched(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible") == [
        {"QueueName": {"Fn::GetAtt": ["StreamFailureQueue", "QueueName"]}}]
    (on_failure,) = [e["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
                     for e in template.function("StreamFunction").properties["Events"].values()]
    assert on_failure == {"Fn::GetAtt": ["StreamFailureQueue", "Arn"]}  # the queue alarmed on
    assert _watched(template, "AWS/Lambda", "IteratorAge") == [{"FunctionName": {"Ref": "StreamFunction"}}]
    age = _alarms(template)["StreamIteratorAgeAlarm"]
    assert (age["Statistic"], age["Threshold"], age["EvaluationPeriods"]) == ("Maximum", 60000, 5)
    queue = _alarms(template)["StreamFailuresAlarm"]
    assert (queue["Statistic"], queue["Threshold"], queue["ComparisonOperator"]) == (
        "Maximum", 0, "GreaterThanThreshold")  # one discarded batch is enough


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_alarms_watch_every_function(template: Template, metric: str) -> None:
    watched = [d["FunctionName"]["Ref"] for d in _watched(template, "AWS/Lambda", metric)]
    assert sorted(watched) == sorted(FUNCTIONS) == sorted(f.logical_id for f in template.functions())


def test_alarms_watch_logged_errors_of_every_function(template: Template) -> None:
    filters = template.resources("AWS::Logs::MetricFilter")
    groups = {f.properties["LogGroupName"]["Ref"] for f in filters}
    assert groups == {template.function(f).properties["LoggingConfig"]["LogGroup"]["Ref"] for f in FUNCTIONS}
    transformations = {json.dumps(f.properties["MetricTransformations"], sort_keys=True) for f in filters}
    (only,) = transformations  # every filter feeds the one metric the alarm reads
    (transformation,) = json.loads(only)
    assert {f.properties["FilterPattern"] for f in filters} == {'{ $.level = "ERROR" }'}
    (alarmed,) = [p for p in _alarms(template).values() if p.get("MetricName") == "LoggedErrors"]
    assert alarmed["Namespace"] == transformation["MetricNamespace"]


def test_alarms_watch_appsync_5xx_by_api_id(template: Template) -> None:
    assert _watched(template, "AWS/AppSync", "5XXError") == [
        {"GraphQLAPIId": {"Fn::GetAtt": ["GraphQLApi", "ApiId"]}}]


def test_alarms_watch_table_and_index_throttling(template: Template) -> None:
    indexes = [i["IndexName"] for i in template.table().properties["GlobalSecondaryIndexes"]]
    for metric in ("ReadThrottleEvents", "WriteThrottleEvents"):
        watched = _watched(template, "AWS/DynamoDB", metric)
        assert {"TableName": {"Ref": "Table"}} in watched
        assert sorted(d.get("GlobalSecondaryIndexName", "") for d in watched) == ["", *sorted(indexes)]


def test_every_alarm_notifies_the_alarm_topic_and_chooses_missing_data(template: Template) -> None:
    alarms = _alarms(template)
    assert len(alarms) == 7
    for name, props in alarms.items():
        assert props["AlarmActions"] == [ALARM_TARGET], name
        assert props["OKActions"] == [ALARM_TARGET], name
        assert props["TreatMissingData"] in ("notBreaching", "breaching", "ignore", "missing"), name
        assert _runbook_anchor(props), name
        if "Metrics" in props:  # metric math: one expression returned over all its inputs
            returned = [m for m in props["Metrics"] if m["ReturnData"]]
            assert len(returned) == 1 and returned[0]["Expression"] == "SUM(FILL(METRICS(), 0))", name
            assert all(m["ReturnData"] is False for m in props["Metrics"] if "MetricStat" in m), name
            periods = {m["MetricStat"]["Period"] for m in props["Metrics"] if "MetricStat" in m}
            assert len(periods) == 1, name


def test_each_alarm_has_a_runbook_entry(template: Template) -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text()
    anchors = {line.lstrip("#").strip().lower().replace(" ", "-")
               for line in runbook.splitlines() if line.startswith("#")}
    for name, props in _alarms(template).items():
        anchor = _runbook_anchor(props)
        assert anchor in anchors, (name, anchor)


@pytest.mark.parametrize(
    ("parameters", "created", "subscribed", "target"),
    [
        ({}, True, False, "AlarmTopic"),
        ({"AlarmEmail": "ops@example.com"}, True, True, "AlarmTopic"),
        ({"AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:pager"}, False, False,
         "arn:aws:sns:us-east-1:123456789012:pager"),
    ],
)
def test_the_alarm_topic_is_created_unless_given(
    template: Template, parameters: dict[str, str], created: bool, subscribed: bool, target: str
) -> None:
    resolve = {**parameters, "AlarmTopic": "AlarmTopic"}
    assert template.resource("AlarmTopic").definition["Condition"] == "CreateAlarmTopic"
    assert template.condition("CreateAlarmTopic", resolve) is created
    subscription = template.resource("AlarmEmailSubscription")
    assert subscription.definition["Condition"] == "SubscribeAlarmEmail"
    assert template.condition("SubscribeAlarmEmail", resolve) is subscribed
    assert subscription.properties["Protocol"] == "email"
    assert subscription.properties["TopicArn"] == ALARM_TARGET
    assert template.evaluate(ALARM_TARGET, resolve) == target
    assert template.outputs["AlarmTopicArn"]["Value"] == ALARM_TARGET


def test_the_alarm_parameters_reject_malformed_values(template: Template) -> None:
    import re

    email = re.compile(template.parameters["AlarmEmail"]["AllowedPattern"])
    topic = re.compile(template.parameters["AlarmTopicArn"]["AllowedPattern"])
    assert email.fullmatch("") and email.fullmatch("ops@example.com")
    assert not email.fullmatch("ops") and not email.fullmatch("a b@example.com")
    assert topic.fullmatch("") and topic.fullmatch("arn:aws:sns:eu-west-1:123456789012:pager")
    assert not topic.fullmatch("arn:aws:sqs:eu-west-1:123456789012:pager")


def _sub_names(text: str) -> set[str]:
    import re

    return set(re.findall(r"\$\{([^}!]+)\}", text))


def test_the_dashboard_body_is_json_with_every_signal(template: Template) -> None:
    dashboard = template.single("AWS::CloudWatch::Dashboard")
    body = dashboard.properties["DashboardBody"]["Fn::Sub"]
    resolve = {name: f"<{name}>" for name in _sub_names(body)}
    resolve["AWS::Region"] = "eu-west-1"
    document = json.loads(template.evaluate(dashboard.properties["DashboardBody"], resolve))
    widgets = document["widgets"]
    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(
        f"<{name}.Arn>" for name in _alarms(template))
    shown = json.dumps([w["properties"].get("metrics") for w in widgets if w["type"] == "metric"])
    for needle in ("ApproximateNumberOfMessagesVisible", "<StreamFailureQueue.QueueName>",
                   "IteratorAge", "5XXError", "<GraphQLApi.ApiId>", "ReadThrottleEvents",
                   "WriteThrottleEvents", "<Table>", "LoggedErrors", "Throttles", "Errors"):
        assert needle in shown, needle
    for function in FUNCTIONS:
        assert f"<{function}>" in shown, function
    assert all(w["properties"].get("region", "eu-west-1") == "eu-west-1" for w in widgets)


def test_the_stream_mapping_runs_batches_in_parallel(template: Template) -> None:
    (event,) = template.function("StreamFunction").properties["Events"].values()
    factor = event["Properties"]["ParallelizationFactor"]
    assert isinstance(factor, int) and 2 <= factor <= 10  # Lambda's range is 1..10


def test_the_stream_mapping_is_tuned_for_lag(template: Template) -> None:
    """The settings `make soak` chose (docs/performance.md, "Fan-out"): no batching window
    (a window adds its length to every record's lag on a quiet stream), batches of up to 100
    (Lambda's range for DynamoDB is 1..10,000), each fanned out by FANOUT_WORKERS partitions
    at once, all within the function's timeout."""
    function = template.function("StreamFunction")
    (event,) = function.properties["Events"].values()
    props = event["Properties"]
    assert props.get("MaximumBatchingWindowInSeconds", 0) == 0
    assert 1 <= props["BatchSize"] <= 10_000 and props["BatchSize"] >= 100
    workers = int(function.properties["Environment"]["Variables"]["FANOUT_WORKERS"])
    assert 2 <= workers <= 32
    assert function.properties["Timeout"] >= 30  # a batch of 100 under a slow downstream


@pytest.mark.parametrize("logical_id", ["UserPool", "AdminGroup", "ModeratorGroup", "UserPoolClient",
                                        "Table", "ChatKey", "AttachmentsBucket"])
def test_user_data_is_retained_on_delete_and_replace(template: Template, logical_id: str) -> None:
    definition = template.resource(logical_id).definition
    assert definition["DeletionPolicy"] == "Retain"
    assert definition["UpdateReplacePolicy"] == "Retain"


def test_waf_is_optional_and_off_by_default(template: Template) -> None:
    assert template.parameters["EnableWaf"]["Default"] == "false"
    assert template.condition("WafEnabled", {}) is False
    assert template.condition("WafEnabled", {"EnableWaf": "true"}) is True
    waf = [r for r in template.document["Resources"].values() if r["Type"].startswith("AWS::WAFv2::")]
    assert len(waf) == 2 and all(r["Condition"] == "WafEnabled" for r in waf)
    for name, output in template.outputs.items():
        if "ApiWebAcl" in json.dumps(output["Value"]):
            assert output.get("Condition") == "WafEnabled", name


def test_the_web_acl_rate_limits_each_ip_in_front_of_the_api(template: Template) -> None:
    acl = template.single("AWS::WAFv2::WebACL").properties
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    (rule,) = acl["Rules"]
    assert rule["Action"] == {"Block": {}}
    assert rule["Statement"]["RateBasedStatement"] == {
        "Limit": {"Ref": "WafRateLimit"}, "EvaluationWindowSec": 300, "AggregateKeyType": "IP"}
    for config in (acl["VisibilityConfig"], rule["VisibilityConfig"]):
        assert config["CloudWatchMetricsEnabled"] is True and config["SampledRequestsEnabled"] is True
    assert template.parameters["WafRateLimit"]["MinValue"] >= 10  # WAF's smallest limit
    association = template.single("AWS::WAFv2::WebACLAssociation").properties
    assert association == {"ResourceArn": {"Fn::GetAtt": ["GraphQLApi", "Arn"]},
                           "WebACLArn": {"Fn::GetAtt": ["ApiWebAcl", "Arn"]}}


def test_cfn_lint_checks_are_ignored_only_where_sam_hides_graphql_api_attributes(
        template: Template) -> None:
    ignored = {
        logical_id: definition["Metadata"]["cfn-lint"]["config"]["ignore_checks"]
        for logical_id, definition in template.document["Resources"].items()
        if "cfn-lint" in (definition.get("Metadata") or {})
    }
    assert ignored == {"Api5xxAlarm": ["E1010"], "OperationsDashboard": ["E1019"],
                       "ApiWebAclAssociation": ["E1010"]}
    for logical_id in ignored:
        properties = template.resource(logical_id).properties
        targets = [t[0] for t in iter_intrinsics(properties, "Fn::GetAtt")]
        subs = "".join(str(s) for s in iter_intrinsics(properties, "Fn::Sub"))
        assert "GraphQLApi" in targets or "${GraphQLApi." in subs, logical_id
