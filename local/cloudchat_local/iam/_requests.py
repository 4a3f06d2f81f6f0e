"""An HTTP request to moto -> the IAM checks AWS would make for it.

:func:`caller_of` finds who signed a request (SigV4 ``Authorization`` header, presigned query
``X-Amz-Credential``, or the ``x-amz-credential`` field of an S3 POST form upload);
:func:`map_request` turns the request into a :class:`MappedCall`: the service's protocol (for
the error shape) and every :class:`~._policy.AuthzRequest` that must be allowed. A request
it cannot map has ``checks == []`` and a ``problem``: the middleware then denies it (strict).

Services: SES (v1, query: SendEmail on the From address's identity, with ``ses:FromAddress``),
DynamoDB (per item for transactions, per table for batches, ``table/X/index/Y``
for index reads; on a table encrypted with a customer managed key, also ``kms:Decrypt`` on
that key via DynamoDB, which uses the key on the caller's behalf), KMS (key ARN from key id,
key ARN, alias or ciphertext; encryption context keys), SNS and SQS, Cognito user pools,
Secrets Manager (JSON/query), S3 in :mod:`._s3`.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ._policy import AuthzRequest
from ._template import PolicyMap

__all__ = ["Caller", "MappedCall", "caller_of", "map_request"]


@dataclass(frozen=True)
class Caller:
    access_key_id: str
    service: str  # the signing name: dynamodb, kms, s3, sns ...
    region: str
    sigv4: bool = True


@dataclass
class MappedCall:
    service: str
    protocol: str  # "json" | "query" | "rest-xml"
    operation: str
    checks: list[AuthzRequest] = field(default_factory=list)
    problem: str | None = None
    #: S3 GetObject/HeadObject: without this (s3:ListBucket), a missing key answers 403.
    list_bucket: AuthzRequest | None = None
    #: AWS authorizes this call for every principal (sts:GetCallerIdentity).
    always_allowed: bool = False
    #: JSON protocol details for the error shape.
    json_version: str = "1.1"
    query_compatible: bool = False


def _credential(scope: str, sigv4: bool = True) -> Caller | None:
    parts = scope.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return None
    return Caller(parts[0], parts[3], parts[2], sigv4)


def caller_of(environ: Mapping[str, Any], body: bytes, form: Mapping[str, str] | None) -> Caller | None:
    """Who signed the request, or None when it carries no credentials."""
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    if auth.startswith("AWS4-HMAC-SHA256"):
        for item in auth[len("AWS4-HMAC-SHA256"):].split(","):
            key, _, value = item.strip().partition("=")
            if key == "Credential":
                return _credential(value)
        return None
    if auth.startswith("AWS "):  # SigV2 (S3)
        return Caller(auth[4:].split(":", 1)[0], "s3", "", sigv4=False)
    query = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    if "X-Amz-Credential" in query:
        return _credential(query["X-Amz-Credential"][0])
    if "AWSAccessKeyId" in query:
        return Caller(query["AWSAccessKeyId"][0], "s3", "", sigv4=False)
    if form:
        lowered = {k.lower(): v for k, v in form.items()}
        if "x-amz-credential" in lowered:
            return _credential(lowered["x-amz-credential"])
        if "awsaccesskeyid" in lowered:
            return Caller(lowered["awsaccesskeyid"], "s3", "", sigv4=False)
    return None


# --------------------------------------------------------------------------- helpers


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _target_operation(environ: Mapping[str, Any]) -> str:
    return str(environ.get("HTTP_X_AMZ_TARGET", "")).rsplit(".", 1)[-1]


@dataclass(frozen=True)
class _Ctx:
    caller: Caller
    policies: PolicyMap
    base: Mapping[str, Any]

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (f"arn:aws:{service}:{self.caller.region if region else ''}:"
                f"{self.policies.account_id if account else ''}:{resource}")

    def check(self, action: str, resource: str, **context: Any) -> AuthzRequest:
        merged = {**self.base, **{k.lower(): v for k, v in context.items()}}
        return AuthzRequest(action, resource, merged)


# --------------------------------------------------------------------------- DynamoDB


_TRANSACT_WRITE: Final = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                          "ConditionCheck": "ConditionCheckItem"}


def _table_arn(ctx: _Ctx, name: str) -> str:
    return name if name.startswith("arn:") else ctx.arn("dynamodb", f"table/{name}")


#: Operations that read or write table data: on a table encrypted with a customer managed
#: key, DynamoDB uses the key on the caller's behalf (kms:ViaService dynamodb).
_DATA_PLANE: Final = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
    "BatchWriteItem", "TransactWriteItems", "TransactGetItems", "ExecuteStatement",
})


def _dynamodb(ctx: _Ctx, op: str, body: dict[str, Any], call: MappedCall) -> None:
    _dynamodb_checks(ctx, op, body, call)
    if op not in _DATA_PLANE or call.problem:
        return
    keys = {}
    for check in call.checks:
        table = check.resource.split(":table/", 1)[-1].split("/", 1)[0]
        key = ctx.policies.table_keys.get(table)
        if key:
            keys[key] = table
    for key in keys:
        call.checks.append(ctx.check("kms:Decrypt", key, **{
            "kms:ViaService": f"dynamodb.{ctx.caller.region}.amazonaws.com",
            "kms:CallerAccount": ctx.policies.account_id}))


def _dynamodb_checks(ctx: _Ctx, op: str, body: dict[str, Any], call: MappedCall) -> None:
    call.json_version = "1.0"
    if op in ("TransactWriteItems", "TransactGetItems"):
        for item in body.get("TransactItems") or []:
            for kind, spec in item.items():
                action = "GetItem" if kind == "Get" else _TRANSACT_WRITE.get(kind)
                if action is None or "TableName" not in spec:
                    call.problem = f"{op}: unknown transaction item {kind!r}"
                    call.checks = []
                    return
                call.checks.append(ctx.check(f"dynamodb:{action}", _table_arn(ctx, spec["TableName"]),
                                             **{"dynamodb:EnclosingOperation": op}))
        return
    if op in ("BatchGetItem", "BatchWriteItem"):
        for table in body.get("RequestItems") or {}:
            call.checks.append(ctx.check(f"dynamodb:{op}", _table_arn(ctx, table)))
        return
    table = body.get("TableName") or body.get("TableArn") or body.get("ResourceArn")
    if not table:
        call.checks.append(ctx.check(f"dynamodb:{op}", "*"))
        return
    arn = _table_arn(ctx, str(table))
    index = body.get("IndexName")
    if index and op in ("Query", "Scan"):
        arn = f"{arn}/index/{index}"
    call.checks.append(ctx.check(f"dynamodb:{op}", arn))


# --------------------------------------------------------------------------- KMS


def kms_key_arn(policies: PolicyMap, region: str, key_id: str) -> str:
    """A KMS KeyId (key id, key ARN, alias name or alias ARN) as the key ARN it names."""
    if key_id.startswith("arn:") and ":alias/" in key_id:
        return policies.kms_aliases.get("alias/" + key_id.split(":alias/", 1)[1], key_id)
    if key_id.startswith("arn:"):
        return key_id
    if key_id.startswith("alias/"):
        return policies.kms_aliases.get(key_id, f"arn:aws:kms:{region}:{policies.account_id}:{key_id}")
    return f"arn:aws:kms:{region}:{policies.account_id}:key/{key_id}"


def _ciphertext_key(blob_b64: str) -> str | None:
    """The key id inside a ciphertext blob (moto's format: the key id comes first)."""
    import base64

    try:
        from moto.kms.utils import _deserialize_ciphertext_blob

        key_id = _deserialize_ciphertext_blob(base64.b64decode(blob_b64)).key_id
    except Exception:
        return None
    text = key_id.decode("ascii", "replace") if isinstance(key_id, bytes) else str(key_id)
    return text if re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", text) else None


def _kms(ctx: _Ctx, op: str, body: dict[str, Any], call: MappedCall) -> None:
    context: dict[str, Any] = {}
    encryption_context = body.get("EncryptionContext")
    if isinstance(encryption_context, dict):
        for key, value in encryption_context.items():
            context[f"kms:EncryptionContext:{key}"] = str(value)
        context["kms:EncryptionContextKeys"] = [str(k) for k in encryption_context]
    context["kms:CallerAccount"] = ctx.policies.account_id
    if op == "ReEncrypt":
        source = body.get("SourceKeyId") or _ciphertext_key(str(body.get("CiphertextBlob", "")))
        target = body.get("DestinationKeyId")
        if not source or not target:
            call.problem = "ReEncrypt: cannot tell the source or destination key"
            return
        region = ctx.caller.region
        call.checks += [
            ctx.check("kms:ReEncryptFrom", kms_key_arn(ctx.policies, region, str(source)), **context),
            ctx.check("kms:ReEncryptTo", kms_key_arn(ctx.policies, region, str(target)), **context),
        ]
        return
    key = body.get("KeyId") or body.get("TargetKeyId")
    if not key and op == "Decrypt":
        key = _ciphertext_key(str(body.get("CiphertextBlob", "")))
        if not key:
            call.problem = "Decrypt: cannot tell the key of this ciphertext"
            return
    resource = kms_key_arn(ctx.policies, ctx.caller.region, str(key)) if key else "*"
    call.checks.append(ctx.check(f"kms:{op}", resource, **context))


# --------------------------------------------------------------------------- others (JSON)


def _cognito(ctx: _Ctx, op: str, body: dict[str, Any], call: MappedCall) -> None:
    pool = body.get("UserPoolId")
    resource = ctx.arn("cognito-idp", f"userpool/{pool}") if pool else "*"
    call.checks.append(ctx.check(f"cognito-idp:{op}", resource))


def _secret_arn(ctx: _Ctx, secret_id: str) -> str:
    if secret_id.startswith("arn:"):
        return secret_id
    return ctx.policies.secrets.get(secret_id) or ctx.arn("secretsmanager", f"secret:{secret_id}")


def _secretsmanager(ctx: _Ctx, op: str, body: dict[str, Any], call: MappedCall) -> None:
    secret = body.get("SecretId") or body.get("Name")
    resource = _secret_arn(ctx, str(secret)) if secret else "*"
    call.checks.append(ctx.check(f"secretsmanager:{op}", resource))


def _queue_arn(ctx: _Ctx, params: Mapping[str, Any]) -> str:
    url = params.get("QueueUrl")
    if url:
        path = urllib.parse.urlparse(str(url)).path.strip("/").split("/")
        if len(path) >= 2:
            return f"arn:aws:sqs:{ctx.caller.region}:{path[-2]}:{path[-1]}"
    name = params.get("QueueName")
    return ctx.arn("sqs", str(name)) if name else "*"


def _sqs(ctx: _Ctx, op: str, params: Mapping[str, Any], call: MappedCall) -> None:
    call.query_compatible = True
    call.json_version = "1.0"
    action = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
              "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}.get(op, op)
    call.checks.append(ctx.check(f"sqs:{action}", _queue_arn(ctx, params)))


# --------------------------------------------------------------------------- SNS (query)


def _sns(ctx: _Ctx, op: str, params: Mapping[str, Any], call: MappedCall) -> None:
    if op == "CreateTopic" and params.get("Name"):
        resource = ctx.arn("sns", str(params["Name"]))
    else:
        resource = next((str(params[k]) for k in ("TopicArn", "TargetArn", "PlatformApplicationArn",
                                                  "EndpointArn", "SubscriptionArn", "ResourceArn")
                         if params.get(k)), "*")
    call.checks.append(ctx.check(f"sns:{op}", resource))


# --------------------------------------------------------------------------- SES (query)


def _ses(ctx: _Ctx, op: str, params: Mapping[str, Any], call: MappedCall) -> None:
    """SES authorizes a send against the identity of the From address (the address's own
    identity ARN, or its domain's: a policy grants either) with ``ses:FromAddress``."""
    from email.utils import parseaddr

    if op in ("SendEmail", "SendRawEmail"):
        address = parseaddr(str(params.get("Source", "")))[1]
        if not address:
            call.problem = f"ses:{op} without a Source address"
            return
        recipients = [str(v) for k, v in sorted(params.items())
                      if k.startswith("Destination.") and ".member." in k]
        call.checks.append(ctx.check(f"ses:{op}", ctx.arn("ses", f"identity/{address}"), **{
            "ses:FromAddress": address, "ses:Recipients": recipients, "ses:ApiVersion": "1"}))
        return
    call.checks.append(ctx.check(f"ses:{op}", "*"))


_JSON: Final[dict[str, Callable[[_Ctx, str, dict[str, Any], MappedCall], None]]] = {
    "dynamodb": _dynamodb, "kms": _kms, "cognito-idp": _cognito,
    "secretsmanager": _secretsmanager, "sqs": _sqs,
}


def map_request(
    caller: Caller,
    environ: Mapping[str, Any],
    body: bytes,
    form: Mapping[str, str] | None,
    policies: PolicyMap,
) -> MappedCall:
    """The IAM checks for one request (see the module docstring)."""
    from ._s3 import map_s3

    base = {"aws:securetransport": "false", "aws:principalaccount": policies.account_id,
            "aws:requestedregion": caller.region}
    ctx = _Ctx(caller, policies, base)
    if caller.service == "s3":
        return map_s3(ctx, environ, body, form)
    content_type = str(environ.get("CONTENT_TYPE", ""))
    target = _target_operation(environ)
    if caller.service in _JSON and target:
        call = MappedCall(caller.service, "json", target)
        _JSON[caller.service](ctx, target, _json_body(body), call)
        return call
    if caller.service in ("sns", "sqs", "sts", "ses") and (
        "x-www-form-urlencoded" in content_type or environ.get("QUERY_STRING")
    ):
        params = {k: v[0] for k, v in urllib.parse.parse_qs(
            body.decode("utf-8", "replace") or str(environ.get("QUERY_STRING", "")),
            keep_blank_values=True).items()}
        op = params.get("Action", "")
        call = MappedCall(caller.service, "query", op)
        if caller.service == "sts" and op == "GetCallerIdentity":
            call.always_allowed = True  # "No permissions are required to perform this operation."
            return call
        if not op:
            call.problem = "a query request without Action"
        elif caller.service == "sns":
            _sns(ctx, op, params, call)
        elif caller.service == "ses":
            _ses(ctx, op, params, call)
        elif caller.service == "sts":
            call.problem = f"sts:{op} is not mapped"
        else:
            _sqs(ctx, op, params, call)
            call.query_compatible = False
        return call
    protocol = "json" if target else "query"
    return MappedCall(caller.service, protocol, target or "?",
                      problem=f"no IAM mapping for service {caller.service!r} "
                              f"({environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')})")
