"""``POST /cognito``: the Cognito user pool API (moto's, locally) on the emulator's own origin.

A browser app served by the emulator (``/app/``) talks to Cognito through this route, so sign-in
needs no CORS and no mixed content (the app is on the HTTPS port, moto speaks plain HTTP).
Requests are forwarded as they are (``X-Amz-Target`` + JSON body), with one translation for a
moto gap: Amplify JS v6 refreshes tokens with ``GetTokensFromRefreshToken``, which moto does
not implement; it is forwarded as the equivalent ``InitiateAuth`` with ``REFRESH_TOKEN_AUTH``
(same ``AuthenticationResult``), so a browser session outlives the one-hour tokens.
"""

from __future__ import annotations

import json
from typing import Any, Final

import aiohttp
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["COGNITO_CORS_HEADERS", "TARGET_PREFIX", "cognito_proxy_endpoint", "translate"]

TARGET_PREFIX: Final = "AWSCognitoIdentityProviderService."
#: Request headers Amplify's Cognito client sends (for a web client on another origin).
COGNITO_CORS_HEADERS: Final = ("x-amz-target", "x-amz-user-agent", "cache-control",
                               "amz-sdk-invocation-id", "amz-sdk-request")
_FORWARDED_RESPONSE_HEADERS: Final = ("content-type", "x-amzn-errortype", "x-amzn-requestid",
                                      "x-amzn-errormessage")
_TIMEOUT: Final = aiohttp.ClientTimeout(total=30)


def translate(target: str, body: bytes) -> tuple[str, bytes]:
    """The request moto understands for ``target`` (only GetTokensFromRefreshToken changes)."""
    if target != TARGET_PREFIX + "GetTokensFromRefreshToken":
        return target, body
    try:
        params: dict[str, Any] = json.loads(body or b"{}")
    except ValueError:
        return target, body  # let the upstream reject it
    auth: dict[str, Any] = {"REFRESH_TOKEN": params.get("RefreshToken")}
    if params.get("ClientSecret"):
        auth["SECRET_HASH"] = params["ClientSecret"]
    if params.get("DeviceKey"):
        auth["DEVICE_KEY"] = params["DeviceKey"]
    initiate: dict[str, Any] = {"ClientId": params.get("ClientId"), "AuthFlow": "REFRESH_TOKEN_AUTH",
                                "AuthParameters": auth}
    if params.get("ClientMetadata"):
        initiate["ClientMetadata"] = params["ClientMetadata"]
    return TARGET_PREFIX + "InitiateAuth", json.dumps(initiate).encode()


async def cognito_proxy_endpoint(request: Request) -> Response:
    upstream: str | None = getattr(request.app.state, "cognito_upstream", None)
    if not upstream:
        return JSONResponse({"message": "no Cognito endpoint is configured"}, status_code=404)
    target = request.headers.get("x-amz-target", "")
    if not target.startswith(TARGET_PREFIX):
        return JSONResponse({"__type": "UnknownOperationException",
                             "message": "not a Cognito user pool call"}, status_code=400)
    target, body = translate(target, await request.body())
    headers = {"Content-Type": request.headers.get("content-type", "application/x-amz-json-1.1"),
               "X-Amz-Target": target}
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as session,
            session.post(upstream, data=body, headers=headers) as response,
        ):
            content = await response.read()
            forwarded = {k: v for k, v in response.headers.items()
                         if k.lower() in _FORWARDED_RESPONSE_HEADERS}
            return Response(content, status_code=response.status, headers=forwarded)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return JSONResponse({"__type": "ServiceUnavailableException",
                             "message": f"the local Cognito endpoint is unreachable: {exc}"}, status_code=503)
