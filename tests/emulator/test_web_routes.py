"""The web client routes of the emulator (not AppSync APIs): ``/app/`` serves a built app
(``EmulatorConfig.web_dir``), ``/config.json`` and ``/app/config.json`` its configuration, on
the HTTP and the HTTPS port; a missing build answers 404 with how to build it. ``/cognito``
forwards Cognito user pool calls to moto, with Amplify's GetTokensFromRefreshToken (which
moto lacks) turned into InitiateAuth REFRESH_TOKEN_AUTH."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cloudchat_local.emulator import EmulatorConfig, run_in_thread
from cloudchat_local.emulator._cognito_proxy import translate

from .conftest import FIXTURE_SCHEMA, PASSWORD, Cognito

WEB_CONFIG = {"graphqlUrl": "https://127.0.0.1:1/graphql", "authFlow": "USER_PASSWORD_AUTH"}


def _get(url: str, cafile: Path | None = None) -> tuple[int, str, dict[str, str]]:
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as resp:
            return resp.status, resp.read().decode(), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), {k.lower(): v for k, v in exc.headers.items()}


def test_built_app_and_config_are_served_on_both_ports(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><div id=root></div>")
    (dist / "assets" / "app.js").write_text("console.log('hi')")
    config = EmulatorConfig(schema_path=FIXTURE_SCHEMA, tls_port=0, state_dir=tmp_path / "state",
                            web_dir=dist, web_config=WEB_CONFIG)
    with run_in_thread(config) as running:
        assert running.https_graphql_url and running.cert_path
        for base, cafile in ((running.graphql_url, None), (running.https_graphql_url, running.cert_path)):
            origin = base.removesuffix("/graphql")
            status, body, _ = _get(origin + "/app/", cafile)
            assert (status, body) == (200, "<!doctype html><div id=root></div>")
            status, body, headers = _get(origin + "/app/assets/app.js", cafile)
            assert status == 200 and "javascript" in headers["content-type"]
            for path in ("/config.json", "/app/config.json"):
                status, body, headers = _get(origin + path, cafile)
                assert status == 200 and json.loads(body) == WEB_CONFIG
                assert headers["cache-control"] == "no-store"
            status, _, _ = _get(origin + "/app/missing.js", cafile)
            assert status == 404
        # /app redirects to /app/ (relative asset URLs need the slash).
        status, body, _ = _get(running.graphql_url.removesuffix("/graphql") + "/app")
        assert status == 200 and "id=root" in body


def test_a_missing_build_says_how_to_build_it_and_is_served_once_built(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    config = EmulatorConfig(schema_path=FIXTURE_SCHEMA, web_dir=dist)
    with run_in_thread(config) as running:
        origin = running.graphql_url.removesuffix("/graphql")
        status, body, _ = _get(origin + "/app/")
        assert status == 404 and "make web" in body
        assert _get(origin + "/config.json")[0] == 404  # no web_config: no route
        dist.mkdir()
        (dist / "index.html").write_text("built later")
        assert _get(origin + "/app/")[:2] == (200, "built later")


@pytest.mark.parametrize("path", ["/app/", "/config.json"])
def test_without_web_settings_nothing_is_served(tmp_path: Path, path: str) -> None:
    with run_in_thread(EmulatorConfig(schema_path=FIXTURE_SCHEMA)) as running:
        assert _get(running.graphql_url.removesuffix("/graphql") + path)[0] == 404


def _cognito_call(url: str, operation: str, params: dict[str, object]) -> tuple[int, dict[str, object], str]:
    request = urllib.request.Request(url, method="POST", data=json.dumps(params).encode(), headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"AWSCognitoIdentityProviderService.{operation}",
    })
    status, body, headers = _open(request)
    return status, json.loads(body or "{}"), headers.get("x-amzn-errortype", "")


def _open(request: urllib.request.Request) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode(), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), {k.lower(): v for k, v in exc.headers.items()}


def test_cognito_calls_are_forwarded_and_refresh_works(cognito: Cognito) -> None:
    config = EmulatorConfig(schema_path=FIXTURE_SCHEMA, cognito_proxy_upstream=cognito.endpoint)
    with run_in_thread(config) as running:
        url = running.graphql_url.removesuffix("/graphql") + "/cognito"
        status, body, _ = _cognito_call(url, "InitiateAuth", {
            "ClientId": cognito.client_id, "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": "alice", "PASSWORD": PASSWORD}})
        assert status == 200, body
        signed_in = body["AuthenticationResult"]
        assert isinstance(signed_in, dict) and signed_in["RefreshToken"]

        status, body, _ = _cognito_call(url, "GetTokensFromRefreshToken", {
            "ClientId": cognito.client_id, "RefreshToken": signed_in["RefreshToken"]})
        assert status == 200, body
        refreshed = body["AuthenticationResult"]
        assert isinstance(refreshed, dict)
        assert refreshed["AccessToken"] and refreshed["IdToken"]

        status, body, error_type = _cognito_call(url, "GetTokensFromRefreshToken", {
            "ClientId": cognito.client_id, "RefreshToken": "not-a-refresh-token"})
        assert status == 400 and "NotAuthorized" in str(body.get("__type")) + error_type

        status, body, error_type = _cognito_call(url, "InitiateAuth", {
            "ClientId": cognito.client_id, "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": "alice", "PASSWORD": "wrong-password"}})
        assert status == 400 and "NotAuthorized" in str(body.get("__type")) + error_type

        other = urllib.request.Request(url, method="POST", data=b"{}", headers={"X-Amz-Target": "DynamoDB_20120810.Scan"})
        assert _open(other)[0] == 400

        # A web client on another origin (vite's dev server) passes the CORS preflight.
        preflight = urllib.request.Request(url, method="OPTIONS", headers={
            "Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "amz-sdk-invocation-id,amz-sdk-request,cache-control,"
                                              "content-type,x-amz-target,x-amz-user-agent"})
        status, _, headers = _open(preflight)
        assert status == 200 and headers["access-control-allow-origin"] in ("*", "http://localhost:5173")


def test_without_an_upstream_there_is_no_cognito_route() -> None:
    with run_in_thread(EmulatorConfig(schema_path=FIXTURE_SCHEMA)) as running:
        request = urllib.request.Request(running.graphql_url.removesuffix("/graphql") + "/cognito",
                                         method="POST", data=b"{}")
        assert _open(request)[0] in (404, 405)


def test_only_the_refresh_call_is_translated() -> None:
    body = json.dumps({"ClientId": "c", "RefreshToken": "r", "DeviceKey": "d"}).encode()
    target, translated = translate("AWSCognitoIdentityProviderService.GetTokensFromRefreshToken", body)
    assert target == "AWSCognitoIdentityProviderService.InitiateAuth"
    assert json.loads(translated) == {"ClientId": "c", "AuthFlow": "REFRESH_TOKEN_AUTH",
                                      "AuthParameters": {"REFRESH_TOKEN": "r", "DEVICE_KEY": "d"}}
    assert translate("AWSCognitoIdentityProviderService.SignUp", b"{}") == (
        "AWSCognitoIdentityProviderService.SignUp", b"{}")
