"""IAM, enforced locally: every AWS call a template function makes is checked against that
function's policies in template.yaml, and refused with AccessDenied as AWS would.

* :mod:`._template`: each function's inline policies, intrinsics resolved
  (:func:`build_policy_map`); a policy form that cannot be evaluated refuses to start.
* :mod:`._policy` / :mod:`._conditions`: IAM's evaluation (explicit Deny wins, Allow needed,
  wildcards, NotAction/NotResource, condition operators with IAM's absent-key rules).
* :mod:`._requests` / :mod:`._s3`: an HTTP request to moto -> the IAM checks AWS makes.
* :mod:`._middleware`: the WSGI middleware in the moto server process, keyed by the
  request's access key (:mod:`cloudchat_local._identity`): presigned URLs and POST uploads
  made later by a browser are checked too.
* :mod:`._appsync`: ``appsync:GraphQL`` per root field for SigV4 calls of the emulator.
* :mod:`._usage`: least privilege, measured (``python -m cloudchat_local.iam report``).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from cloudchat_local.errors import PolicyError
from cloudchat_local.template import Template

from ._appsync import appsync_credentials, authorize_graphql, root_fields
from ._middleware import CONTROL_PATH, IamMiddleware
from ._policy import AuthzRequest, Decision, Statement, evaluate, parse_statements
from ._requests import Caller, MappedCall, caller_of, map_request
from ._template import FunctionPolicy, PolicyMap, build_policy_map
from ._usage import USAGE_FILE, UsageRecorder, load_usage, unused_grants

__all__ = [
    "USAGE_FILE",
    "AuthzRequest",
    "Caller",
    "Decision",
    "FunctionPolicy",
    "IamMiddleware",
    "MappedCall",
    "PolicyError",
    "PolicyMap",
    "Statement",
    "UsageRecorder",
    "appsync_credentials",
    "authorize_graphql",
    "build_policy_map",
    "caller_of",
    "enforce",
    "evaluate",
    "load_usage",
    "map_request",
    "parse_statements",
    "root_fields",
    "unused_grants",
]


def enforce(moto_endpoint: str, template: Template, resolve: Mapping[str, str], *,
            usage_path: Path | None = None, timeout: float = 30.0) -> PolicyMap:
    """Builds every function's policies from ``template`` (PolicyError if one cannot be
    evaluated) and loads them into the moto server at ``moto_endpoint``, which from then on
    refuses what they do not allow. Returns the policies (the emulator needs them too)."""
    policies = build_policy_map(template, resolve)
    body = json.dumps({"policies": policies.to_json(),
                       "usage_path": str(usage_path) if usage_path else None}).encode()
    request = urllib.request.Request(  # noqa: S310 - the local moto endpoint
        f"{moto_endpoint.rstrip('/')}{CONTROL_PATH}", data=body, method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
        response.read()
    return policies
