"""What every part of the provisioner shares: its clients, the ``resolve`` mapping it fills,
and how it reads a resource's properties and physical name (see :mod:`cloudchat_local.provision`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, overload

import boto3
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from cloudchat_local.template import Resource, Template

if TYPE_CHECKING:
    from types_boto3_cognito_idp import CognitoIdentityProviderClient
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_dynamodbstreams import DynamoDBStreamsClient
    from types_boto3_kms import KMSClient
    from types_boto3_s3 import S3Client
    from types_boto3_secretsmanager import SecretsManagerClient
    from types_boto3_sns import SNSClient
    from types_boto3_sqs import SQSClient
    from types_boto3_sts import STSClient

__all__ = ["Clients", "ProvisionerBase", "api_kwargs", "clients_for", "error_code", "log"]

log = logging.getLogger("cloudchat_local.provision")


class Clients(Protocol):
    """A client factory for the services the local stack calls: ``clients("sqs")`` is typed
    as the stubs' ``SQSClient``, and so on (mypy only: the stubs are a dev dependency)."""

    @overload
    def __call__(self, service: Literal["cognito-idp"]) -> CognitoIdentityProviderClient: ...
    @overload
    def __call__(self, service: Literal["dynamodb"]) -> DynamoDBClient: ...
    @overload
    def __call__(self, service: Literal["dynamodbstreams"]) -> DynamoDBStreamsClient: ...
    @overload
    def __call__(self, service: Literal["kms"]) -> KMSClient: ...
    @overload
    def __call__(self, service: Literal["s3"]) -> S3Client: ...
    @overload
    def __call__(self, service: Literal["secretsmanager"]) -> SecretsManagerClient: ...
    @overload
    def __call__(self, service: Literal["sns"]) -> SNSClient: ...
    @overload
    def __call__(self, service: Literal["ses"]) -> Any: ...  # (no SES stubs: one call)
    @overload
    def __call__(self, service: Literal["sqs"]) -> SQSClient: ...
    @overload
    def __call__(self, service: Literal["sts"]) -> STSClient: ...
    def __call__(self, service: str) -> BaseClient: ...


def clients_for(endpoint: str, region: str, credentials: tuple[str, str], *,
                cache: bool = True) -> Clients:
    """A typed client factory for a moto server: ``clients("sqs")`` is an ``SQSClient`` to
    mypy. With ``cache``, one client per service (made once, also when threads ask at once)."""
    made: dict[str, BaseClient] = {}
    lock = threading.Lock()

    def client(service: str) -> BaseClient:
        if not cache:
            return _aws_client(service, endpoint, region, credentials)
        with lock:
            if service not in made:
                made[service] = _aws_client(service, endpoint, region, credentials)
            return made[service]

    return cast("Clients", client)


def _aws_client(service: str, endpoint: str, region: str, credentials: tuple[str, str]) -> BaseClient:
    """A boto3 client for ``service`` at ``endpoint`` (a moto server), with these credentials."""
    session = boto3.session.Session(
        aws_access_key_id=credentials[0],
        aws_secret_access_key=credentials[1],
        region_name=region,
    )
    made: BaseClient = session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]
    return made


def api_kwargs(client: BaseClient, operation: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of CloudFormation properties that the API operation takes, by name."""
    shape = client.meta.service_model.operation_model(operation).input_shape
    members = shape.members if shape is not None else {}  # (an operation without input)
    return {k: v for k, v in properties.items() if k in members}


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class ProvisionerBase:
    """The state of one provisioning run; the resource kinds are methods of its subclasses."""

    def __init__(
        self,
        endpoint: str,
        region: str,
        stack_name: str,
        template: Template,
        credentials: tuple[str, str],
    ) -> None:
        self.endpoint = endpoint
        self.region = region
        self.stack_name = stack_name
        self.template = template
        self.credentials = credentials
        self.client = clients_for(endpoint, region, credentials)
        self.account_id = str(self.client("sts").get_caller_identity()["Account"])
        self.resolve: dict[str, str] = {
            "AWS::Region": region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{region}:{self.account_id}:stack/{stack_name}/local"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.table_id = template.table().logical_id
        self.key_id = template.kms_key().logical_id
        self.client_id = template.user_pool_client().logical_id
        self.user_pool_id = ""

    def props(self, resource: Resource) -> dict[str, Any]:
        value = self.template.evaluate(resource.properties, self.resolve, where=resource.logical_id)
        return dict(value or {})

    def physical_name(self, resource: Resource, name_property: str, *, lower: bool = False) -> str:
        raw = resource.properties.get(name_property)
        if raw is not None:
            name = str(self.template.evaluate(raw, self.resolve, where=resource.logical_id))
        else:
            name = f"{self.stack_name}-{resource.logical_id}"
        return name.lower() if lower else name

    def wanted(self, resources: Sequence[Resource], *, say: bool = True) -> list[Resource]:
        """The resources whose ``Condition`` (if any) holds for these parameters."""
        wanted = []
        for resource in resources:
            condition = resource.definition.get("Condition")
            if condition is not None and not self.template.condition(str(condition), self.resolve):
                if say:
                    log.debug("%s: condition %s is false: not created", resource.logical_id, condition)
                continue
            wanted.append(resource)
        return wanted
