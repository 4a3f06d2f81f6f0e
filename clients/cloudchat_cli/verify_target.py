"""What ``cloudchat verify`` checks: a stack's endpoints, from its outputs.

A deployed stack's outputs come from CloudFormation (``describe_stacks``: the stack must exist
and have finished creating or updating); the local stack's from ``.cloudchat/outputs.json``.
Both go through the library's :func:`~cloudchat_client.endpoint_from_outputs`, so verify reads
a stack exactly as every other command does, and then asks for the outputs it needs on top.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudchat_cli.errors import ConfigError
from cloudchat_client._config import (
    DEFAULT_OUTPUTS,
    Endpoint,
    endpoint_from_outputs,
    load_outputs_file,
    outputs_from_cloudformation,
)

if TYPE_CHECKING:
    from types_boto3_cloudformation import CloudFormationClient

__all__ = ["REQUIRED_OUTPUTS", "Target", "target_from_outputs", "target_from_stack"]

#: The outputs verify cannot run without (the template declares each of them).
REQUIRED_OUTPUTS = ("GraphQLApiUrl", "GraphQLRealtimeUrl", "UserPoolId", "UserPoolClientId")
#: A stack in any other state has no (or stale) outputs.
_USABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE")


@dataclass(frozen=True)
class Target:
    """One stack to verify."""

    endpoint: Endpoint
    bucket: str | None
    table: str | None
    stack: str | None = None

    @property
    def is_local(self) -> bool:
        return self.endpoint.is_local

    def describe(self) -> dict[str, Any]:
        """What the report says about the stack (no secrets)."""
        e = self.endpoint
        return {
            "source": e.source, "stack": self.stack, "local": e.is_local,
            "graphqlUrl": e.graphql_url, "realtimeUrl": e.realtime_url, "region": e.region,
            "userPoolId": e.user_pool_id, "userPoolClientId": e.client_id,
            "cognitoEndpoint": e.cognito_endpoint, "attachmentsBucket": self.bucket, "table": self.table,
        }


def target_from_outputs(outputs: Mapping[str, Any], *, source: str, region: str | None = None,
                        stack: str | None = None) -> Target:
    missing = [k for k in REQUIRED_OUTPUTS if not outputs.get(k)]
    if missing:
        raise ConfigError(f"{source} lacks the output{'s' if len(missing) > 1 else ''} "
                          f"{', '.join(missing)} that verify needs; is it a CloudChat stack "
                          "(template.yaml's Outputs), deployed from this version?")
    endpoint = endpoint_from_outputs(outputs, source=source, region=region)
    if region and outputs.get("Region") and outputs["Region"] != region:
        raise ConfigError(f"{source} is in {outputs['Region']}, not in --region {region}")
    return Target(endpoint=endpoint, bucket=_text(outputs.get("AttachmentsBucketName")),
                  table=_text(outputs.get("TableName")), stack=stack)


def target_from_file(path: Path | None, region: str | None = None) -> Target:
    path = path or DEFAULT_OUTPUTS
    return target_from_outputs(load_outputs_file(path), source=str(path), region=region)


def target_from_stack(name: str, region: str | None,
                      cloudformation: Callable[[str | None], CloudFormationClient] | None = None,
                      ) -> Target:
    """A deployed stack's outputs. ``region`` is where to look the stack up (default: boto3's
    own: ``AWS_REGION``/``AWS_DEFAULT_REGION``, then the profile); the stack's own ``Region``
    output then names the region of its user pool, which must agree."""
    from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

    try:
        client = (cloudformation or _cloudformation_client)(region)
    except NoRegionError:
        raise ConfigError(f"stack {name}: which region? pass --region (make verify REGION=...) "
                          "or set AWS_REGION") from None
    try:
        stacks = client.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        where = f" in {region}" if region else ""
        raise ConfigError(f"stack {name}{where}: {message}") from None
    except BotoCoreError as exc:
        raise ConfigError(f"stack {name}: {exc}") from None
    if stacks and stacks[0].get("StackStatus") not in _USABLE:
        raise ConfigError(f"stack {name} is {stacks[0].get('StackStatus')}: deploy it "
                          "(`make deploy`) and wait for it to complete before verifying")
    lookup_region = region or _client_region(client)
    outputs = outputs_from_cloudformation(stacks, name)
    return target_from_outputs(outputs, source=f"stack {name}", region=lookup_region, stack=name)


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _client_region(client: object) -> str | None:
    meta = getattr(client, "meta", None)
    return getattr(meta, "region_name", None) if meta is not None else None


def _cloudformation_client(region: str | None) -> CloudFormationClient:
    import boto3
    from botocore.config import Config

    return boto3.client("cloudformation", region_name=region,
                        config=Config(connect_timeout=10, read_timeout=30, retries={"max_attempts": 3}))
