"""What the local stack builds from template.yaml for its parts: the emulator's configuration
(each wired field's resolver on a pool of its function's workers; Cognito and IAM auth; the web
client) and the stream consumers' processes (see :mod:`cloudchat_local.dev`)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudchat_local._consumers import ConsumerProcess
from cloudchat_local._functions import (
    FunctionConfig,
    FunctionPool,
    FunctionPools,
    function_config,
    worker_environment,
)
from cloudchat_local._stack_settings import (
    CONSUMERS_SPEC_FILE,
    DEFAULT_WEB_DIR,
    HOST,
    LEGACY_CHECKPOINTS_FILE,
    STREAM_CHECKPOINTS_FILE,
)
from cloudchat_local._streams import StreamEventSource, stream_event_sources
from cloudchat_local.errors import ConsumerStartError, LocalStackError
from cloudchat_local.iam import USAGE_FILE as IAM_USAGE_FILE
from cloudchat_local.iam import appsync_credentials, build_policy_map
from cloudchat_local.provision import Provisioned
from cloudchat_local.template import Template

if TYPE_CHECKING:
    from cloudchat_local.emulator import EmulatorConfig

__all__ = ["auth_settings", "emulator_config", "function_config_for", "resolver_code", "start_consumers"]


def auth_settings(template: Template) -> tuple[set[str], str | None]:
    """The API's auth types (default + additional) and its app client id regex, if any."""
    auth = template.graphql_api().properties.get("Auth") or {}
    types = {str(auth.get("Type", "AMAZON_COGNITO_USER_POOLS"))}
    for extra in auth.get("Additional") or []:
        if isinstance(extra, Mapping) and extra.get("Type"):
            types.add(str(extra["Type"]))
    regex = (auth.get("UserPool") or {}).get("AppIdClientRegex")
    return types, str(regex) if regex else None


def resolver_code(wiring: Any) -> str | None:
    """The file name of a resolver's own code (appsync/subscribe.js, appsync/revoke.js), whose
    rule the emulator applies; None for SAM's default pass-through code."""
    path = wiring.resolver_code_path
    return None if path is None else str(path.name)


def emulator_config(
    template: Template, prov: Provisioned, resolve: Mapping[str, str], functions: FunctionPools, *,
    state_dir: Path, port: int, tls_port: int | None, max_concurrency: int,
) -> EmulatorConfig:
    """The emulator's configuration: each wired field's resolver (on a pool of its function's
    workers, added to ``functions``, none started), Cognito and IAM auth, the web client."""
    from cloudchat_local.emulator import (
        NONE_DATA_SOURCE,
        CognitoConfig,
        EmulatorConfig,
        IamConfig,
        IamCredential,
        LambdaResolver,
    )

    resolvers: dict[tuple[str, str], Any] = {}
    for wiring in template.field_wiring():
        key = (wiring.type_name, wiring.field_name)
        if wiring.data_source_kind == "NONE":
            resolvers[key] = NONE_DATA_SOURCE
            continue
        assert wiring.function_logical_id is not None
        pool = functions.get(wiring.function_logical_id)
        if pool is None:
            pool = functions[wiring.function_logical_id] = FunctionPool(
                function_config_for(template, wiring.function_logical_id, resolve, prov),
                max_concurrency=max_concurrency)
        resolvers[key] = LambdaResolver(
            invoker=pool,
            function_name=pool.config.function_name,
            memory_limit_in_mb=pool.config.memory_limit_in_mb,
            timeout_s=pool.config.timeout_s,
            sets_subscription_filter=resolver_code(wiring) == "subscribe.js",
            revokes_subscriptions=resolver_code(wiring) == "revoke.js",
        )
    auth_types, client_regex = auth_settings(template)
    cognito = None
    if "AMAZON_COGNITO_USER_POOLS" in auth_types:
        clients: frozenset[str] = frozenset()  # AppSync: any client of the pool
        if client_regex is not None:
            clients = frozenset(
                c for c in (prov.user_pool_client_id,) if re.fullmatch(client_regex, c)
            ) or frozenset({"<no client matches AppIdClientRegex>"})
        cognito = CognitoConfig(
            user_pool_id=prov.user_pool_id,
            jwks_url=prov.jwks_url,
            issuer=prov.issuer,
            client_ids=clients,
        )
    iam = None
    if "AWS_IAM" in auth_types:
        # The stack's own key, and each function's (its execution role: the stream
        # function signs its publishUserEvent mutations with it), each checked against
        # its function's appsync:GraphQL grants.
        iam = IamConfig((IamCredential(prov.access_key_id, prov.secret_access_key,
                                       account_id=prov.account_id),
                         *appsync_credentials(build_policy_map(template, resolve),
                                              state_dir / IAM_USAGE_FILE)))
    from cloudchat_local.web_config import local_config

    scheme, web_port = ("https", tls_port) if tls_port is not None else ("http", port)
    config = EmulatorConfig(
        schema_path=template.schema_path(),
        resolvers=resolvers,
        cognito=cognito,
        iam=iam,
        host=HOST,
        port=port,
        tls_port=tls_port,
        state_dir=state_dir,
        web_dir=DEFAULT_WEB_DIR,
        # The web client signs in through the emulator (same origin; moto's missing
        # GetTokensFromRefreshToken is translated there), see emulator._cognito_proxy.
        web_config=local_config(
            graphql_url=f"{scheme}://{HOST}:{web_port}/graphql", region=prov.region,
            user_pool_id=prov.user_pool_id, user_pool_client_id=prov.user_pool_client_id,
            cognito_endpoint=f"{scheme}://{HOST}:{web_port}/cognito",
        ),
        cognito_proxy_upstream=prov.cognito_endpoint,
        mails_upstream=prov.endpoint,
    )
    return config


def function_config_for(
    template: Template, logical_id: str, resolve: Mapping[str, str], prov: Provisioned
) -> FunctionConfig:
    """What a pool needs to run ``logical_id``'s workers against this stack."""
    return function_config(template, logical_id, resolve, endpoint=prov.endpoint,
                           region=prov.region, account_id=prov.account_id)


def start_consumers(
    template: Template, prov: Provisioned, resolve: Mapping[str, str], consumers: list[ConsumerProcess],
    *, state_dir: Path, poll_interval_s: float, stream_lag_s: float,
) -> None:
    """Template.yaml's stream consumers, in a process of their own per function, with
    that function's environment (as on Lambda: see cloudchat_local._consumers). Each one
    started is appended to ``consumers`` at once (so the caller stops it if a later one fails)."""
    sources: list[StreamEventSource] = stream_event_sources(template, resolve)
    for logical_id in dict.fromkeys(source.function_logical_id for source in sources):
        checkpoints = state_dir / STREAM_CHECKPOINTS_FILE.format(function=logical_id)
        legacy = state_dir / LEGACY_CHECKPOINTS_FILE
        if legacy.is_file() and not checkpoints.exists():  # keys are per function: reusable
            checkpoints.write_bytes(legacy.read_bytes())
        spec = {
            "document": template.document, "template_path": str(template.path),
            "resolve": resolve, "endpoint": prov.endpoint, "region": prov.region,
            "account_id": prov.account_id, "access_key_id": prov.access_key_id,
            "secret_access_key": prov.secret_access_key,
            "checkpoints": str(checkpoints),
            "poll_interval_s": poll_interval_s, "stream_lag_s": stream_lag_s,
            "function": logical_id,
        }
        try:
            consumers.append(ConsumerProcess.start(
                spec=spec,
                spec_path=state_dir / CONSUMERS_SPEC_FILE.format(function=logical_id),
                sources=[s for s in sources if s.function_logical_id == logical_id],
                env=worker_environment(function_config_for(template, logical_id, resolve, prov))))
        except ConsumerStartError as exc:
            raise LocalStackError(str(exc)) from exc
    with contextlib.suppress(FileNotFoundError):
        (state_dir / LEGACY_CHECKPOINTS_FILE).unlink()
