"""cloudchat_local.iam.IamMiddleware in-process: which requests it checks, and before the
policies are loaded."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from cloudchat_local._identity import credentials_for
from cloudchat_local.iam import IamMiddleware, PolicyMap, build_policy_map
from cloudchat_local.iam import _middleware as middleware_module
from cloudchat_local.template import load_template
from tests.local.test_iam_policy import TABLE, _resolve


def moto(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"echo": ' + json.dumps(body.decode()).encode() + b"}"]


def request(access_key: str, target: str = "DynamoDB_20120810.GetItem",
            body: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = json.dumps(body or {"TableName": "t", "Key": {}}).encode()
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "",
            "CONTENT_TYPE": "application/x-amz-json-1.0", "CONTENT_LENGTH": str(len(raw)),
            "wsgi.input": io.BytesIO(raw), "HTTP_X_AMZ_TARGET": target,
            "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={access_key}/20260101/us-east-1/"
                                  "dynamodb/aws4_request, SignedHeaders=host, Signature=0"}


def run(app: IamMiddleware, environ: dict[str, Any]) -> tuple[str, bytes]:
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
    return status[0], body


def policies() -> PolicyMap:
    template = load_template()
    return build_policy_map(template, _resolve(template))


def test_moto_still_reads_the_whole_body() -> None:
    app = IamMiddleware(moto)
    app.load(policies(), None)
    status, body = run(app, request(credentials_for("ReceiptsFunction")[0]))
    assert status == "200 OK" and b"TableName" in body


def test_before_the_policies_are_loaded_a_function_key_waits_then_is_denied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(middleware_module, "LOAD_WAIT_S", 0.05)
    app = IamMiddleware(moto)
    status, body = run(app, request(credentials_for("ReceiptsFunction")[0]))
    assert status.startswith("400") and b"AccessDeniedException" in body
    status, _ = run(app, request("testing"))  # any other key passes unchecked
    assert status == "200 OK"


def test_an_explicit_deny_is_named_in_the_message() -> None:
    from cloudchat_local.iam import Statement

    loaded = policies()
    receipts = loaded.by_logical_id("ReceiptsFunction")
    deny = Statement("NoReads", "Deny", actions=("dynamodb:GetItem",), resources=(TABLE,))
    changed = type(receipts)(**{**receipts.__dict__, "statements": (*receipts.statements, deny)})
    app = IamMiddleware(moto)
    app.load(PolicyMap(**{**loaded.__dict__, "functions": {changed.access_key_id: changed}}), None)
    status, body = run(app, request(changed.access_key_id))
    assert status.startswith("400")
    assert b"with an explicit deny in an identity-based policy" in body
