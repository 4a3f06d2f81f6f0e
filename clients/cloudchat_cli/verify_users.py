"""Temporary Cognito users for ``cloudchat verify``, through the admin API.

Each user is created with ``AdminCreateUser`` (no invitation: ``MessageAction=SUPPRESS``,
email verified) and given a random permanent password with ``AdminSetUserPassword``, after
which ``USER_PASSWORD_AUTH`` signs it in as any client would. Passwords live only in this
process: they are never printed, logged or written. ``delete`` removes every user this object
created, whatever happened in between.

Against a deployed stack the admin calls are signed with the caller's own AWS credentials
(boto3's default chain); against the local stack they go to moto (the outputs'
``CognitoEndpoint``), with the local stack's credentials.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloudchat_client import Authenticator, Endpoint, Session, TokenStore

if TYPE_CHECKING:
    from botocore.config import Config
    from types_boto3_cognito_idp import CognitoIdentityProviderClient

__all__ = ["TempUser", "TempUsers", "new_password", "run_prefix"]

#: Bounded AWS calls: a slow or black-holed Cognito fails the check instead of hanging it.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 15
EMAIL_DOMAIN = "example.com"  # reserved (RFC 2606); MessageAction=SUPPRESS sends nothing anyway


def run_prefix() -> str:
    """Unique per run, sortable, and recognisable in the user pool: ``ccverify-<utc>-<random>``."""
    return f"ccverify-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def new_password(length: int = 32) -> str:
    """Random, and meeting any Cognito password policy (upper, lower, digit, symbol)."""
    symbols = "^$*.[]{}()?!@#%&/,><:;|_~"
    alphabet = string.ascii_letters + string.digits + symbols
    chars = [secrets.choice(string.ascii_uppercase), secrets.choice(string.ascii_lowercase),
             secrets.choice(string.digits), secrets.choice(symbols)]
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


@dataclass
class TempUser:
    label: str
    username: str
    password: str = field(repr=False)
    session: Session | None = field(default=None, repr=False)

    @property
    def sub(self) -> str:
        assert self.session is not None, f"{self.label} is not signed in"
        return self.session.sub

    @property
    def token(self) -> str:
        assert self.session is not None, f"{self.label} is not signed in"
        return self.session.id_token


class _MemoryStore(TokenStore):
    """Sessions of temporary users: never written to the caller's token store."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}

    def get(self, key: str) -> Session | None:
        return self.sessions.get(key)

    def put(self, key: str, session: Session) -> None:
        self.sessions[key] = session

    def delete(self, key: str) -> bool:
        return self.sessions.pop(key, None) is not None


class TempUsers:
    """Creates, signs in and deletes the run's users. ``admin`` makes the boto3
    ``cognito-idp`` client for the admin calls (tests pass their own)."""

    def __init__(self, endpoint: Endpoint, prefix: str, *,
                 admin: Callable[[], CognitoIdentityProviderClient] | None = None) -> None:
        self.endpoint = endpoint
        self.prefix = prefix
        self._make_admin = admin or self._admin_client
        self._admin: CognitoIdentityProviderClient | None = None
        self.users: list[TempUser] = []
        #: usernames created and not (yet) deleted
        self.created: list[str] = []

    @property
    def admin(self) -> CognitoIdentityProviderClient:
        if self._admin is None:
            self._admin = self._make_admin()
        return self._admin

    def _config(self) -> Config:
        from botocore.config import Config

        return Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                      retries={"max_attempts": 2, "mode": "standard"})

    def _admin_client(self) -> CognitoIdentityProviderClient:
        import boto3

        e = self.endpoint
        if e.cognito_endpoint:  # the local stack: moto, with its own credentials
            key, secret = e.aws_credentials or ("cloudchat", "cloudchat")
            return boto3.client("cognito-idp", endpoint_url=e.cognito_endpoint, region_name=e.region,
                                aws_access_key_id=key, aws_secret_access_key=secret,
                                config=self._config())
        return boto3.client("cognito-idp", region_name=e.region, config=self._config())

    def _sign_in_client(self) -> CognitoIdentityProviderClient:
        """The client a user signs in with: unsigned on AWS (InitiateAuth needs no credentials)."""
        import boto3
        from botocore import UNSIGNED

        e = self.endpoint
        if e.cognito_endpoint:
            return self._admin_client()
        config = self._config().merge(_unsigned_config(UNSIGNED))
        return boto3.client("cognito-idp", region_name=e.region, config=config)

    def create(self, label: str) -> TempUser:
        username = f"{self.prefix}-{label}@{EMAIL_DOMAIN}".lower()
        user = TempUser(label=label, username=username, password=new_password())
        self.admin.admin_create_user(
            UserPoolId=self.endpoint.user_pool_id, Username=username, MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": username},
                            {"Name": "email_verified", "Value": "true"},
                            {"Name": "name", "Value": f"Verify {label.upper()}"}],
        )
        self.created.append(username)
        self.admin.admin_set_user_password(UserPoolId=self.endpoint.user_pool_id, Username=username,
                                           Password=user.password, Permanent=True)
        self.users.append(user)
        return user

    def sign_in(self, user: TempUser) -> Session:
        """USER_PASSWORD_AUTH with the app client, as the CLI's ``login`` does."""
        authenticator = Authenticator(self.endpoint, _MemoryStore(), cognito=self._sign_in_client)
        user.session = authenticator.login(user.username, user.password)
        return user.session

    def delete(self) -> list[str]:
        """Deletes every user created; returns the usernames that could not be deleted."""
        left = []
        for username in list(self.created):
            try:
                self.admin.admin_delete_user(UserPoolId=self.endpoint.user_pool_id, Username=username)
            except Exception as exc:
                if _code(exc) != "UserNotFoundException":
                    left.append(username)
                    continue
            self.created.remove(username)
        return left


def _unsigned_config(unsigned: Any) -> Config:
    from botocore.config import Config

    return Config(signature_version=unsigned)


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
