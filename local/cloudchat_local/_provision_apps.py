"""Provisioning the application resources: the Cognito user pool, its groups and clients,
S3 buckets, SNS topics, SQS queues, and the functions' names (see
:mod:`cloudchat_local.provision`)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from cloudchat_local._provision_base import ProvisionerBase, api_kwargs, error_code
from cloudchat_local.errors import ProvisionError
from cloudchat_local.template import Resource

if TYPE_CHECKING:
    from types_boto3_s3.type_defs import CORSRuleTypeDef
    from types_boto3_sqs.literals import QueueAttributeNameType

__all__ = ["SQS_QUEUE", "AppResources"]

#: AWS::S3::Bucket CorsRule property names that differ from PutBucketCors' (CloudFormation
#: says ExposedHeaders / Id / MaxAge, the API ExposeHeaders / ID / MaxAgeSeconds).
_CORS_RULE_KEYS = {"ExposedHeaders": "ExposeHeaders", "Id": "ID", "MaxAge": "MaxAgeSeconds"}
SQS_QUEUE = "AWS::SQS::Queue"
#: AWS::SQS::Queue properties that are SetQueueAttributes attributes (same names).
_SQS_ATTRIBUTES = frozenset({
    "ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue",
    "FifoThroughputLimit", "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId", "MaximumMessageSize",
    "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy",
    "RedrivePolicy", "SqsManagedSseEnabled", "VisibilityTimeout",
})


class AppResources(ProvisionerBase):
    """Cognito, S3, SNS, SQS and Lambda (names and ARNs only)."""

    # ------------------------------------------------------------------ Cognito

    def user_pool(self, resource: Resource) -> None:
        idp = self.client("cognito-idp")
        name = self.physical_name(resource, "UserPoolName")
        pool_id = self._find_user_pool(name)
        if pool_id is None:
            props = self.props(resource)
            props.pop("LambdaConfig", None)  # moto never invokes triggers
            props["PoolName"] = name
            if "UserPoolTags" in props:
                props["UserPoolTags"] = dict(props["UserPoolTags"])
            pool_id = str(
                idp.create_user_pool(**api_kwargs(idp, "CreateUserPool", props))["UserPool"]["Id"]
            )
        pool = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
        self.user_pool_id = pool_id
        lid = resource.logical_id
        self.resolve[lid] = pool_id
        self.resolve[f"{lid}.Arn"] = str(pool["Arn"])
        self.resolve[f"{lid}.UserPoolId"] = pool_id
        self.resolve[f"{lid}.ProviderName"] = f"cognito-idp.{self.region}.amazonaws.com/{pool_id}"
        self.resolve[f"{lid}.ProviderURL"] = f"https://cognito-idp.{self.region}.amazonaws.com/{pool_id}"

    def _find_user_pool(self, name: str) -> str | None:
        idp = self.client("cognito-idp")
        for page in idp.get_paginator("list_user_pools").paginate(PaginationConfig={"PageSize": 60}):
            for pool in page["UserPools"]:
                if pool["Name"] == name:
                    return str(pool["Id"])
        return None

    def _pool_of(self, resource: Resource) -> str:
        pool_id = str(self.template.evaluate(resource.properties.get("UserPoolId"), self.resolve))
        if not pool_id or pool_id == "None":
            raise ProvisionError(f"{resource.logical_id} has no UserPoolId")
        return pool_id

    def user_pool_group(self, resource: Resource) -> None:
        idp = self.client("cognito-idp")
        props = self.props(resource)
        props["UserPoolId"] = self._pool_of(resource)
        props["GroupName"] = self.physical_name(resource, "GroupName")
        with contextlib.suppress(idp.exceptions.GroupExistsException):
            idp.create_group(**api_kwargs(idp, "CreateGroup", props))
        self.resolve[resource.logical_id] = props["GroupName"]

    def user_pool_client(self, resource: Resource) -> None:
        idp = self.client("cognito-idp")
        pool_id = self._pool_of(resource)
        name = self.physical_name(resource, "ClientName")
        client_id = None
        for page in idp.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id):
            for existing in page["UserPoolClients"]:
                if existing["ClientName"] == name:
                    client_id = str(existing["ClientId"])
        if client_id is None:
            props = self.props(resource)
            props["UserPoolId"] = pool_id
            props["ClientName"] = name
            # The local stack signs in with USER_PASSWORD_AUTH (moto's SRP flow fails).
            flows = list(props.get("ExplicitAuthFlows") or [])
            if "ALLOW_USER_PASSWORD_AUTH" not in flows:
                flows.append("ALLOW_USER_PASSWORD_AUTH")
            props["ExplicitAuthFlows"] = flows
            created = idp.create_user_pool_client(**api_kwargs(idp, "CreateUserPoolClient", props))
            client_id = str(created["UserPoolClient"]["ClientId"])
        self.resolve[resource.logical_id] = client_id
        self.resolve[f"{resource.logical_id}.ClientId"] = client_id

    # ------------------------------------------------------------------ S3 / SNS

    def bucket(self, resource: Resource) -> None:
        s3 = self.client("s3")
        name = self.physical_name(resource, "BucketName", lower=True)
        try:
            s3.head_bucket(Bucket=name)
        except ClientError as exc:
            if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
            kwargs: dict[str, Any] = {"Bucket": name}
            if self.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            s3.create_bucket(**kwargs)
        props = self.props(resource)
        cors = props.get("CorsConfiguration")
        if cors:
            rules = cast("list[CORSRuleTypeDef]", [  # (CloudFormation's names, mapped to the API's)
                {_CORS_RULE_KEYS.get(key, key): value for key, value in rule.items()}
                for rule in cors["CorsRules"]
            ])
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
        lid = resource.logical_id
        self.resolve[lid] = name
        self.resolve[f"{lid}.Arn"] = f"arn:aws:s3:::{name}"
        self.resolve[f"{lid}.DomainName"] = f"{name}.s3.amazonaws.com"
        self.resolve[f"{lid}.RegionalDomainName"] = f"{name}.s3.{self.region}.amazonaws.com"

    def topic(self, resource: Resource) -> None:
        sns = self.client("sns")
        props = self.props(resource)
        name = self.physical_name(resource, "TopicName")
        attributes = {}
        if props.get("FifoTopic") in (True, "true"):
            attributes["FifoTopic"] = "true"
            if not name.endswith(".fifo"):
                name += ".fifo"
        arn = str(sns.create_topic(Name=name, Attributes=attributes)["TopicArn"])  # idempotent
        lid = resource.logical_id
        self.resolve[lid] = arn
        self.resolve[f"{lid}.TopicArn"] = arn
        self.resolve[f"{lid}.TopicName"] = name

    def notice_sender(self) -> None:
        """The e-mail notices' From address (the ``NoticeSender`` parameter), verified in SES.
        On AWS the operator verifies it once, outside the stack (docs/operations.md); moto,
        like SES, refuses mail from an unverified address."""
        sender = self.template.evaluate({"Ref": "NoticeSender"}, self.resolve, where="NoticeSender") \
            if "NoticeSender" in (self.template.document.get("Parameters") or {}) else ""
        if sender:
            self.client("ses").verify_email_identity(EmailAddress=str(sender))

    def queue(self, resource: Resource) -> None:
        sqs = self.client("sqs")
        props = self.props(resource)
        name = self.physical_name(resource, "QueueName")
        if props.get("FifoQueue") in (True, "true") and not name.endswith(".fifo"):
            name += ".fifo"
        attributes = cast("dict[QueueAttributeNameType, str]", {  # (names in _SQS_ATTRIBUTES)
            key: json.dumps(value) if isinstance(value, Mapping) else _attribute(value)
            for key, value in props.items()
            if key in _SQS_ATTRIBUTES
        })
        try:
            url = str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
        except ClientError as exc:
            if "QueueNameExists" not in error_code(exc) and "QueueAlreadyExists" not in error_code(exc):
                raise
            url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
            if attributes:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arn = str(found["Attributes"]["QueueArn"])
        lid = resource.logical_id
        self.resolve[lid] = url  # Ref on a queue is its URL
        self.resolve[f"{lid}.QueueUrl"] = url
        self.resolve[f"{lid}.Arn"] = arn
        self.resolve[f"{lid}.QueueName"] = name

    # ------------------------------------------------------------------ Lambda (names only)

    def lambda_function(self, resource: Resource) -> None:
        """Functions run in-process locally; only their names and ARNs are needed."""
        name = self.physical_name(resource, "FunctionName")
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        self.resolve.setdefault(resource.logical_id, name)
        self.resolve.setdefault(f"{resource.logical_id}.Arn", arn)


def _attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
