"""An AppSync emulator: the project's schema, auth and real-time protocol, served locally
with the real Python Lambda handlers (in-process, or through an invoker: the local stack runs
each function in worker processes of its own).

Wiring is plain data, ``{(type_name, field_name): resolver}``::

    from cloudchat_local.emulator import (
        CognitoConfig, EmulatorConfig, IamConfig, IamCredential, LambdaResolver,
        NONE_DATA_SOURCE, run_in_thread,
    )

    config = EmulatorConfig(
        schema_path=Path("schema.graphql"),
        resolvers={
            ("Mutation", "sendMessage"): LambdaResolver.from_module("resolvers.messages"),
            ("Mutation", "publishUserEvent"): NONE_DATA_SOURCE,
        },
        cognito=CognitoConfig.for_moto("http://127.0.0.1:5000", pool_id, {client_id}),
        iam=IamConfig((IamCredential("AKIDLOCAL", "secret"),)),
        port=4000,
    )
    with run_in_thread(config) as running:
        print(running.graphql_url, running.realtime_url)

See :func:`create_app` for embedding the ASGI app elsewhere, :func:`serve` for a blocking
server, and :func:`start` for an async context manager.
"""

from cloudchat_local.errors import ConfigError, EmulatorError, PortInUse, SchemaError

from ._config import (
    NONE_DATA_SOURCE,
    CognitoConfig,
    EmulatorConfig,
    Handler,
    IamConfig,
    IamCredential,
    LambdaResolver,
    NoneDataSource,
    Resolver,
    ResolverMap,
)
from ._events import LambdaContext, build_event, lambda_outcome
from ._execute import Engine
from ._schema import build_appsync_schema, load_schema, print_schema_sdl
from ._server import RunningEmulator, run_in_thread, serve, start
from ._tls import TlsFiles, ensure_self_signed_cert
from .app import create_app

__all__ = [
    "NONE_DATA_SOURCE",
    "CognitoConfig",
    "ConfigError",
    "EmulatorConfig",
    "EmulatorError",
    "Engine",
    "Handler",
    "IamConfig",
    "IamCredential",
    "LambdaContext",
    "LambdaResolver",
    "NoneDataSource",
    "PortInUse",
    "Resolver",
    "ResolverMap",
    "RunningEmulator",
    "SchemaError",
    "TlsFiles",
    "build_appsync_schema",
    "build_event",
    "create_app",
    "ensure_self_signed_cert",
    "lambda_outcome",
    "load_schema",
    "print_schema_sdl",
    "run_in_thread",
    "serve",
    "start",
]
