"""Each function's IAM statements are exactly what its code needs on AWS: every permission a
code path uses, nothing it never uses. moto enforces no IAM, so these are pinned here, from
the calls each resolver module makes (resolver -> ChatService -> Store / S3 / KMS / SNS /
AppSync), with the AWS rules that moto cannot show:

* a presigned URL is a request by the role that signed it ("the credentials used by the
  presigned URL are those of the IAM principal who generated the URL",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-presigned-url.html): an
  attachment GET needs s3:GetObject, and, the bucket being SSE-KMS with the chat key,
  kms:Decrypt through S3
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html); the
  presigned POST upload needs s3:PutObject, s3:PutObjectTagging (its `tagging` field) and
  kms:GenerateDataKey through S3;
* HeadObject of a missing key answers 404 only to a caller holding s3:ListBucket, else 403
  (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html); for that check S3
  evaluates s3:ListBucket with the object key as s3:prefix, so a grant conditioned on
  s3:prefix "conversations/*" covers it (ceph/ceph#68577, ceph/s3-tests#741,
  test_head_object_404_with_policy_prefix);
* a Query of the base table needs the table's ARN only; `<table>/index/*` only where an
  index is queried.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudchat_local.template import SERVERLESS_FUNCTION, Template, load_template

TABLE = {"Fn::GetAtt": ["Table", "Arn"]}
INDEXES = {"Fn::Sub": "${Table.Arn}/index/*"}
KEY = {"Fn::GetAtt": ["ChatKey", "Arn"]}
BUCKET = {"Fn::GetAtt": ["AttachmentsBucket", "Arn"]}
OBJECTS = {"Fn::Sub": "${AttachmentsBucket.Arn}/conversations/*"}
CONVERSATION_KEY = {"StringLike": {"kms:EncryptionContext:conversationId": "*"}}
VIA_DYNAMODB = {"StringEquals": {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}}}
VIA_S3 = {"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}}
UNDER_CONVERSATIONS = {"StringLike": {"s3:prefix": "conversations/*"}}
TABLE_AT_REST = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*",
                 "kms:DescribeKey"]

Grant = tuple[str, str, str]  # (action, resource, condition), resource and condition as JSON


def grants(actions: list[str], resources: list[Any], condition: dict[str, Any] | None = None
           ) -> set[Grant]:
    cond = json.dumps(condition or {}, sort_keys=True)
    return {(a, json.dumps(r, sort_keys=True), cond) for a in actions for r in resources}


def table(*actions: str, indexes: bool = True) -> set[Grant]:
    return grants([f"dynamodb:{a}" for a in actions], [TABLE, INDEXES] if indexes else [TABLE])


AT_REST = grants(TABLE_AT_REST, [KEY], VIA_DYNAMODB)

EXPECTED: dict[str, set[Grant]] = {
    # profiles (GetItem/PutItem/UpdateItem), the directory (GSI2), contacts and presence
    # (GSI1, BatchGetItem), devices, blocks (a transaction of Put/Update, of Delete/Update
    # to unblock); no message body or conversation key, ever.
    "UsersFunction": table("GetItem", "PutItem", "UpdateItem", "Query", "BatchGetItem",
                           "DeleteItem")
    | AT_REST
    | grants(["cognito-idp:AdminCreateUser"], [{"Fn::GetAtt": ["UserPool", "Arn"]}])
    # turning e-mail notices on reads the caller's address and email_verified
    | grants(["cognito-idp:AdminGetUser"], [{"Fn::GetAtt": ["UserPool", "Arn"]}])
    | grants(["sns:CreatePlatformEndpoint"],
             [{"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:app/*"}])
    # deleteAccount / adminDeleteUser: the e-mail entry and devices go (DeleteItem), the
    # devices' SNS endpoints, and the Cognito user (signed out everywhere, then deleted).
    | table("DeleteItem", "ConditionCheckItem")
    | grants(["cognito-idp:AdminUserGlobalSignOut", "cognito-idp:AdminDeleteUser"],
             [{"Fn::GetAtt": ["UserPool", "Arn"]}])
    | grants(["sns:DeleteEndpoint"],
             [{"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:endpoint/*"}]),
    # create (GenerateDataKey), member changes' system messages and the last message of each
    # conversation (Decrypt), whose attachments get presigned GET URLs; the block checks of
    # createConversation and addMembers (ConditionCheck in their transactions).
    "ConversationsFunction": table("GetItem", "PutItem", "UpdateItem", "Query", "BatchGetItem",
                                   "DeleteItem", "ConditionCheckItem")
    | grants(["kms:GenerateDataKey", "kms:Decrypt"], [KEY], CONVERSATION_KEY)
    | AT_REST
    | grants(["s3:GetObject"], [OBJECTS])
    | grants(["kms:Decrypt"], [KEY], VIA_S3),
    # messages, threads (GSI3), reports (GSI2); uploads: presigned POST, HeadObject (404 for a
    # missing key needs ListBucket), the `attached` tag, presigned GETs.
    "MessagesFunction": table("GetItem", "PutItem", "UpdateItem", "Query", "BatchGetItem",
                              "ConditionCheckItem")
    | table("DeleteItem", indexes=False)  # search postings an edit or delete removes
    | grants(["kms:Decrypt"], [KEY], CONVERSATION_KEY)
    | AT_REST
    | grants(["s3:PutObject", "s3:PutObjectTagging", "s3:GetObject"], [OBJECTS])
    | grants(["s3:ListBucket"], [BUCKET], UNDER_CONVERSATIONS)
    | grants(["kms:GenerateDataKey", "kms:Decrypt"], [KEY], VIA_S3),
    # receipts and typing: member items and the members query of the base table only.
    "ReceiptsFunction": table("GetItem", "UpdateItem", "Query", "ConditionCheckItem", "BatchGetItem",
                              indexes=False)
    | AT_REST,
    # the fan-out: confirmation reads, members, list positions, contacts (GSI1), previews
    # (Decrypt), notifications, user events.
    "StreamFunction": table("GetItem", "UpdateItem", "Query", "BatchGetItem")
    | table("PutItem", "DeleteItem", indexes=False)  # search postings a long message queued
    | grants(["kms:Decrypt"], [KEY], CONVERSATION_KEY)
    | AT_REST
    | grants(["sns:Publish"], [{"Ref": "NotificationsTopic"}, {
        "Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:endpoint/*"}])
    | grants(["appsync:GraphQL"], [{"Fn::Sub": "arn:${AWS::Partition}:appsync:${AWS::Region}:"
                                    "${AWS::AccountId}:apis/${GraphQLApi.ApiId}/types/Mutation/"
                                    "fields/publishUserEvent"}])
    # e-mail notices (with NoticeSender set): SendEmail from that address only, on the
    # identity SES verified (the address, or its domain)
    | grants(["ses:SendEmail"], [
        {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/"
                    "${NoticeSender}"},
        {"Fn::Sub": ["arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/"
                     "${Domain}", {"Domain": {"Fn::Select": [1, {"Fn::Split": [
                         "@", {"Ref": "NoticeSender"}]}]}}]}],
        {"StringEquals": {"ses:FromAddress": {"Ref": "NoticeSender"}}})
    # account deletion's background steps: SYSTEM "left" messages, member items, tombstones,
    # pending upload grants; a deleted user's attachments tagged for expiry.
    | table("PutItem", "DeleteItem")
    | grants(["s3:PutObjectTagging"], [OBJECTS]),
    # the profile and its directory entry, in one transaction of two puts.
    "CognitoTriggerFunction": table("PutItem", indexes=False) | AT_REST,
}


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


def granted(template: Template, logical_id: str) -> set[Grant]:
    out: set[Grant] = set()
    for policy in template.resource(logical_id).properties["Policies"]:
        for st in policy["Statement"]:
            if "Fn::If" in st:  # a statement only some deployments have: its granting form
                assert st["Fn::If"][2] == {"Ref": "AWS::NoValue"}, st
                st = st["Fn::If"][1]
            assert st["Effect"] == "Allow", st
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            out |= grants(actions, resources, st.get("Condition"))
    return out


# The stream consumer purges a deleted conversation (BatchWriteItem of the base table: also
# the member items of a group too large for deleteConversation's transaction) and its
# uploads (s3:DeleteObject under conversations/).
EXPECTED["StreamFunction"] |= table("BatchWriteItem", indexes=False) | grants(["s3:DeleteObject"], [OBJECTS])


def test_every_function_is_pinned(template: Template) -> None:
    functions = {r.logical_id for r in template.resources(SERVERLESS_FUNCTION)}
    assert functions == set(EXPECTED)


@pytest.mark.parametrize("logical_id", sorted(EXPECTED))
def test_function_grants_are_exactly_what_its_code_needs(template: Template, logical_id: str) -> None:
    got = granted(template, logical_id)
    missing, excess = EXPECTED[logical_id] - got, got - EXPECTED[logical_id]
    assert not missing and not excess, f"{logical_id}\nmissing: {sorted(missing)}\nexcess: {sorted(excess)}"


def test_conversations_function_can_serve_the_attachment_urls_it_presigns(template: Template) -> None:
    got = granted(template, "ConversationsFunction")
    assert grants(["s3:GetObject"], [OBJECTS]) <= got
    assert grants(["kms:Decrypt"], [KEY], VIA_S3) <= got  # SSE-KMS objects
    assert not {g for g in got if g[0].startswith("s3:") and g[0] != "s3:GetObject"}  # reads only


def test_messages_function_hears_404_for_a_missing_upload(template: Template) -> None:
    got = granted(template, "MessagesFunction")
    assert grants(["s3:ListBucket"], [BUCKET], UNDER_CONVERSATIONS) <= got
    assert {g for g in got if g[0] == "s3:ListBucket"} == grants(["s3:ListBucket"], [BUCKET],
                                                                  UNDER_CONVERSATIONS)


def test_only_functions_that_open_messages_hold_the_conversation_key(template: Template) -> None:
    holders = {fn for fn in EXPECTED
               if any(json.loads(c) == CONVERSATION_KEY for _, _, c in granted(template, fn))}
    assert holders == {"ConversationsFunction", "MessagesFunction", "StreamFunction"}
