"""The ASGI application: ``/graphql`` (HTTP + GraphiQL) and ``/graphql/realtime`` (WebSocket).

``GET /_emulator/subscriptions`` is the emulator's own (not an AppSync API): how many
real-time subscriptions are active, in total and per subscription field, so a client that
vanished can be seen to leave nothing behind.

The web client (also not an AppSync API): with ``EmulatorConfig.web_dir`` set, the built app
(``web/dist``) is served at ``/app/`` on every port the emulator listens on, and with
``web_config`` set, ``/config.json`` (and ``/app/config.json``, which the app fetches
relative to itself) answers that mapping. Served from the HTTPS port, the app, the API and
``wss://`` real-time share one origin, which is what Amplify v6 needs locally. With
``cognito_proxy_upstream``, ``POST /cognito`` forwards Cognito user pool calls there
(:mod:`._cognito_proxy`), so sign-in is on that origin too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from ._cognito_proxy import COGNITO_CORS_HEADERS, cognito_proxy_endpoint
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
            Route("/_emulator/mails", mails_endpoint, methods=["GET"]),
            *web_routes(config),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["GET", "POST", "OPTIONS"],
                # + what Amplify's Cognito calls send to /cognito (a web client on another origin)
                allow_headers=[*CORS_ALLOW_HEADERS, *COGNITO_CORS_HEADERS],
                expose_headers=list(CORS_EXPOSE_HEADERS),
                max_age=86400,
            )
        ],
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.cognito_upstream = config.cognito_proxy_upstream
    app.state.mails_upstream = config.mails_upstream
    return app


async def subscriptions_endpoint(request: Request) -> JSONResponse:
    """Active subscriptions: ``{"active": n, "byField": {"onMessage": n, ...}}``."""
    engine: Engine = request.app.state.engine
    subscription_type = engine.schema.subscription_type
    fields = list(subscription_type.fields) if subscription_type is not None else []
    return JSONResponse({"active": engine.broker.count(),
                         "byField": {name: engine.broker.count(name) for name in fields}})


async def mails_endpoint(request: Request) -> JSONResponse:
    """The e-mail the stack's SES (moto) accepted, oldest first (dev only: AppSync has no
    such route): ``{"mails": [{"id", "from", "to", "cc", "bcc", "subject", "body"}]}``,
    ``?to=<address>`` keeps the mails to that address."""
    from starlette.concurrency import run_in_threadpool

    from cloudchat_local.moto import sent_mails

    upstream = request.app.state.mails_upstream
    if not upstream:
        return JSONResponse({"error": "no moto server behind this emulator"}, status_code=404)
    mails = await run_in_threadpool(sent_mails, upstream)
    to = request.query_params.get("to")
    if to:
        mails = [m for m in mails if to.casefold() in (a.casefold() for a in m["to"])]
    return JSONResponse({"mails": mails})


def web_routes(config: EmulatorConfig) -> list[BaseRoute]:
    """``/config.json`` and ``/app/config.json`` (with ``web_config``), ``/app/`` (with a
    ``web_dir``; a missing directory answers 404 with how to build it, so an app built after
    the emulator started is served without a restart)."""
    routes: list[BaseRoute] = []
    if config.web_config is not None:
        body = dict(config.web_config)

        async def web_config_endpoint(_request: Request) -> JSONResponse:
            return JSONResponse(body, headers={"Cache-Control": "no-store"})

        routes += [Route("/config.json", web_config_endpoint, methods=["GET"]),
                   Route("/app/config.json", web_config_endpoint, methods=["GET"])]
    if config.cognito_proxy_upstream is not None:
        routes += [Route("/cognito", cognito_proxy_endpoint, methods=["POST"]),
                   Route("/cognito/", cognito_proxy_endpoint, methods=["POST"])]
    if config.web_dir is not None:
        static = StaticFiles(directory=config.web_dir, html=True, check_dir=False)
        web_dir = config.web_dir

        async def app_redirect(_request: Request) -> Response:
            return RedirectResponse("/app/")

        async def web_app(scope: Scope, receive: Receive, send: Send) -> None:
            if not (web_dir / "index.html").is_file():
                response = PlainTextResponse(
                    f"The web client is not built ({web_dir} has no index.html): run "
                    "`make web` (or `npm ci && npm run build` in web/).", status_code=404)
                await response(scope, receive, send)
                return
            await static(scope, receive, send)

        routes += [Route("/app", app_redirect, methods=["GET"]), Mount("/app", app=web_app)]
    return routes
