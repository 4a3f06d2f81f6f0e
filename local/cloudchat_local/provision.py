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

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from cloudchat_local._provision_apps import SQS_QUEUE, AppResources
from cloudchat_local._provision_base import Clients, clients_for, log
from cloudchat_local._provision_data import DataResources
from cloudchat_local.errors import ProvisionError, UnresolvedReference
from cloudchat_local.template import (
    SERVERLESS_FUNCTION,
    Template,
    load_template,
)

if TYPE_CHECKING:
    pass

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

    @property
    def client(self) -> Clients:
        """boto3 clients on the moto server, with the stack's credentials (typed per service)."""
        return clients_for(self.endpoint, self.region, (self.access_key_id, self.secret_access_key),
                           cache=False)

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
    idp = clients_for(endpoint, region, credentials, cache=False)("cognito-idp")
    created = []
    for name, groups in users.items():
        email = f"{name}@{domain}"
        try:
            user = idp.admin_get_user(UserPoolId=user_pool_id, Username=email)
            attributes = user["UserAttributes"]
        except idp.exceptions.UserNotFoundException:
            new = idp.admin_create_user(
                UserPoolId=user_pool_id,
                Username=email,
                UserAttributes=[
                    {"Name": "email", "Value": email},
                    {"Name": "email_verified", "Value": "true"},
                    {"Name": "name", "Value": name.title()},
                ],
                MessageAction="SUPPRESS",
            )["User"]
            attributes = new["Attributes"]
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


class _Provisioner(DataResources, AppResources):
    """One run of :func:`provision`: the resource kinds live in :mod:`._provision_data`
    (KMS, Secrets Manager, DynamoDB) and :mod:`._provision_apps` (Cognito, S3, SNS, SQS,
    Lambda names); what they share in :mod:`._provision_base`."""

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
        self.notice_sender()

    def _skip_not_emulated(self) -> None:
        for logical_id, definition in self.template.document["Resources"].items():
            type_name = str(definition.get("Type")) if isinstance(definition, Mapping) else "?"
            if type_name not in _PROVISIONED_TYPES:
                log.debug("%s (%s) is not emulated in moto: skipped", logical_id, type_name)


#: What :class:`_Provisioner` creates (functions: names and ARNs only). Everything else is
#: skipped with a DEBUG log.
_PROVISIONED_TYPES = frozenset({
    SERVERLESS_FUNCTION, "AWS::KMS::Key", "AWS::KMS::Alias", "AWS::SecretsManager::Secret",
    "AWS::DynamoDB::Table", "AWS::Cognito::UserPool", "AWS::Cognito::UserPoolGroup",
    "AWS::Cognito::UserPoolClient", "AWS::S3::Bucket", "AWS::SNS::Topic", SQS_QUEUE,
})
