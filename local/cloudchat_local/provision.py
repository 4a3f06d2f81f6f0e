"""Creates CloudChat's AWS resources in a moto server, from template.yaml.

:func:`provision` takes the endpoint of a moto server (``http://127.0.0.1:PORT``) and creates,
from the template (never from a hand-written copy): the DynamoDB table with its indexes,
stream and TTL; the KMS keys and aliases; the Secrets Manager secrets (the pagination token
secret gets a random value generated here); the Cognito user pool with its policies, groups
and app clients; and any S3 buckets, SNS topics and SQS queues. It returns a
:class:`Provisioned` with the physical ids, the Cognito issuer and JWKS URL, and each Lambda
function's environment
(:meth:`Template.function_environment <cloudchat_local.template.Template.function_environment>`
resolved against the local resources).

It is idempotent: resources are found by name (tables, pools, clients, buckets, topics,
secrets, aliases) or by tag (KMS keys without an alias) and reused, so a moto that keeps its
state across restarts keeps its users, messages and token secret.

A resource whose ``Condition`` is false for the parameters given is not created, as
CloudFormation would not create it. Resource types moto does not stand in for (alarms,
dashboards, metric filters, e-mail subscriptions, WAF, log groups, the layer ...) are skipped
with a DEBUG log naming each: the local stack serves the API and runs the functions itself.

:func:`create_demo_users` creates (or resets) alice, bob, carol and mod (group ``moderator``)
as ``<name>@example.com`` with :data:`DEMO_PASSWORD`, confirmed and ``email_verified``.

Cognito in moto, as the local stack relies on it:

* sign-in is ``USER_PASSWORD_AUTH`` (moto's SRP flow fails; moto never invokes triggers).
* tokens are RS256 with moto's fixed key (``kid`` ``dummy``) and ``iss`` =
  ``https://cognito-idp.<region>.amazonaws.com/<pool id>``: the AWS form, not the endpoint.
* the JWKS is served by the moto server itself, at ``<endpoint>/<pool id>/.well-known/jwks.json``
  (:attr:`Provisioned.jwks_url`; a plain GET, no signature); so is
  ``<endpoint>/<pool id>/.well-known/openid-configuration``.
* with email as the username attribute, the access token's ``username`` is the user's
  ``sub`` (as in AWS), and ``cognito:groups`` lists the user's groups.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from cloudchat_local.errors import ProvisionError, UnresolvedReference
from cloudchat_local.template import (
    SERVERLESS_FUNCTION,
    Resource,
    Template,
    load_template,
)

__all__ = [
    "DEFAULT_STACK_NAME",
    "DEMO_PASSWORD",
    "DEMO_USERS",
    "DemoUser",
    "ProvisionError",
    "Provisioned",
    "create_demo_users",
    "graphql_api_resolve",
    "provision",
]

log = logging.getLogger("cloudchat_local.provision")

DEFAULT_STACK_NAME = "cloudchat-local"
DEFAULT_REGION = "us-east-1"
#: Dummy credentials: moto accepts any.
DEFAULT_CREDENTIALS = ("testing", "testing")
#: The demo users' password (fits the template's password policy). Local use only.
DEMO_PASSWORD = "CloudChat-demo-2024"  # noqa: S105 - documented demo login for moto only
#: Demo users: name -> Cognito groups. Their usernames are ``<name>@example.com``.
DEMO_USERS: Mapping[str, tuple[str, ...]] = {
    "alice": (),
    "bob": (),
    "carol": (),
    "mod": ("moderator",),
}
_STACK_TAG = "cloudchat:stack"
_LOGICAL_ID_TAG = "cloudchat:logical-id"


@dataclass(frozen=True)
class DemoUser:
    name: str
    username: str
    password: str
    sub: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` created or found, with everything a client of it needs."""

    endpoint: str
    region: str
    account_id: str
    stack_name: str
    access_key_id: str
    secret_access_key: str
    table_name: str
    table_arn: str
    table_stream_arn: str | None
    kms_key_id: str
    kms_key_arn: str
    user_pool_id: str
    user_pool_client_id: str
    issuer: str
    jwks_url: str
    token_secret: str
    buckets: Mapping[str, str] = field(default_factory=dict)
    topics: Mapping[str, str] = field(default_factory=dict)
    #: SQS queue URLs by logical id.
    queues: Mapping[str, str] = field(default_factory=dict)
    #: Every value intrinsics resolve to (logical id / "Id.Attr" / pseudo parameter -> value).
    resolved: Mapping[str, str] = field(default_factory=dict)
    #: Environment of each AWS::Serverless::Function, by logical id.
    function_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    demo_users: tuple[DemoUser, ...] = ()

    @property
    def cognito_endpoint(self) -> str:
        """Where Cognito's API (InitiateAuth ...) is served: the moto endpoint itself."""
        return self.endpoint

    def aws_environment(self) -> dict[str, str]:
        """Environment that points boto3 (and so the resolvers) at the moto server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def client(self, service: str) -> BaseClient:
        """A boto3 client for ``service`` on the moto server."""
        return aws_client(service, self.endpoint, self.region, (self.access_key_id, self.secret_access_key))

    def demo_user(self, name: str) -> DemoUser:
        for user in self.demo_users:
            if user.name == name:
                return user
        raise KeyError(name)


def provision(
    endpoint: str,
    *,
    region: str = DEFAULT_REGION,
    stack_name: str = DEFAULT_STACK_NAME,
    template: Template | None = None,
    parameters: Mapping[str, str] | None = None,
    extra_resolve: Mapping[str, str] | None = None,
    credentials: tuple[str, str] = DEFAULT_CREDENTIALS,
    demo_users: bool = True,
    api_url: str | None = None,
) -> Provisioned:
    """Creates (or finds) the template's resources in the moto server at ``endpoint``.

    ``parameters`` override template parameter defaults (``{"Stage": "dev"}``);
    ``api_url`` is where the GraphQL API is served locally (the emulator's
    ``http://127.0.0.1:<port>/graphql``): ``!GetAtt GraphQLApi.GraphQLUrl`` and the API's other
    attributes resolve from it (:func:`graphql_api_resolve`), so function environments can
    name the API; ``extra_resolve`` adds values for any other reference provisioning does not
    create. ``endpoint`` must be a loopback address: this only ever talks to a local moto.
    """
    _require_loopback(endpoint)
    template = template or load_template()
    p = _Provisioner(endpoint, region, stack_name, template, credentials)
    p.resolve.update(parameters or {})
    if api_url is not None:
        p.resolve.update(graphql_api_resolve(template, api_url, region=region, account_id=p.account_id))
    p.resolve.update(extra_resolve or {})
    p.run()
    users: tuple[DemoUser, ...] = ()
    if demo_users:
        users = create_demo_users(
            endpoint, p.user_pool_id, region=region, credentials=credentials
        )
    try:
        function_env = {
            r.logical_id: template.function_environment(r.logical_id, p.resolve)
            for r in template.resources(SERVERLESS_FUNCTION)
        }
    except UnresolvedReference as exc:
        if api_url is None and exc.key.split(".", 1)[0] == _api_logical_id(template):
            raise ProvisionError(
                f"a function environment names the GraphQL API ({exc.key}): pass api_url="
            ) from exc
        raise
    secret_values = [v for k, v in p.resolve.items() if k.endswith(".SecretString")]
    token_secret = p.resolve.get("TokenSecret.SecretString") or next(iter(secret_values), "")
    return Provisioned(
        endpoint=endpoint.rstrip("/"),
        region=region,
        account_id=p.account_id,
        stack_name=stack_name,
        access_key_id=credentials[0],
        secret_access_key=credentials[1],
        table_name=p.resolve[p.table_id],
        table_arn=p.resolve[f"{p.table_id}.Arn"],
        table_stream_arn=p.resolve.get(f"{p.table_id}.StreamArn"),
        kms_key_id=p.resolve[p.key_id],
        kms_key_arn=p.resolve[f"{p.key_id}.Arn"],
        user_pool_id=p.user_pool_id,
        user_pool_client_id=p.resolve[p.client_id],
        issuer=f"https://cognito-idp.{region}.amazonaws.com/{p.user_pool_id}",
        jwks_url=f"{endpoint.rstrip('/')}/{p.user_pool_id}/.well-known/jwks.json",
        token_secret=token_secret,
        buckets={r.logical_id: p.resolve[r.logical_id] for r in p.wanted(template.buckets(), say=False)},
        topics={r.logical_id: p.resolve[r.logical_id] for r in p.wanted(template.topics(), say=False)},
        queues={r.logical_id: p.resolve[r.logical_id]
                for r in p.wanted(template.resources(SQS_QUEUE), say=False)},
        resolved=dict(p.resolve),
        function_env=function_env,
        demo_users=users,
    )


def graphql_api_resolve(
    template: Template, api_url: str, *, region: str = DEFAULT_REGION, account_id: str = "123456789012"
) -> dict[str, str]:
    """What the GraphQL API's ``Ref`` and ``!GetAtt`` attributes resolve to when the API is
    served locally at ``api_url`` (``http://127.0.0.1:4000/graphql``): ``GraphQLUrl`` is
    ``api_url``, ``RealtimeUrl`` its ``ws://.../graphql/realtime``, ``ApiId`` ``local``."""
    logical_id = _api_logical_id(template)
    if logical_id is None:
        return {}
    parsed = urlparse(api_url)
    scheme = "wss" if parsed.scheme == "https" else "ws"
    realtime = f"{scheme}://{parsed.netloc}{parsed.path.rstrip('/')}/realtime"
    api_id = "local"
    return {
        logical_id: api_id,
        f"{logical_id}.ApiId": api_id,
        f"{logical_id}.Arn": f"arn:aws:appsync:{region}:{account_id}:apis/{api_id}",
        f"{logical_id}.GraphQLUrl": api_url,
        f"{logical_id}.GraphQLDns": parsed.netloc,
        f"{logical_id}.RealtimeUrl": realtime,
        f"{logical_id}.RealtimeDns": parsed.netloc,
    }


def _api_logical_id(template: Template) -> str | None:
    apis = template.resources("AWS::Serverless::GraphQLApi") + template.resources("AWS::AppSync::GraphQLApi")
    return apis[0].logical_id if len(apis) == 1 else None


def create_demo_users(
    endpoint: str,
    user_pool_id: str,
    *,
    region: str = DEFAULT_REGION,
    credentials: tuple[str, str] = DEFAULT_CREDENTIALS,
    users: Mapping[str, Sequence[str]] = DEMO_USERS,
    password: str = DEMO_PASSWORD,
    domain: str = "example.com",
) -> tuple[DemoUser, ...]:
    """Creates each user ``<name>@<domain>`` (confirmed, email verified, permanent
    ``password``) and adds it to its groups. An existing user gets its password reset."""
    _require_loopback(endpoint)
    idp = aws_client("cognito-idp", endpoint, region, credentials)
    created = []
    for name, groups in users.items():
        email = f"{name}@{domain}"
        try:
            user = idp.admin_get_user(UserPoolId=user_pool_id, Username=email)
            attributes = user["UserAttributes"]
        except idp.exceptions.UserNotFoundException:
            user = idp.admin_create_user(
                UserPoolId=user_pool_id,
                Username=email,
                UserAttributes=[
                    {"Name": "email", "Value": email},
                    {"Name": "email_verified", "Value": "true"},
                    {"Name": "name", "Value": name.title()},
                ],
                MessageAction="SUPPRESS",
            )["User"]
            attributes = user["Attributes"]
        idp.admin_set_user_password(
            UserPoolId=user_pool_id, Username=email, Password=password, Permanent=True
        )
        for group in groups:
            idp.admin_add_user_to_group(UserPoolId=user_pool_id, Username=email, GroupName=group)
        sub = next((a["Value"] for a in attributes if a["Name"] == "sub"), None)
        if not sub:
            raise ProvisionError(f"moto returned no sub for {email}")
        created.append(
            DemoUser(name=name, username=email, password=password, sub=sub, groups=tuple(groups))
        )
    return tuple(created)


# --------------------------------------------------------------------------- internals


def _require_loopback(endpoint: str) -> None:
    host = urlparse(endpoint).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ProvisionError(f"refusing to provision {endpoint!r}: not a loopback moto endpoint")


def aws_client(
    service: str, endpoint: str, region: str, credentials: tuple[str, str]
) -> BaseClient:
    """A boto3 client for ``service`` at ``endpoint`` (a moto server), with these credentials."""
    session = boto3.session.Session(
        aws_access_key_id=credentials[0],
        aws_secret_access_key=credentials[1],
        region_name=region,
    )
    return session.client(service, endpoint_url=endpoint)


def _api_kwargs(client: BaseClient, operation: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of CloudFormation properties that the API operation takes, by name."""
    shape = client.meta.service_model.operation_model(operation).input_shape
    return {k: v for k, v in properties.items() if k in shape.members}


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class _Provisioner:
    def __init__(
        self,
        endpoint: str,
        region: str,
        stack_name: str,
        template: Template,
        credentials: tuple[str, str],
    ) -> None:
        self.endpoint = endpoint
        self.region = region
        self.stack_name = stack_name
        self.template = template
        self.credentials = credentials
        self._clients: dict[str, BaseClient] = {}
        self.account_id = str(self.client("sts").get_caller_identity()["Account"])
        self.resolve: dict[str, str] = {
            "AWS::Region": region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{region}:{self.account_id}:stack/{stack_name}/local"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.table_id = template.table().logical_id
        self.key_id = template.kms_key().logical_id
        self.client_id = template.user_pool_client().logical_id
        self.user_pool_id = ""

    def client(self, service: str) -> BaseClient:
        if service not in self._clients:
            self._clients[service] = aws_client(service, self.endpoint, self.region, self.credentials)
        return self._clients[service]

    def props(self, resource: Resource) -> dict[str, Any]:
        value = self.template.evaluate(resource.properties, self.resolve, where=resource.logical_id)
        return dict(value or {})

    def physical_name(self, resource: Resource, name_property: str, *, lower: bool = False) -> str:
        raw = resource.properties.get(name_property)
        if raw is not None:
            name = str(self.template.evaluate(raw, self.resolve, where=resource.logical_id))
        else:
            name = f"{self.stack_name}-{resource.logical_id}"
        return name.lower() if lower else name

    def run(self) -> None:
        # Order follows the references: function names and ARNs first (a user pool's
        # LambdaConfig names its triggers), keys before what they encrypt, the pool before its
        # groups and clients; secrets early, since function environments resolve them.
        self._skip_not_emulated()
        for function in self.wanted(self.template.resources(SERVERLESS_FUNCTION)):
            self.lambda_function(function)
        for key in self.wanted(self.template.kms_keys()):
            self.kms_key(key)
        for alias in self.wanted(self.template.kms_aliases()):
            self.kms_alias(alias)
        for secret in self.wanted(self.template.secrets()):
            self.secret(secret)
        self.table(self.template.table())
        self.user_pool(self.template.user_pool())
        for group in self.wanted(self.template.user_pool_groups()):
            self.user_pool_group(group)
        for client in self.wanted(self.template.user_pool_clients()):
            self.user_pool_client(client)
        for bucket in self.wanted(self.template.buckets()):
            self.bucket(bucket)
        for topic in self.wanted(self.template.topics()):
            self.topic(topic)
        for queue in self.wanted(self.template.resources(SQS_QUEUE)):
            self.queue(queue)

    def wanted(self, resources: Sequence[Resource], *, say: bool = True) -> list[Resource]:
        """The resources whose ``Condition`` (if any) holds for these parameters."""
        wanted = []
        for resource in resources:
            condition = resource.definition.get("Condition")
            if condition is not None and not self.template.condition(str(condition), self.resolve):
                if say:
                    log.debug("%s: condition %s is false: not created", resource.logical_id, condition)
                continue
            wanted.append(resource)
        return wanted

    def _skip_not_emulated(self) -> None:
        for logical_id, definition in self.template.document["Resources"].items():
            type_name = str(definition.get("Type")) if isinstance(definition, Mapping) else "?"
            if type_name not in _PROVISIONED_TYPES:
                log.debug("%s (%s) is not emulated in moto: skipped", logical_id, type_name)

    # ------------------------------------------------------------------ KMS

    def kms_key(self, resource: Resource) -> None:
        kms = self.client("kms")
        key_id = self._find_tagged_key(resource.logical_id)
        if key_id is None:
            props = self.props(resource)
            kwargs = _api_kwargs(kms, "CreateKey", props)
            if "KeyPolicy" in props:
                kwargs["Policy"] = json.dumps(props["KeyPolicy"])
            kwargs["Tags"] = [
                {"TagKey": _STACK_TAG, "TagValue": self.stack_name},
                {"TagKey": _LOGICAL_ID_TAG, "TagValue": resource.logical_id},
            ]
            key_id = str(kms.create_key(**kwargs)["KeyMetadata"]["KeyId"])
            if props.get("EnableKeyRotation") in (True, "true"):
                kms.enable_key_rotation(KeyId=key_id)
        metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        self.resolve[resource.logical_id] = str(metadata["KeyId"])
        self.resolve[f"{resource.logical_id}.KeyId"] = str(metadata["KeyId"])
        self.resolve[f"{resource.logical_id}.Arn"] = str(metadata["Arn"])

    def _find_tagged_key(self, logical_id: str) -> str | None:
        kms = self.client("kms")
        for page in kms.get_paginator("list_keys").paginate():
            for key in page["Keys"]:
                try:
                    tags = kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]
                    state = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"]
                except ClientError:
                    continue
                found = {t["TagKey"]: t["TagValue"] for t in tags}
                if (
                    state == "Enabled"
                    and found.get(_STACK_TAG) == self.stack_name
                    and found.get(_LOGICAL_ID_TAG) == logical_id
                ):
                    return str(key["KeyId"])
        return None

    def kms_alias(self, resource: Resource) -> None:
        kms = self.client("kms")
        props = self.props(resource)
        name, target = str(props["AliasName"]), str(props["TargetKeyId"])
        target_id = kms.describe_key(KeyId=target)["KeyMetadata"]["KeyId"]
        existing = {
            a["AliasName"]: a.get("TargetKeyId")
            for page in kms.get_paginator("list_aliases").paginate()
            for a in page["Aliases"]
        }
        if name not in existing:
            kms.create_alias(AliasName=name, TargetKeyId=target_id)
        elif existing[name] != target_id:
            kms.update_alias(AliasName=name, TargetKeyId=target_id)
        self.resolve[resource.logical_id] = name

    # ------------------------------------------------------------------ Secrets Manager

    def secret(self, resource: Resource) -> None:
        sm = self.client("secretsmanager")
        name = self.physical_name(resource, "Name")
        try:
            arn = str(sm.describe_secret(SecretId=name)["ARN"])
            value = str(sm.get_secret_value(SecretId=name)["SecretString"])
        except sm.exceptions.ResourceNotFoundException:
            props = self.props(resource)
            value = props.get("SecretString") or _generate_secret(props.get("GenerateSecretString") or {})
            arn = str(
                sm.create_secret(
                    Name=name,
                    SecretString=value,
                    Description=str(props.get("Description", "")),
                )["ARN"]
            )
        self.resolve[resource.logical_id] = arn  # Ref on a secret is its ARN
        self.resolve[f"{resource.logical_id}.Id"] = arn
        self.resolve[f"{resource.logical_id}.SecretString"] = value

    # ------------------------------------------------------------------ DynamoDB

    def table(self, resource: Resource) -> None:
        ddb = self.client("dynamodb")
        name = self.physical_name(resource, "TableName")
        wanted = self.template.table_create_kwargs(name)
        try:
            table = ddb.describe_table(TableName=name)["Table"]
        except ddb.exceptions.ResourceNotFoundException:
            ddb.create_table(**wanted)
            ddb.get_waiter("table_exists").wait(
                TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
            )
            table = ddb.describe_table(TableName=name)["Table"]
        else:
            table = self._reconcile_table(table, wanted)
        ttl = self.template.ttl_attribute()
        if ttl:
            status = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if status.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl},
                )
        self.resolve[resource.logical_id] = name
        self.resolve[f"{resource.logical_id}.Arn"] = str(table["TableArn"])
        if table.get("LatestStreamArn"):
            self.resolve[f"{resource.logical_id}.StreamArn"] = str(table["LatestStreamArn"])

    def _reconcile_table(self, table: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
        """An existing table must have the template's keys; GSIs added since are created."""
        name = wanted["TableName"]
        if table["KeySchema"] != wanted["KeySchema"]:
            raise ProvisionError(
                f"table {name} exists with key schema {table['KeySchema']}, template.yaml "
                f"says {wanted['KeySchema']}: delete the local state to rebuild it"
            )
        ddb = self.client("dynamodb")
        present = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes") or []}
        missing = [i for i in wanted.get("GlobalSecondaryIndexes", []) if i["IndexName"] not in present]
        for index in missing:
            ddb.update_table(
                TableName=name,
                AttributeDefinitions=wanted["AttributeDefinitions"],
                GlobalSecondaryIndexUpdates=[{"Create": index}],
            )
        if missing:
            table = ddb.describe_table(TableName=name)["Table"]
        return table

    # ------------------------------------------------------------------ Cognito

    def user_pool(self, resource: Resource) -> None:
        idp = self.client("cognito-idp")
        name = self.physical_name(resource, "UserPoolName")
        pool_id = self._find_user_pool(name)
        if pool_id is None:
            props = self.props(resource)
            props.pop("LambdaConfig", None)  # moto never invokes triggers
            props["PoolName"] = name
            if "UserPoolTags" in props:
                props["UserPoolTags"] = dict(props["UserPoolTags"])
            pool_id = str(
                idp.create_user_pool(**_api_kwargs(idp, "CreateUserPool", props))["UserPool"]["Id"]
            )
        pool = idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]
        self.user_pool_id = pool_id
        lid = resource.logical_id
        self.resolve[lid] = pool_id
        self.resolve[f"{lid}.Arn"] = str(pool["Arn"])
        self.resolve[f"{lid}.UserPoolId"] = pool_id
        self.resolve[f"{lid}.ProviderName"] = f"cognito-idp.{self.region}.amazonaws.com/{pool_id}"
        self.resolve[f"{lid}.ProviderURL"] = f"https://cognito-idp.{self.region}.amazonaws.com/{pool_id}"

    def _find_user_pool(self, name: str) -> str | None:
        idp = self.client("cognito-idp")
        for page in idp.get_paginator("list_user_pools").paginate(PaginationConfig={"PageSize": 60}):
            for pool in page["UserPools"]:
                if pool["Name"] == name:
                    return str(pool["Id"])
        return None

    def _pool_of(self, resource: Resource) -> str:
        pool_id = str(self.template.evaluate(resource.properties.get("UserPoolId"), self.resolve))
        if not pool_id or pool_id == "None":
            raise ProvisionError(f"{resource.logical_id} has no UserPoolId")
        return pool_id

    def user_pool_group(self, resource: Resource) -> None:
        idp = self.client("cognito-idp")
        props = self.props(resource)
        props["UserPoolId"] = self._pool_of(resource)
        props["GroupName"] = self.physical_name(resource, "GroupName")
        with contextlib.suppress(idp.exceptions.GroupExistsException):
            idp.create_group(**_api_kwargs(idp, "CreateGroup", props))
        self.resolve[resource.logical_id] = props["GroupName"]

    def user_pool_client(self, resource: Resource) -> None:
        idp = self.client("cognito-idp")
        pool_id = self._pool_of(resource)
        name = self.physical_name(resource, "ClientName")
        client_id = None
        for page in idp.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id):
            for existing in page["UserPoolClients"]:
                if existing["ClientName"] == name:
                    client_id = str(existing["ClientId"])
        if client_id is None:
            props = self.props(resource)
            props["UserPoolId"] = pool_id
            props["ClientName"] = name
            # The local stack signs in with USER_PASSWORD_AUTH (moto's SRP flow fails).
            flows = list(props.get("ExplicitAuthFlows") or [])
            if "ALLOW_USER_PASSWORD_AUTH" not in flows:
                flows.append("ALLOW_USER_PASSWORD_AUTH")
            props["ExplicitAuthFlows"] = flows
            created = idp.create_user_pool_client(**_api_kwargs(idp, "CreateUserPoolClient", props))
            client_id = str(created["UserPoolClient"]["ClientId"])
        self.resolve[resource.logical_id] = client_id
        self.resolve[f"{resource.logical_id}.ClientId"] = client_id

    # ------------------------------------------------------------------ S3 / SNS

    def bucket(self, resource: Resource) -> None:
        s3 = self.client("s3")
        name = self.physical_name(resource, "BucketName", lower=True)
        try:
            s3.head_bucket(Bucket=name)
        except ClientError as exc:
            if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
            kwargs: dict[str, Any] = {"Bucket": name}
            if self.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            s3.create_bucket(**kwargs)
        props = self.props(resource)
        cors = props.get("CorsConfiguration")
        if cors:
            rules = [
                {_CORS_RULE_KEYS.get(key, key): value for key, value in rule.items()}
                for rule in cors["CorsRules"]
            ]
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
        lid = resource.logical_id
        self.resolve[lid] = name
        self.resolve[f"{lid}.Arn"] = f"arn:aws:s3:::{name}"
        self.resolve[f"{lid}.DomainName"] = f"{name}.s3.amazonaws.com"
        self.resolve[f"{lid}.RegionalDomainName"] = f"{name}.s3.{self.region}.amazonaws.com"

    def topic(self, resource: Resource) -> None:
        sns = self.client("sns")
        props = self.props(resource)
        name = self.physical_name(resource, "TopicName")
        attributes = {}
        if props.get("FifoTopic") in (True, "true"):
            attributes["FifoTopic"] = "true"
            if not name.endswith(".fifo"):
                name += ".fifo"
        arn = str(sns.create_topic(Name=name, Attributes=attributes)["TopicArn"])  # idempotent
        lid = resource.logical_id
        self.resolve[lid] = arn
        self.resolve[f"{lid}.TopicArn"] = arn
        self.resolve[f"{lid}.TopicName"] = name

    def queue(self, resource: Resource) -> None:
        sqs = self.client("sqs")
        props = self.props(resource)
        name = self.physical_name(resource, "QueueName")
        if props.get("FifoQueue") in (True, "true") and not name.endswith(".fifo"):
            name += ".fifo"
        attributes = {
            key: json.dumps(value) if isinstance(value, Mapping) else _attribute(value)
            for key, value in props.items()
            if key in _SQS_ATTRIBUTES
        }
        try:
            url = str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
        except ClientError as exc:
            if "QueueNameExists" not in _error_code(exc) and "QueueAlreadyExists" not in _error_code(exc):
                raise
            url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
            if attributes:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arn = str(found["Attributes"]["QueueArn"])
        lid = resource.logical_id
        self.resolve[lid] = url  # Ref on a queue is its URL
        self.resolve[f"{lid}.QueueUrl"] = url
        self.resolve[f"{lid}.Arn"] = arn
        self.resolve[f"{lid}.QueueName"] = name

    # ------------------------------------------------------------------ Lambda (names only)

    def lambda_function(self, resource: Resource) -> None:
        """Functions run in-process locally; only their names and ARNs are needed."""
        name = self.physical_name(resource, "FunctionName")
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        self.resolve.setdefault(resource.logical_id, name)
        self.resolve.setdefault(f"{resource.logical_id}.Arn", arn)


#: AWS::S3::Bucket CorsRule property names that differ from PutBucketCors' (CloudFormation
#: says ExposedHeaders / Id / MaxAge, the API ExposeHeaders / ID / MaxAgeSeconds).
_CORS_RULE_KEYS = {"ExposedHeaders": "ExposeHeaders", "Id": "ID", "MaxAge": "MaxAgeSeconds"}
SQS_QUEUE = "AWS::SQS::Queue"
#: What :class:`_Provisioner` creates (functions: names and ARNs only). Everything else is
#: skipped with a DEBUG log.
_PROVISIONED_TYPES = frozenset({
    SERVERLESS_FUNCTION, "AWS::KMS::Key", "AWS::KMS::Alias", "AWS::SecretsManager::Secret",
    "AWS::DynamoDB::Table", "AWS::Cognito::UserPool", "AWS::Cognito::UserPoolGroup",
    "AWS::Cognito::UserPoolClient", "AWS::S3::Bucket", "AWS::SNS::Topic", SQS_QUEUE,
})
#: AWS::SQS::Queue properties that are SetQueueAttributes attributes (same names).
_SQS_ATTRIBUTES = frozenset({
    "ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue",
    "FifoThroughputLimit", "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId", "MaximumMessageSize",
    "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy",
    "RedrivePolicy", "SqsManagedSseEnabled", "VisibilityTimeout",
})


def _attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _generate_secret(spec: Mapping[str, Any]) -> str:
    """A value per ``GenerateSecretString`` (length, exclusions), from :mod:`secrets`."""
    length = int(spec.get("PasswordLength", 32))
    alphabet = ""
    if not spec.get("ExcludeLowercase"):
        alphabet += string.ascii_lowercase
    if not spec.get("ExcludeUppercase"):
        alphabet += string.ascii_uppercase
    if not spec.get("ExcludeNumbers"):
        alphabet += string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    if spec.get("IncludeSpace"):
        alphabet += " "
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    alphabet = "".join(c for c in alphabet if c not in excluded)
    if not alphabet:
        raise ProvisionError("GenerateSecretString excludes every character")
    value = "".join(secrets.choice(alphabet) for _ in range(length))
    template = spec.get("SecretStringTemplate")
    key = spec.get("GenerateStringKey")
    if template and key:
        document = json.loads(str(template))
        document[str(key)] = value
        return json.dumps(document)
    return value
