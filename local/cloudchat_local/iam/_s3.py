"""S3 REST requests -> IAM checks (path-style addressing, as the local stack uses).

* Object level: GET -> ``s3:GetObject`` (``?tagging`` ``s3:GetObjectTagging``, ``?acl``
  ``s3:GetObjectAcl``, ``?versionId`` ``s3:GetObjectVersion``), HEAD -> ``s3:GetObject``,
  PUT -> ``s3:PutObject`` (+ ``s3:PutObjectTagging`` with ``x-amz-tagging``; a copy also needs
  ``s3:GetObject`` on the source), ``?tagging`` ``s3:PutObjectTagging``, DELETE ->
  ``s3:DeleteObject``, multipart uploads -> ``s3:PutObject`` / ``s3:AbortMultipartUpload``.
* POST form upload (presigned POST) -> ``s3:PutObject`` on the form's ``key`` (+
  ``s3:PutObjectTagging`` with a ``tagging`` field).
* Bucket level: GET/HEAD -> ``s3:ListBucket`` (``s3:prefix`` context), other subresources by
  name; ``GET /`` -> ``s3:ListAllMyBuckets``.
* SSE-KMS (the bucket's default key from template.yaml, or the request's
  ``x-amz-server-side-encryption-aws-kms-key-id``): reading an object's body also needs
  ``kms:Decrypt``, writing one ``kms:GenerateDataKey``, on that key, with
  ``kms:ViaService = s3.<region>.amazonaws.com`` and the ``aws:s3:arn`` encryption context
  (the bucket's ARN with an S3 Bucket Key, else the object's).
* GetObject/HeadObject also carry the ``s3:ListBucket`` check: AWS answers 403 instead of 404
  for a missing key when the caller may not list the bucket.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ._policy import AuthzRequest
from ._requests import MappedCall, kms_key_arn

if TYPE_CHECKING:
    from ._requests import _Ctx

__all__ = ["map_s3"]

_BUCKET_GET: Final = {
    "acl": "s3:GetBucketAcl", "cors": "s3:GetBucketCORS", "encryption": "s3:GetEncryptionConfiguration",
    "lifecycle": "s3:GetLifecycleConfiguration", "location": "s3:GetBucketLocation",
    "policy": "s3:GetBucketPolicy", "tagging": "s3:GetBucketTagging",
    "versioning": "s3:GetBucketVersioning", "versions": "s3:ListBucketVersions",
    "uploads": "s3:ListBucketMultipartUploads", "notification": "s3:GetBucketNotification",
    "ownershipControls": "s3:GetBucketOwnershipControls",
    "publicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "website": "s3:GetBucketWebsite", "logging": "s3:GetBucketLogging",
    "object-lock": "s3:GetBucketObjectLockConfiguration", "policyStatus": "s3:GetBucketPolicyStatus",
}
_BUCKET_PUT: Final = {
    "acl": "s3:PutBucketAcl", "cors": "s3:PutBucketCORS", "encryption": "s3:PutEncryptionConfiguration",
    "lifecycle": "s3:PutLifecycleConfiguration", "policy": "s3:PutBucketPolicy",
    "tagging": "s3:PutBucketTagging", "versioning": "s3:PutBucketVersioning",
    "notification": "s3:PutBucketNotification", "ownershipControls": "s3:PutBucketOwnershipControls",
    "publicAccessBlock": "s3:PutBucketPublicAccessBlock", "website": "s3:PutBucketWebsite",
    "logging": "s3:PutBucketLogging",
}
_BUCKET_DELETE: Final = {
    "cors": "s3:PutBucketCORS", "encryption": "s3:PutEncryptionConfiguration",
    "lifecycle": "s3:PutLifecycleConfiguration", "policy": "s3:DeleteBucketPolicy",
    "tagging": "s3:PutBucketTagging", "website": "s3:DeleteBucketWebsite",
    "ownershipControls": "s3:PutBucketOwnershipControls",
    "publicAccessBlock": "s3:PutBucketPublicAccessBlock",
}
#: Query parameters that change what an object request is, by method.
_OBJECT_SUB: Final = {
    ("GET", "tagging"): "s3:GetObjectTagging", ("GET", "acl"): "s3:GetObjectAcl",
    ("GET", "attributes"): "s3:GetObjectAttributes", ("GET", "retention"): "s3:GetObjectRetention",
    ("GET", "legal-hold"): "s3:GetObjectLegalHold", ("GET", "uploadId"): "s3:ListMultipartUploadParts",
    ("PUT", "tagging"): "s3:PutObjectTagging", ("PUT", "acl"): "s3:PutObjectAcl",
    ("PUT", "retention"): "s3:PutObjectRetention", ("PUT", "legal-hold"): "s3:PutObjectLegalHold",
    ("DELETE", "tagging"): "s3:DeleteObjectTagging", ("DELETE", "uploadId"): "s3:AbortMultipartUpload",
    ("POST", "restore"): "s3:RestoreObject", ("POST", "select"): "s3:GetObject",
}
#: Query parameters that do not change the action (response overrides, signing, parts).
_NEUTRAL: Final = frozenset({
    "response-content-type", "response-content-disposition", "response-content-language",
    "response-expires", "response-cache-control", "response-content-encoding",
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
    "X-Amz-Signature", "X-Amz-Security-Token", "x-id", "partNumber", "uploads", "uploadId",
    "versionId", "AWSAccessKeyId", "Signature", "Expires",
})


def _header(environ: Mapping[str, Any], name: str) -> str:
    return str(environ.get("HTTP_" + name.upper().replace("-", "_"), ""))


def _kms_check(ctx: _Ctx, action: str, bucket: str, key: str, environ: Mapping[str, Any],
               form: Mapping[str, str] | None) -> AuthzRequest | None:
    name = "x-amz-server-side-encryption-aws-kms-key-id"
    requested = _header(environ, name) or {k.lower(): v for k, v in (form or {}).items()}.get(name, "")
    default = ctx.policies.bucket_keys.get(bucket)
    if requested:
        key_arn, bucket_key = kms_key_arn(ctx.policies, ctx.caller.region, requested), False
    elif default:
        key_arn, bucket_key = str(default["key"]), bool(default.get("bucket_key"))
    else:
        return None
    context_arn = f"arn:aws:s3:::{bucket}" if bucket_key else f"arn:aws:s3:::{bucket}/{key}"
    return ctx.check(action, key_arn, **{
        "kms:ViaService": f"s3.{ctx.caller.region}.amazonaws.com",
        "kms:CallerAccount": ctx.policies.account_id,
        "kms:EncryptionContext:aws:s3:arn": context_arn,
        "kms:EncryptionContextKeys": ["aws:s3:arn"],
    })


def _form_key(form: Mapping[str, str]) -> str:
    lowered = {k.lower(): v for k, v in form.items()}
    key = lowered.get("key", "")
    return key.replace("${filename}", lowered.get("__filename__", ""))


def map_s3(ctx: _Ctx, environ: Mapping[str, Any], body: bytes,
           form: Mapping[str, str] | None) -> MappedCall:
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    path = str(environ.get("PATH_INFO", "/"))  # WSGI: already percent-decoded
    query = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    bucket, _, key = path.lstrip("/").partition("/")
    subs = [name for name in query if name not in _NEUTRAL]
    call = MappedCall("s3", "rest-xml", f"{method} {'object' if key else 'bucket'}")
    if not bucket:
        if method == "GET":
            call.checks.append(ctx.check("s3:ListAllMyBuckets", "*"))
        else:
            call.problem = f"S3 {method} / is not mapped"
        return call
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if method == "POST" and not key and form is not None and not subs:
        key = _form_key(form)
        object_arn = f"{bucket_arn}/{key}"
        call.operation = "PostObject"
        call.checks.append(ctx.check("s3:PutObject", object_arn))
        if any(k.lower() == "tagging" for k in form):
            call.checks.append(ctx.check("s3:PutObjectTagging", object_arn))
        kms = _kms_check(ctx, "kms:GenerateDataKey", bucket, key, environ, form)
        if kms is not None:
            call.checks.append(kms)
        return call
    if not key:
        return _bucket_level(ctx, method, bucket_arn, subs, query, call)
    object_arn = f"{bucket_arn}/{key}"
    if len(subs) > 1:
        call.problem = f"S3 {method} on an object with {sorted(subs)} is not mapped"
        return call
    if subs:
        action = _OBJECT_SUB.get((method, subs[0]))
        if action is None:
            call.problem = f"S3 {method} ?{subs[0]} on an object is not mapped"
            return call
        if method == "GET" and subs[0] == "uploadId":
            action = "s3:ListMultipartUploadParts"
        call.operation = action.split(":", 1)[1]
        call.checks.append(ctx.check(action, object_arn))
        return call
    if method in ("GET", "HEAD"):
        versioned = "versionId" in query
        call.operation = "HeadObject" if method == "HEAD" else "GetObject"
        call.checks.append(ctx.check("s3:GetObjectVersion" if versioned else "s3:GetObject", object_arn))
        call.list_bucket = ctx.check("s3:ListBucket", bucket_arn, **{"s3:prefix": key})
        if method == "GET":
            kms = _kms_check(ctx, "kms:Decrypt", bucket, key, environ, None)
            if kms is not None:
                call.checks.append(kms)
        return call
    if method == "PUT" or (method == "POST" and ("uploads" in query or "uploadId" in query)):
        call.operation = "PutObject"
        call.checks.append(ctx.check("s3:PutObject", object_arn))
        if _header(environ, "x-amz-tagging"):
            call.checks.append(ctx.check("s3:PutObjectTagging", object_arn))
        source = _header(environ, "x-amz-copy-source")
        if source:
            source_path = urllib.parse.unquote(source.split("?", 1)[0]).lstrip("/")
            call.checks.append(ctx.check("s3:GetObject", f"arn:aws:s3:::{source_path}"))
        if "uploadId" not in query or method == "POST":
            kms = _kms_check(ctx, "kms:GenerateDataKey", bucket, key, environ, None)
            if kms is not None:
                call.checks.append(kms)
        return call
    if method == "DELETE":
        call.operation = "DeleteObject"
        call.checks.append(ctx.check("s3:DeleteObject", object_arn))
        return call
    call.problem = f"S3 {method} on an object is not mapped"
    return call


def _bucket_level(ctx: _Ctx, method: str, bucket_arn: str, subs: list[str],
                  query: Mapping[str, list[str]], call: MappedCall) -> MappedCall:
    sub = subs[0] if len(subs) == 1 else None
    if len(subs) > 1 and method in ("GET", "HEAD") and set(subs) <= {
            "list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after",
            "encoding-type", "fetch-owner", "marker"}:
        subs, sub = [], None
    if method in ("GET", "HEAD") and (not subs or sub in ("list-type", "prefix", "delimiter",
                                                            "max-keys", "encoding-type", "marker")):
        call.operation = "ListObjects" if method == "GET" else "HeadBucket"
        prefix = query.get("prefix", [""])[0]
        call.checks.append(ctx.check("s3:ListBucket", bucket_arn, **{"s3:prefix": prefix}))
        return call
    table = {"GET": _BUCKET_GET, "PUT": _BUCKET_PUT, "DELETE": _BUCKET_DELETE}.get(method, {})
    if method == "PUT" and not subs:
        action: str | None = "s3:CreateBucket"
    elif method == "DELETE" and not subs:
        action = "s3:DeleteBucket"
    elif method == "POST" and sub == "delete":
        action = "s3:DeleteObject"
        bucket_arn = f"{bucket_arn}/*"
    else:
        action = table.get(sub or "")
    if action is None:
        call.problem = f"S3 {method} on a bucket with {sorted(subs)} is not mapped"
        return call
    call.operation = action.split(":", 1)[1]
    call.checks.append(ctx.check(action, bucket_arn))
    return call
