"""Each template function's identity and inline policies, resolved against the local stack.

:func:`build_policy_map` reads every ``AWS::Serverless::Function`` of template.yaml: its
``Policies`` (inline ``{Version, Statement}`` documents only) with intrinsic functions
resolved through :meth:`Template.evaluate <cloudchat_local.template.Template.evaluate>` and
the local stack's ``resolve`` mapping (the same one function environments resolve with).
A policy form that cannot be evaluated locally (a SAM policy template such as
``DynamoDBCrudPolicy``, a managed policy name or ARN, an explicit ``Role``) raises
:class:`~cloudchat_local.errors.PolicyError`: the local stack refuses to start rather than allow silently.

The result (:class:`PolicyMap`) is plain JSON: the moto server's middleware and the
emulator use it, keyed by each function's access key (:mod:`cloudchat_local._identity`).
It also carries what request mapping needs from the template: KMS aliases, each bucket's
default SSE-KMS key, the account and region.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudchat_local._identity import credentials_for
from cloudchat_local.errors import PolicyError, TemplateError
from cloudchat_local.template import SERVERLESS_FUNCTION, Template

from ._policy import Statement, parse_statements, statements_from_json

__all__ = ["FunctionPolicy", "PolicyMap", "build_policy_map"]


@dataclass(frozen=True)
class FunctionPolicy:
    """One function as IAM sees it: its role session and its identity-based statements."""

    logical_id: str
    function_name: str
    role_name: str
    access_key_id: str
    secret_access_key: str
    statements: tuple[Statement, ...]
    account_id: str

    @property
    def principal_arn(self) -> str:
        """The caller AWS names in an AccessDenied message (Lambda's role session)."""
        return f"arn:aws:sts::{self.account_id}:assumed-role/{self.role_name}/{self.function_name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "logical_id": self.logical_id, "function_name": self.function_name,
            "role_name": self.role_name, "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key, "account_id": self.account_id,
            "statements": [s.to_json() for s in self.statements],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FunctionPolicy:
        return cls(
            logical_id=str(data["logical_id"]), function_name=str(data["function_name"]),
            role_name=str(data["role_name"]), access_key_id=str(data["access_key_id"]),
            secret_access_key=str(data["secret_access_key"]), account_id=str(data["account_id"]),
            statements=tuple(statements_from_json(data["statements"])),
        )


@dataclass(frozen=True)
class PolicyMap:
    account_id: str
    region: str
    functions: Mapping[str, FunctionPolicy]  # by access key id
    #: ``alias/<name>`` -> key ARN.
    kms_aliases: Mapping[str, str] = field(default_factory=dict)
    #: bucket name -> {"key": key ARN, "bucket_key": bool} for SSE-KMS default encryption.
    bucket_keys: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: secret name -> secret ARN.
    secrets: Mapping[str, str] = field(default_factory=dict)
    #: The GraphQL API's ARN (``arn:aws:appsync:<region>:<account>:apis/<id>``), if any.
    appsync_api_arn: str | None = None
    #: table name -> the customer managed KMS key it is encrypted at rest with.
    table_keys: Mapping[str, str] = field(default_factory=dict)

    def by_logical_id(self, logical_id: str) -> FunctionPolicy:
        for function in self.functions.values():
            if function.logical_id == logical_id:
                return function
        raise KeyError(logical_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id, "region": self.region,
            "functions": [f.to_json() for f in self.functions.values()],
            "kms_aliases": dict(self.kms_aliases),
            "bucket_keys": {k: dict(v) for k, v in self.bucket_keys.items()},
            "secrets": dict(self.secrets), "appsync_api_arn": self.appsync_api_arn,
            "table_keys": dict(self.table_keys),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PolicyMap:
        functions = [FunctionPolicy.from_json(f) for f in data["functions"]]
        return cls(
            account_id=str(data["account_id"]), region=str(data["region"]),
            functions={f.access_key_id: f for f in functions},
            kms_aliases=dict(data.get("kms_aliases") or {}),
            bucket_keys=dict(data.get("bucket_keys") or {}),
            secrets=dict(data.get("secrets") or {}),
            appsync_api_arn=data.get("appsync_api_arn"),
            table_keys=dict(data.get("table_keys") or {}),
        )


def _function_statements(template: Template, logical_id: str, resolve: Mapping[str, str]) -> list[Statement]:
    props = template.function(logical_id).properties
    where = f"{logical_id}.Policies"
    if "Role" in props:
        raise PolicyError(f"{logical_id}: an explicit Role cannot be evaluated locally; "
                          "give the function inline Policies")
    raw = props.get("Policies")
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    statements: list[Statement] = []
    for position, item in enumerate(items):
        label = f"{where}[{position}]"
        if isinstance(item, str) or (isinstance(item, Mapping) and "Statement" not in item):
            name = item if isinstance(item, str) else next(iter(item), "?")
            raise PolicyError(
                f"{label}: {name!r} is a managed policy or a SAM policy template; the local "
                "stack evaluates only inline {Version, Statement} documents, so it refuses "
                "to start rather than allow what it cannot check. Write the statements inline."
            )
        try:
            document = template.evaluate(item, resolve, where=label)
        except TemplateError as exc:
            raise PolicyError(f"{label}: {exc}") from exc
        statements += parse_statements(document, label, start=len(statements))
    return statements


def build_policy_map(template: Template, resolve: Mapping[str, str]) -> PolicyMap:
    """Every template function's policies, resolved (see the module docstring)."""
    account = str(resolve.get("AWS::AccountId", "123456789012"))
    region = str(resolve.get("AWS::Region", "us-east-1"))
    functions: dict[str, FunctionPolicy] = {}
    for resource in template.resources(SERVERLESS_FUNCTION):
        lid = resource.logical_id
        key, secret = credentials_for(lid)
        functions[key] = FunctionPolicy(
            logical_id=lid,
            function_name=str(resolve.get(lid, lid)),
            role_name=f"{resolve.get('AWS::StackName', 'local')}-{lid}Role",
            access_key_id=key,
            secret_access_key=secret,
            statements=tuple(_function_statements(template, lid, resolve)),
            account_id=account,
        )
    aliases = {}
    for alias in template.kms_aliases():
        props = template.evaluate(dict(alias.properties), resolve, where=alias.logical_id)
        target = str(props.get("TargetKeyId", ""))
        if not target.startswith("arn:"):
            target = f"arn:aws:kms:{region}:{account}:key/{target}"
        aliases[str(props.get("AliasName"))] = target
    bucket_keys: dict[str, dict[str, Any]] = {}
    for bucket in template.buckets():
        sse = (bucket.properties.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
        for rule in sse or []:
            default = rule.get("ServerSideEncryptionByDefault") or {}
            if default.get("SSEAlgorithm") not in ("aws:kms", "aws:kms:dsse"):
                continue
            key = template.evaluate(default.get("KMSMasterKeyID"), resolve, where=bucket.logical_id)
            key_arn = str(key) if key else f"arn:aws:kms:{region}:{account}:alias/aws/s3"
            key_arn = aliases.get(key_arn, key_arn)
            if not key_arn.startswith("arn:"):
                key_arn = f"arn:aws:kms:{region}:{account}:key/{key_arn}"
            enabled = rule.get("BucketKeyEnabled") in (True, "true", "True")
            bucket_keys[str(resolve.get(bucket.logical_id, bucket.logical_id))] = {
                "key": key_arn, "bucket_key": enabled}
    secrets = {}
    for secret_resource in template.secrets():
        arn = resolve.get(secret_resource.logical_id)
        if arn and arn.startswith("arn:"):
            secrets[arn.split(":secret:", 1)[-1].rsplit("-", 1)[0]] = arn
    table_keys: dict[str, str] = {}
    for table in template.resources("AWS::DynamoDB::Table"):
        sse = table.properties.get("SSESpecification") or {}
        if sse.get("SSEEnabled") in (True, "true", "True") and sse.get("KMSMasterKeyId"):
            key = str(template.evaluate(sse["KMSMasterKeyId"], resolve, where=table.logical_id))
            key = aliases.get(key, key)
            if not key.startswith("arn:"):
                key = f"arn:aws:kms:{region}:{account}:key/{key}"
            table_keys[str(resolve.get(table.logical_id, table.logical_id))] = key
    apis = template.resources("AWS::Serverless::GraphQLApi") + template.resources("AWS::AppSync::GraphQLApi")
    api_arn = resolve.get(f"{apis[0].logical_id}.Arn") if len(apis) == 1 else None
    return PolicyMap(account, region, functions, aliases, bucket_keys, secrets, api_arn, table_keys)
