"""``/graphql`` over HTTP: POST (and GET ?query=) requests, and the GraphiQL page on GET.

Responses follow AppSync:

* auth failures: 401/403 ``{"errors": [{"errorType", "message"}]}`` and ``x-amzn-ErrorType``
* empty body: 400 ``MalformedHttpRequestException`` "Request body is empty."
* a body that is not a GraphQL request: 400 ``MalformedHttpRequestException``
  "Unable to parse GraphQL query."
* syntax/validation/variable errors: 200 ``{"data": null, "errors": [...]}``
* execution: 200 ``{"data": {...}, "errors": [...]}`` (errors only when there are some)

Every response carries ``x-amzn-RequestId``.
"""

from __future__ import annotations

import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cloudchat_local.errors import AuthError

from ._auth import CaseInsensitiveHeaders
from ._execute import Engine

MALFORMED: Final = "MalformedHttpRequestException"

CORS_ALLOW_HEADERS: Final = (
    "authorization",
    "content-type",
    "x-amz-date",
    "x-amz-user-agent",
    "x-api-key",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "accept",
)
CORS_EXPOSE_HEADERS: Final = ("x-amzn-RequestId", "x-amzn-ErrorType")


@cache
def graphiql_html() -> str:
    return (Path(__file__).parent / "graphiql.html").read_text(encoding="utf-8")


def _json(status: int, body: dict[str, Any], request_id: str, error_type: str | None = None) -> Response:
    headers = {"x-amzn-RequestId": request_id}
    if error_type:
        headers["x-amzn-ErrorType"] = error_type
    return Response(
        json.dumps(body, default=str),
        status_code=status,
        media_type="application/json; charset=UTF-8",
        headers=headers,
    )


def _malformed(message: str, request_id: str) -> Response:
    return _json(400, {"errors": [{"errorType": MALFORMED, "message": message}]}, request_id, MALFORMED)


def _parse_request(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return None
    if payload.get("variables") is not None and not isinstance(payload["variables"], dict):
        return None
    if payload.get("operationName") is not None and not isinstance(payload["operationName"], str):
        return None
    return payload


async def graphql_endpoint(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    request_id = str(uuid.uuid4())
    if request.method == "GET" and "query" not in request.query_params:
        return HTMLResponse(graphiql_html())
    body = b"" if request.method == "GET" else await request.body()
    headers = CaseInsensitiveHeaders.of(request.headers)
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    try:
        principal = await engine.authenticator.authenticate(
            headers,
            method=request.method,
            path=raw_path.decode("latin-1"),
            query=request.url.query,
            body=body,
        )
    except AuthError as exc:
        return _json(exc.status, exc.body(), request_id, exc.error_type)
    if request.method == "GET":
        params = request.query_params
        variables: Any = None
        if params.get("variables"):
            try:
                variables = json.loads(params["variables"])
            except ValueError:
                return _malformed("Unable to parse GraphQL query.", request_id)
        payload: dict[str, Any] | None = _parse_request(
            json.dumps(
                {
                    "query": params["query"],
                    "variables": variables,
                    "operationName": params.get("operationName"),
                }
            ).encode()
        )
    else:
        if not body.strip():
            return _malformed("Request body is empty.", request_id)
        payload = _parse_request(body)
    if payload is None:
        return _malformed("Unable to parse GraphQL query.", request_id)
    source_ip = request.client.host if request.client else "127.0.0.1"
    result = await engine.run_http(payload, principal=principal, source_ip=source_ip, headers=dict(headers))
    engine.publish(result.publish)
    return _json(result.status, result.body, request_id)


async def root_redirect(_request: Request) -> Response:
    return RedirectResponse("/graphql")
