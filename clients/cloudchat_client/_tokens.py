"""Cognito sign-in and refresh, and where sessions are kept.

The library keeps sessions in memory (:class:`MemoryStore`); the CLI keeps them per endpoint
in one JSON file (:class:`TokenStore`), ``$CLOUDCHAT_HOME/tokens.json`` (default
``~/.config/cloudchat``), written atomically with mode 0600 in a 0700 directory. A session's
tokens are refreshed with ``REFRESH_TOKEN_AUTH`` when the ID token is within
``REFRESH_MARGIN`` seconds of expiry.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cloudchat_client._config import Endpoint
from cloudchat_client.errors import AuthError, CloudChatError, NotLoggedIn, StackUnreachable

if TYPE_CHECKING:
    from types_boto3_cognito_idp import CognitoIdentityProviderClient
    from types_boto3_cognito_idp.literals import AuthFlowTypeType

__all__ = ["REFRESH_MARGIN", "Authenticator", "MemoryStore", "Session", "SessionStore", "TokenStore",
           "default_home", "jwt_claims"]

REFRESH_MARGIN = 300.0


def default_home() -> Path:
    env = os.environ.get("CLOUDCHAT_HOME")
    if env:
        return Path(env)
    config = os.environ.get("XDG_CONFIG_HOME")
    return (Path(config) if config else Path.home() / ".config") / "cloudchat"


def jwt_claims(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified (the server verifies; the client only reads exp and sub)."""
    try:
        payload = token.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except (IndexError, ValueError) as exc:
        raise AuthError("the stored token is not a JWT; run `cloudchat login`") from exc


@dataclass(frozen=True)
class Session:
    """One signed-in user of one endpoint."""

    username: str
    sub: str
    id_token: str
    access_token: str
    refresh_token: str
    expires_at: float
    groups: tuple[str, ...] = ()

    @classmethod
    def from_result(cls, result: Any, username: str, refresh_token: str | None = None) -> Session:
        """From Cognito's ``AuthenticationResult`` (a refresh returns no new refresh token)."""
        id_token = str(result["IdToken"])
        claims = jwt_claims(id_token)
        return cls(
            username=username,
            sub=str(claims.get("sub", "")),
            id_token=id_token,
            access_token=str(result["AccessToken"]),
            refresh_token=str(result.get("RefreshToken") or refresh_token or ""),
            expires_at=float(claims.get("exp", time.time() + float(result.get("ExpiresIn", 3600)))),
            groups=tuple(claims.get("cognito:groups") or ()),
        )

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        return self.expires_at - (time.time() if now is None else now) <= seconds


class SessionStore(Protocol):
    """Where an :class:`Authenticator` keeps sessions, by endpoint key."""

    def get(self, key: str) -> Session | None: ...

    def put(self, key: str, session: Session) -> None: ...

    def delete(self, key: str) -> bool: ...


class MemoryStore:
    """Sessions kept in this process only (the library's default)."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def get(self, key: str) -> Session | None:
        return self._sessions.get(key)

    def put(self, key: str, session: Session) -> None:
        self._sessions[key] = session

    def delete(self, key: str) -> bool:
        return self._sessions.pop(key, None) is not None


class TokenStore:
    """{endpoint key: Session} in a 0600 JSON file."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home if home is not None else default_home()
        self.path = self.home / "tokens.json"

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise CloudChatError(f"cannot read the token store {self.path}: {exc}") from None
        return data if isinstance(data, dict) else {}

    def _secure_home(self) -> None:
        """The folder exists, is ours, and only we can use it (0700). ``mkdir``'s mode does
        nothing to a folder that exists, so an existing one is checked and tightened; one
        that another user owns or can write is refused (they could swap files in it)."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = os.lstat(self.home)
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise CloudChatError(f"the token folder {self.home} is not a plain directory; refusing "
                           "to store tokens there")
        if info.st_uid != os.getuid():
            raise CloudChatError(f"the token folder {self.home} belongs to another user; refusing "
                           "to store tokens there")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise CloudChatError(f"others can write the token folder {self.home} (mode "
                           f"{stat.S_IMODE(info.st_mode):o}); refusing to store tokens there. "
                           f"Check its contents, then `chmod 700 {self.home}`")
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(self.home, 0o700)

    def _write(self, data: dict[str, Any]) -> None:
        self._secure_home()
        # A fresh, unpredictable name, created exclusively and never through a symlink: a
        # file or link planted in the folder cannot receive the tokens.
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, self.path)

    def get(self, key: str) -> Session | None:
        entry = self._read().get(key)
        if not isinstance(entry, dict):
            return None
        try:
            return Session(**{**entry, "groups": tuple(entry.get("groups") or ())})
        except TypeError:
            return None

    def put(self, key: str, session: Session) -> None:
        data = self._read()
        data[key] = {**asdict(session), "groups": list(session.groups)}
        self._write(data)

    def delete(self, key: str) -> bool:
        data = self._read()
        if key not in data:
            return False
        del data[key]
        self._write(data)
        return True


class Authenticator:
    """Signs in (``USER_PASSWORD_AUTH``), refreshes (``REFRESH_TOKEN_AUTH``) and stores sessions
    for one endpoint. ``cognito`` makes the boto3 ``cognito-idp`` client (tests pass a fake)."""

    def __init__(self, endpoint: Endpoint, store: SessionStore,
                 cognito: Callable[[], CognitoIdentityProviderClient] | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.endpoint = endpoint
        self.store = store
        self._make_cognito = cognito or self._cognito_client
        self._client: CognitoIdentityProviderClient | None = None
        self.clock = clock

    def _cognito_client(self) -> CognitoIdentityProviderClient:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        if self.endpoint.cognito_endpoint:
            # moto: any credentials; they only pick its account and region.
            return boto3.client("cognito-idp", endpoint_url=self.endpoint.cognito_endpoint,
                                region_name=self.endpoint.region, aws_access_key_id="cloudchat",
                                aws_secret_access_key="cloudchat",  # noqa: S106 - moto only
                                config=Config(retries={"max_attempts": 1}, connect_timeout=5))
        # InitiateAuth is an unsigned call: no AWS credentials are needed to sign in.
        return boto3.client("cognito-idp", region_name=self.endpoint.region,
                            config=Config(signature_version=UNSIGNED, connect_timeout=10))

    @property
    def cognito(self) -> CognitoIdentityProviderClient:
        if self._client is None:
            self._client = self._make_cognito()
        return self._client

    def _initiate(self, flow: AuthFlowTypeType, parameters: dict[str, str]) -> dict[str, Any]:
        from botocore.exceptions import ClientError, EndpointConnectionError

        try:
            response = self.cognito.initiate_auth(ClientId=self.endpoint.client_id, AuthFlow=flow,
                                                  AuthParameters=parameters)
        except EndpointConnectionError:
            raise StackUnreachable(self.endpoint.cognito_endpoint or f"Cognito ({self.endpoint.region})") \
                from None
        except ClientError as exc:
            code = exc.response["Error"].get("Code", "")
            message = exc.response["Error"].get("Message", str(exc))
            if code in {"NotAuthorizedException", "UserNotFoundException"}:
                raise AuthError(f"bad credentials: {message} ({code})") from None
            raise AuthError(f"Cognito refused the sign-in: {message} ({code})") from None
        result = response.get("AuthenticationResult")
        if not result:
            challenge = response.get("ChallengeName", "an unknown challenge")
            if challenge == "NEW_PASSWORD_REQUIRED":
                raise AuthError("this user still has a temporary password: set a permanent one first "
                                "(for example with the web client)")
            raise AuthError(f"Cognito asks for {challenge}, which the CLI does not support")
        return dict(result)

    def login(self, username: str, password: str) -> Session:
        username = self.endpoint.username_for(username)
        result = self._initiate("USER_PASSWORD_AUTH", {"USERNAME": username, "PASSWORD": password})
        session = Session.from_result(result, username)
        self.store.put(self.endpoint.key, session)
        return session

    def logout(self) -> bool:
        return self.store.delete(self.endpoint.key)

    def current(self) -> Session:
        """The stored session, refreshed first when it is near expiry."""
        session = self.store.get(self.endpoint.key)
        if session is None:
            raise NotLoggedIn(f"not logged in to {self.endpoint.graphql_url}; run `cloudchat login USERNAME`")
        if session.expires_within(REFRESH_MARGIN, self.clock()):
            session = self.refresh(session)
        return session

    def refresh(self, session: Session) -> Session:
        if not session.refresh_token:
            raise NotLoggedIn("the session expired; run `cloudchat login` again")
        try:
            result = self._initiate("REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": session.refresh_token})
        except AuthError as exc:
            raise NotLoggedIn(f"the session could not be refreshed ({exc}); run `cloudchat login` again") \
                from None
        fresh = Session.from_result(result, session.username, refresh_token=session.refresh_token)
        self.store.put(self.endpoint.key, fresh)
        return fresh
