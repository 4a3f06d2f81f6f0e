"""The ASGI application: ``/graphql`` (HTTP + GraphiQL) and ``/graphql/realtime`` (WebSocket).

``GET /_emulator/subscriptions`` is the emulator's own (not an AppSync API): how many
real-time subscriptions are active, in total and per subscription field, so a client that
vanished can be seen to leave nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from ._config import EmulatorConfig
from ._execute import Engine
from ._http import CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, graphql_endpoint, root_redirect
from ._realtime import realtime_endpoint


def create_app(config: EmulatorConfig, *, engine: Engine | None = None) -> Starlette:
    """Builds the emulator app. Raises :class:`SchemaError`/:class:`ConfigError` early.

    ``app.state.engine`` is the :class:`Engine` (schema, resolvers, pub/sub broker). When
    the app runs under an ASGI server with lifespan, shutting down releases its workers.
    """
    engine = engine or Engine(config)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            engine.close()

    app = Starlette(
        routes=[
            Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
            WebSocketRoute("/graphql/realtime", realtime_endpoint),
            Route("/", root_redirect, methods=["GET"]),
            Route("/_emulator/subscriptions", subscriptions_endpoint, methods=["GET"]),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=list(CORS_ALLOW_HEADERS),
                expose_headers=list(CORS_EXPOSE_HEADERS),
                max_age=86400,
            )
        ],
        lifespan=lifespan,
    )
    app.state.engine = engine
    return app


async def subscriptions_endpoint(request: Request) -> JSONResponse:
    """Active subscriptions: ``{"active": n, "byField": {"onMessage": n, ...}}``."""
    engine: Engine = request.app.state.engine
    subscription_type = engine.schema.subscription_type
    fields = list(subscription_type.fields) if subscription_type is not None else []
    return JSONResponse({"active": engine.broker.count(),
                         "byField": {name: engine.broker.count(name) for name in fields}})
