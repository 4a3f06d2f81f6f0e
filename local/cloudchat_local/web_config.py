"""The web client's ``config.json``: what ``web/src/config.js`` reads before ``Amplify.configure``.

Two sources, one shape::

    {"graphqlUrl": "https://.../graphql", "region": "eu-west-1", "userPoolId": "...",
     "userPoolClientId": "...", "authFlow": "USER_SRP_AUTH" | "USER_PASSWORD_AUTH",
     "cognitoEndpoint": null | "http://127.0.0.1:4010", "stage": "aws" | "local"}

* a deployed stack: :func:`config_from_stack_outputs` maps its CloudFormation outputs (SRP
  sign-in, AWS's own Cognito endpoint). ``make web-config STACK=cloudchat-dev`` runs
  ``python -m cloudchat_local.web_config --stack cloudchat-dev`` which reads them with
  ``describe_stacks`` and writes ``web/public/config.json`` (copied into ``web/dist`` by the
  next build; ``npm run dev`` serves it as is);
* the local stack: :func:`local_config` (USER_PASSWORD_AUTH, since moto's Cognito fails SRP,
  and moto's endpoint); the emulator serves it at ``/config.json`` itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from cloudchat_local.errors import WebConfigError

__all__ = [
    "AUTH_FLOW_LOCAL",
    "AUTH_FLOW_SRP",
    "DEFAULT_OUTPUT",
    "WebConfigError",
    "config_from_stack_outputs",
    "local_config",
    "main",
    "outputs_by_key",
]

AUTH_FLOW_SRP: Final = "USER_SRP_AUTH"
AUTH_FLOW_LOCAL: Final = "USER_PASSWORD_AUTH"
DEFAULT_OUTPUT: Final = Path(__file__).resolve().parents[2] / "web" / "public" / "config.json"
_REQUIRED: Final = ("GraphQLApiUrl", "UserPoolId", "UserPoolClientId")


def outputs_by_key(outputs: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, Any]:
    """``describe_stacks``' ``[{"OutputKey", "OutputValue"}, ...]`` (or a mapping) as a dict."""
    if isinstance(outputs, Mapping):
        return dict(outputs)
    return {str(o["OutputKey"]): o.get("OutputValue") for o in outputs if "OutputKey" in o}


def config_from_stack_outputs(
    outputs: Iterable[Mapping[str, Any]] | Mapping[str, Any], *, region: str | None = None,
    auth_flow: str = AUTH_FLOW_SRP,
) -> dict[str, Any]:
    """The web config of a deployed stack. The region comes from the ``Region`` output, else
    from the user pool id (``<region>_<id>``), else ``region``."""
    values = outputs_by_key(outputs)
    missing = [key for key in _REQUIRED if not values.get(key)]
    if missing:
        raise WebConfigError(f"the stack has no output {', '.join(missing)}")
    url = str(values["GraphQLApiUrl"])
    if not url.startswith("https://"):
        raise WebConfigError(f"GraphQLApiUrl must be https:// (Amplify opens wss://), got {url!r}")
    pool_id = str(values["UserPoolId"])
    resolved_region = values.get("Region") or (pool_id.split("_", 1)[0] if "_" in pool_id else None) \
        or region
    if not resolved_region:
        raise WebConfigError("no Region output and the user pool id names no region: pass --region")
    if auth_flow not in (AUTH_FLOW_SRP, AUTH_FLOW_LOCAL):
        raise WebConfigError(f"auth flow must be {AUTH_FLOW_SRP} or {AUTH_FLOW_LOCAL}")
    return {
        "graphqlUrl": url,
        "region": str(resolved_region),
        "userPoolId": pool_id,
        "userPoolClientId": str(values["UserPoolClientId"]),
        "authFlow": auth_flow,
        "cognitoEndpoint": None,
        "stage": "aws",
    }


def local_config(*, graphql_url: str, region: str, user_pool_id: str, user_pool_client_id: str,
                 cognito_endpoint: str) -> dict[str, Any]:
    """The web config of the local stack (moto's Cognito: USER_PASSWORD_AUTH)."""
    return {
        "graphqlUrl": graphql_url,
        "region": region,
        "userPoolId": user_pool_id,
        "userPoolClientId": user_pool_client_id,
        "authFlow": AUTH_FLOW_LOCAL,
        "cognitoEndpoint": cognito_endpoint,
        "stage": "local",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cloudchat_local.web_config",
        description="Write the web client's config.json from a deployed stack's outputs.",
    )
    parser.add_argument("--stack", required=True, help="CloudFormation stack name (e.g. cloudchat-dev)")
    parser.add_argument("--region", default=None, help="AWS region (default: the AWS config's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT}")
    parser.add_argument("--auth-flow", default=AUTH_FLOW_SRP, choices=(AUTH_FLOW_SRP, AUTH_FLOW_LOCAL))
    args = parser.parse_args(argv)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        cfn = boto3.client("cloudformation", region_name=args.region)
        stacks = cfn.describe_stacks(StackName=args.stack)["Stacks"]
        config = config_from_stack_outputs(stacks[0].get("Outputs") or [],
                                           region=args.region or cfn.meta.region_name,
                                           auth_flow=args.auth_flow)
    except (BotoCoreError, ClientError, WebConfigError) as exc:
        print(f"web-config: {exc}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} for stack {args.stack} ({config['graphqlUrl']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
