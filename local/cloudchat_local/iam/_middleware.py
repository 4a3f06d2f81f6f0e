"""The WSGI middleware in front of moto that enforces each function's IAM policies.

Requests signed with a template function's access key (:mod:`cloudchat_local._identity`) are
mapped to IAM checks (:mod:`._requests`, :mod:`._s3`) and evaluated against that function's
statements (:mod:`._policy`); a denial is answered as the AWS service answers it, for its
protocol, and moto never sees the request. Any other key (the provisioner, tests, the stream
poller acting as the Lambda service) passes unchecked. A function key's request that cannot
be mapped is denied (strict) with a log line saying why.

Control (loopback only, like the rest of moto):

* ``POST /_cloudchat/iam`` with ``{"policies": <PolicyMap JSON>, "usage_path": "..."}`` loads
  the policies (the local stack does so right after provisioning). Until then, a function
  key's request waits for them (at most :data:`LOAD_WAIT_S`), then is denied.
* ``GET /_cloudchat/iam/usage``: every allowed decision so far, as :mod:`._usage` records it.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape

from cloudchat_local._identity import ACCESS_KEY_PREFIX

from ._policy import AuthzRequest, Decision, evaluate
from ._requests import Caller, MappedCall, caller_of, map_request
from ._template import FunctionPolicy, PolicyMap
from ._usage import UsageRecorder

__all__ = ["CONTROL_PATH", "IamMiddleware", "denial_message"]

log = logging.getLogger("cloudchat_local.iam")

CONTROL_PATH: Final = "/_cloudchat/iam"
LOAD_WAIT_S: Final = 30.0
_MAX_FORM_BYTES: Final = 128 * 1024 * 1024

StartResponse = Callable[..., Any]


def denial_message(function: FunctionPolicy, check: AuthzRequest, decision: Decision) -> str:
    why = ("with an explicit deny in an identity-based policy" if decision.explicit_deny
           else f"because no identity-based policy allows the {check.action} action")
    return (f"User: {function.principal_arn} is not authorized to perform: {check.action} "
            f"on resource: {check.resource} {why}")


def _respond(start_response: StartResponse, status: str, headers: list[tuple[str, str]],
             body: bytes) -> list[bytes]:
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


def deny(call: MappedCall, message: str, start_response: StartResponse) -> list[bytes]:
    """The AWS service's own AccessDenied answer for the call's protocol."""
    request_id = str(uuid.uuid4())
    if call.protocol == "rest-xml":
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                f"<Message>{escape(message)}</Message><RequestId>{request_id[:16].upper()}"
                f"</RequestId><HostId>{request_id}</HostId></Error>").encode()
        return _respond(start_response, "403 Forbidden",
                        [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], body)
    if call.protocol == "query":
        code = "AuthorizationError" if call.service == "sns" else "AccessDenied"
        body = (f'<ErrorResponse xmlns="https://{call.service}.amazonaws.com/doc/"><Error>'
                f"<Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>").encode()
        return _respond(start_response, "403 Forbidden",
                        [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body)
    headers = [("Content-Type", f"application/x-amz-json-{call.json_version}"),
               ("x-amzn-RequestId", request_id)]
    if call.service == "dynamodb" or call.query_compatible:
        document = {"__type": "com.amazon.coral.service#AccessDeniedException", "Message": message}
    else:
        document = {"__type": "AccessDeniedException", "message": message}
    status = "400 Bad Request"
    if call.query_compatible:
        headers.append(("x-amzn-query-error", "AccessDenied;Sender"))
        status = "403 Forbidden"
    return _respond(start_response, status, headers, json.dumps(document).encode())


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = stream.read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
    return body


def _form(environ: Mapping[str, Any], body: bytes) -> dict[str, str] | None:
    """The text fields of a multipart form upload (S3 presigned POST), body untouched."""
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if environ.get("REQUEST_METHOD") != "POST" or not content_type.startswith("multipart/form-data"):
        return None
    if len(body) > _MAX_FORM_BYTES:
        return None
    from werkzeug.formparser import parse_form_data

    copy = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    _, form, files = parse_form_data(copy)
    fields = {str(k): str(v) for k, v in form.items()}
    for upload in files.values():
        fields["__filename__"] = str(upload.filename or "")
    return fields


class IamMiddleware:
    """Wraps moto's WSGI app (see the module docstring)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.policies: PolicyMap | None = None
        self.usage = UsageRecorder(None)
        self._loaded = threading.Event()

    # ------------------------------------------------------------------ control

    def load(self, policies: PolicyMap, usage_path: Path | None) -> None:
        self.policies = policies
        self.usage = UsageRecorder(usage_path)
        self._loaded.set()
        log.info("IAM enforced for %d function(s)", len(policies.functions))

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD")
        path = str(environ.get("PATH_INFO", ""))
        plain = [("Content-Type", "text/plain")]
        if path == CONTROL_PATH and method == "POST":
            try:
                data = json.loads(_read_body(environ))
                usage = data.get("usage_path")
                self.load(PolicyMap.from_json(data["policies"]), Path(usage) if usage else None)
            except Exception as exc:
                log.exception("could not load the IAM policies")
                return _respond(start_response, "400 Bad Request", plain, f"{exc}\n".encode())
            return _respond(start_response, "200 OK", plain, b"ok\n")
        if path == f"{CONTROL_PATH}/usage" and method == "GET":
            body = json.dumps(self.usage.snapshot()).encode()
            return _respond(start_response, "200 OK", [("Content-Type", "application/json")], body)
        return _respond(start_response, "404 Not Found", plain, b"unknown IAM control action\n")

    # ------------------------------------------------------------------ requests

    def _function(self, caller: Caller) -> FunctionPolicy | bool | None:
        """The caller's function; False when the key is not a function's (unchecked)."""
        policies = self.policies
        if policies is not None and caller.access_key_id in policies.functions:
            return policies.functions[caller.access_key_id]
        if not caller.access_key_id.startswith(ACCESS_KEY_PREFIX):
            return False
        if policies is None and self._loaded.wait(LOAD_WAIT_S):
            return self._function(caller)
        return None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path == CONTROL_PATH or path.startswith(CONTROL_PATH + "/"):
            return self._control(environ, start_response)
        has_credentials = (environ.get("HTTP_AUTHORIZATION") or "X-Amz-Credential" in str(
            environ.get("QUERY_STRING", "")) or "AWSAccessKeyId" in str(environ.get("QUERY_STRING", ""))
            or str(environ.get("CONTENT_TYPE", "")).startswith("multipart/form-data"))
        if not has_credentials:
            return self.app(environ, start_response)
        body = _read_body(environ)
        form = None if environ.get("HTTP_AUTHORIZATION") else _form(environ, body)
        caller = caller_of(environ, body, form)
        if caller is None:
            return self.app(environ, start_response)
        function = self._function(caller)
        if function is False:
            return self.app(environ, start_response)
        policies = self.policies
        if not isinstance(function, FunctionPolicy) or policies is None:
            call = MappedCall(caller.service, "rest-xml" if caller.service == "s3" else "json", "?")
            message = (f"The access key {caller.access_key_id} is not a template function's "
                       "(or the IAM policies were never loaded)")
            log.warning("AccessDenied: %s", message)
            return deny(call, message, start_response)
        call = map_request(caller, environ, body, form, policies)
        if call.always_allowed:
            return self.app(environ, start_response)
        if not caller.sigv4:
            call.problem, call.checks = "a function signed without SigV4", []
        if call.problem or not call.checks:
            message = (f"User: {function.principal_arn} is not authorized to perform: "
                       f"{caller.service}:{call.operation} (the local stack cannot map this "
                       f"request to IAM: {call.problem or 'no checks'})")
            log.warning("AccessDenied (%s): %s", function.logical_id, message)
            return deny(call, message, start_response)
        for check in call.checks:
            decision = evaluate(function.statements, check)
            if not decision.allowed:
                message = denial_message(function, check, decision)
                log.warning("AccessDenied (%s): %s", function.logical_id, message)
                return deny(call, message, start_response)
            for sid in decision.allowed_by:
                self.usage.record(function.logical_id, sid, check.action)
        if call.list_bucket is not None and not evaluate(function.statements, call.list_bucket).allowed:
            return self._missing_key_is_403(environ, start_response, function, call)
        return self.app(environ, start_response)

    def _missing_key_is_403(self, environ: dict[str, Any], start_response: StartResponse,
                            function: FunctionPolicy, call: MappedCall) -> Iterable[bytes]:
        """AWS: without s3:ListBucket, a missing key is 403 AccessDenied, not 404."""
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers]
            return lambda data: None

        chunks = list(self.app(environ, capture))
        if captured and captured[0].startswith("404"):
            assert call.list_bucket is not None
            message = denial_message(function, call.list_bucket, Decision(False))
            return deny(call, message, start_response)
        if captured:
            start_response(captured[0], captured[1])
        return chunks
