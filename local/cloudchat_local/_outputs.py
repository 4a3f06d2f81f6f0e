"""``.cloudchat/outputs.json`` (the local stack's "stack outputs") and the startup banner.

The template's own ``Outputs`` are evaluated against the local resources first (so the file
has the same keys a deployed stack has: ``GraphQLApiUrl``, ``GraphQLRealtimeUrl``,
``UserPoolId``, ``UserPoolClientId``, ``Region``, ``TableName``, ``KmsKeyArn`` ...), then the
local-only keys are added::

    GraphiQLUrl, CognitoEndpoint, AwsEndpointUrl, IamAccessKeyId, IamSecretAccessKey,
    DemoUsers: [{username, password, name, sub, groups}], DemoConversationId,
    GraphQLApiHttpsUrl, GraphQLRealtimeWssUrl, TlsCertificate   (when HTTPS is on)
    WebClientUrl, WebClientBuilt   (the web client at /app/ of the emulator; built or not)
    StreamConsumers: [{function, stream}], StateDir, Pid
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cloudchat_local.errors import TemplateError
from cloudchat_local.provision import Provisioned
from cloudchat_local.template import Template

__all__ = ["banner", "build_outputs", "write_outputs"]

log = logging.getLogger("cloudchat_local.dev")


def template_outputs(template: Template, resolve: Mapping[str, str]) -> dict[str, Any]:
    """Each template output's value; outputs that cannot be resolved locally are left out."""
    values: dict[str, Any] = {}
    for name, spec in template.outputs.items():
        if not isinstance(spec, Mapping) or "Value" not in spec:
            continue
        try:
            values[name] = template.evaluate(spec["Value"], resolve, where=f"Outputs.{name}")
        except TemplateError as exc:
            log.info("output %s is not available locally: %s", name, exc)
    return values


def build_outputs(
    *,
    template: Template,
    provisioned: Provisioned,
    resolve: Mapping[str, str],
    graphql_url: str,
    realtime_url: str,
    https_graphql_url: str | None,
    wss_realtime_url: str | None,
    cert_path: Path | None,
    state_dir: Path,
    demo_conversation_id: str | None,
    stream_consumers: Sequence[Mapping[str, str]] = (),
    web_url: str | None = None,
    web_dir: Path | None = None,
) -> dict[str, Any]:
    outputs = template_outputs(template, resolve)
    outputs.update(
        {
            "GraphQLApiUrl": graphql_url,
            "GraphQLRealtimeUrl": realtime_url,
            "GraphiQLUrl": graphql_url,
            "UserPoolId": provisioned.user_pool_id,
            "UserPoolClientId": provisioned.user_pool_client_id,
            "Region": provisioned.region,
            "CognitoEndpoint": provisioned.cognito_endpoint,
            "AwsEndpointUrl": provisioned.endpoint,
            "IamAccessKeyId": provisioned.access_key_id,
            "IamSecretAccessKey": provisioned.secret_access_key,
            "DemoUsers": [
                {
                    "username": u.username,
                    "password": u.password,
                    "name": u.name,
                    "sub": u.sub,
                    "groups": list(u.groups),
                }
                for u in provisioned.demo_users
            ],
            "DemoConversationId": demo_conversation_id,
            "StreamConsumers": [dict(c) for c in stream_consumers],
            "StateDir": str(state_dir),
            "Pid": os.getpid(),
        }
    )
    if https_graphql_url:
        outputs["GraphQLApiHttpsUrl"] = https_graphql_url
        outputs["GraphQLRealtimeWssUrl"] = wss_realtime_url
        outputs["TlsCertificate"] = str(cert_path) if cert_path else None
    if web_url:
        outputs["WebClientUrl"] = web_url
        outputs["WebClientBuilt"] = bool(web_dir and (web_dir / "index.html").is_file())
    return outputs


def write_outputs(path: Path, outputs: Mapping[str, Any]) -> None:
    """Atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(outputs, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _display(path: Path | str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def banner(outputs: Mapping[str, Any], outputs_path: Path) -> str:
    lines = [
        f"CloudChat local stack ready (outputs: {_display(outputs_path)})",
        f"  GraphQL  (HTTP)   {outputs['GraphQLApiUrl']}",
        f"  Realtime (WS)     {outputs['GraphQLRealtimeUrl']}",
        f"  GraphiQL          {outputs['GraphiQLUrl']}   (open it in a browser)",
    ]
    if outputs.get("GraphQLApiHttpsUrl"):
        lines += [
            f"  GraphQL  (HTTPS)  {outputs['GraphQLApiHttpsUrl']}   (for Amplify v6)",
            f"  Realtime (WSS)    {outputs['GraphQLRealtimeWssUrl']}",
            f"  TLS certificate   {_display(outputs['TlsCertificate'])}   (self-signed: trust it once)",
        ]
    lines += [
        f"  AWS (moto)        {outputs['AwsEndpointUrl']}   user pool {outputs['UserPoolId']},"
        f" client {outputs['UserPoolClientId']}",
    ]
    users = outputs.get("DemoUsers") or []
    if users:
        names = ", ".join(
            u["username"] + (f" ({', '.join(u['groups'])})" if u["groups"] else "") for u in users
        )
        lines += [f"  Demo logins       {names}", f"                    password: {users[0]['password']}"]
    if outputs.get("WebClientUrl"):
        if outputs.get("WebClientBuilt"):
            lines.append(f"  Web client        {outputs['WebClientUrl']}   (accept the certificate once)")
        else:
            lines.append(f"  Web client        {outputs['WebClientUrl']}   (not built: run `make web`)")
    for consumer in outputs.get("StreamConsumers") or []:
        lines.append(f"  Stream consumer   {consumer['function']} <- {consumer['stream']}")
    mails = str(outputs["GraphQLApiUrl"]).removesuffix("graphql") + "_emulator/mails"
    lines.append(f"  Sent e-mail       {mails}   (or: cloudchat mails; nothing is delivered)")
    lines.append(f"Ctrl-C stops the stack; data is kept in {_display(outputs['StateDir'])} "
                 "(--fresh starts empty).")
    return "\n".join(lines)
