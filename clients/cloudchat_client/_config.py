"""Where the stack is: ``.cloudchat/outputs.json`` (the local stack writes it), any outputs
file, or a deployed CloudFormation stack's outputs (``describe_stacks``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from cloudchat_client.errors import ConfigError

if TYPE_CHECKING:
    from types_boto3_cloudformation import CloudFormationClient

__all__ = [
    "DEFAULT_OUTPUTS",
    "Endpoint",
    "endpoint_from_outputs",
    "endpoint_from_stack",
    "load_outputs_file",
    "outputs_from_cloudformation",
    "realtime_url_for",
]

DEFAULT_OUTPUTS = Path(".cloudchat") / "outputs.json"
_REQUIRED = ("GraphQLApiUrl", "UserPoolClientId")


@dataclass(frozen=True)
class Endpoint:
    """Everything a client needs to reach one stack."""

    graphql_url: str
    realtime_url: str
    user_pool_id: str
    client_id: str
    region: str
    #: moto's Cognito (local stack); None: the regional AWS endpoint.
    cognito_endpoint: str | None = None
    #: moto's endpoint for every service (local stack only).
    aws_endpoint_url: str | None = None
    aws_credentials: tuple[str, str] | None = None
    demo_users: tuple[Mapping[str, Any], ...] = ()
    source: str = ""
    outputs: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def host(self) -> str:
        """The API host AppSync's authorization header names (also for the WebSocket)."""
        return urlparse(self.graphql_url).netloc

    @property
    def is_local(self) -> bool:
        return self.aws_endpoint_url is not None

    @property
    def key(self) -> str:
        """The token store's key for this endpoint."""
        return f"{self.graphql_url}#{self.client_id}"

    def username_for(self, name: str) -> str:
        """A demo user's short name (``alice``) becomes its username; anything else is kept."""
        for user in self.demo_users:
            if user.get("name") == name:
                return str(user["username"])
        return name


def endpoint_from_outputs(outputs: Mapping[str, Any], *, source: str = "",
                          region: str | None = None) -> Endpoint:
    """An Endpoint from a stack's outputs (the local stack's file or CloudFormation's)."""
    missing = [k for k in _REQUIRED if not outputs.get(k)]
    if missing:
        raise ConfigError(f"{source or 'the outputs'} lack {', '.join(missing)}")
    graphql_url = str(outputs["GraphQLApiUrl"])
    realtime_url = outputs.get("GraphQLRealtimeUrl") or realtime_url_for(graphql_url)
    pool = str(outputs.get("UserPoolId") or "")
    found_region = outputs.get("Region") or region or (pool.split("_", 1)[0] if "_" in pool else None)
    if not found_region:
        raise ConfigError(f"{source or 'the outputs'} name no Region; pass --region")
    credentials = None
    if outputs.get("IamAccessKeyId") and outputs.get("IamSecretAccessKey"):
        credentials = (str(outputs["IamAccessKeyId"]), str(outputs["IamSecretAccessKey"]))
    return Endpoint(
        graphql_url=graphql_url,
        realtime_url=str(realtime_url),
        user_pool_id=pool,
        client_id=str(outputs["UserPoolClientId"]),
        region=str(found_region),
        cognito_endpoint=outputs.get("CognitoEndpoint") or None,
        aws_endpoint_url=outputs.get("AwsEndpointUrl") or None,
        aws_credentials=credentials,
        demo_users=tuple(outputs.get("DemoUsers") or ()),
        source=source,
        outputs=dict(outputs),
    )


def realtime_url_for(graphql_url: str) -> str:
    """AppSync's real-time URL for an API URL (``appsync-api`` -> ``appsync-realtime-api``)."""
    parsed = urlparse(graphql_url)
    scheme = "wss" if parsed.scheme == "https" else "ws"
    host = parsed.netloc.replace("appsync-api", "appsync-realtime-api")
    return f"{scheme}://{host}{parsed.path}" + ("" if parsed.path.endswith("/realtime") else "/realtime")


def load_outputs_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = " (start the local stack with `make dev`, or pass --outputs FILE or --stack NAME)" \
            if path == DEFAULT_OUTPUTS else ""
        raise ConfigError(f"no stack outputs at {path}{hint}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object")
    return data


def outputs_from_cloudformation(stacks: Sequence[Mapping[str, Any]], name: str) -> dict[str, str]:
    """``describe_stacks``' ``Stacks`` -> {OutputKey: OutputValue}."""
    if not stacks:
        raise ConfigError(f"no CloudFormation stack named {name}")
    return {str(o["OutputKey"]): str(o["OutputValue"]) for o in stacks[0].get("Outputs") or ()}


def endpoint_from_stack(name: str, region: str | None,
                        cloudformation: Callable[[str | None], CloudFormationClient] | None = None,
                        ) -> Endpoint:
    """A deployed stack's endpoint, from CloudFormation (``cloudformation`` makes the client)."""
    from botocore.exceptions import BotoCoreError, ClientError

    make = cloudformation or _cloudformation_client
    try:
        stacks = make(region).describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        raise ConfigError(f"stack {name}: {exc.response['Error'].get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise ConfigError(f"stack {name}: {exc}") from None
    return endpoint_from_outputs(outputs_from_cloudformation(stacks, name), source=f"stack {name}",
                                 region=region)


def _cloudformation_client(region: str | None) -> CloudFormationClient:
    import boto3

    return boto3.client("cloudformation", region_name=region)
