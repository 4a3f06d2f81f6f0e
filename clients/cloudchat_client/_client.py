"""The :class:`CloudChat` client: where the stack is, who is signed in, and an open HTTP session
(the package docstring has an example)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from cloudchat_client._config import (
    DEFAULT_OUTPUTS,
    Endpoint,
    endpoint_from_outputs,
    endpoint_from_stack,
    load_outputs_file,
    realtime_url_for,
)
from cloudchat_client._follow import Backoff, Status
from cloudchat_client._operations import Operations
from cloudchat_client._send import new_client_message_id, send_message
from cloudchat_client._streams import Following, Messages, Subscription
from cloudchat_client._tokens import REFRESH_MARGIN, Authenticator, MemoryStore, Session, SessionStore
from cloudchat_client._transport import Api
from cloudchat_client.errors import NotLoggedIn
from cloudchat_client.types import Message, UserEvent

if TYPE_CHECKING:
    from types_boto3_cognito_idp import CognitoIdentityProviderClient

__all__ = ["CloudChat"]


class CloudChat(Operations):
    """An async client of one CloudChat stack. Sign in with :meth:`sign_in` (Cognito
    ``USER_PASSWORD_AUTH``), or pass a ``session`` or a bare ID ``token`` (never refreshed).
    The ID token is refreshed ``REFRESH_MARGIN`` seconds before it expires, and once more when
    the API refuses it. Use it as ``async with``: that opens (and closes) the HTTP session."""

    def __init__(self, endpoint: Endpoint, *, session: Session | None = None, token: str | None = None,
                 store: SessionStore | None = None,
                 cognito: Callable[[], CognitoIdentityProviderClient] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.endpoint = endpoint
        self.auth = Authenticator(endpoint, store or MemoryStore(), cognito, clock=clock)
        self.session = session
        self._token = token
        if session is not None:
            self.auth.store.put(endpoint.key, session)
        self._api: Api | None = None

    # -- where the stack is ----------------------------------------------------------------

    @classmethod
    def from_outputs(cls, path: Path | str = DEFAULT_OUTPUTS, **kwargs: Any) -> CloudChat:
        """From a stack outputs file (default ``.cloudchat/outputs.json``, written by ``make dev``)."""
        path = Path(path)
        return cls(endpoint_from_outputs(load_outputs_file(path), source=str(path)), **kwargs)

    @classmethod
    def from_stack(cls, name: str, region: str | None = None, **kwargs: Any) -> CloudChat:
        """From a deployed CloudFormation stack's outputs (needs AWS credentials to read them)."""
        return cls(endpoint_from_stack(name, region), **kwargs)

    @classmethod
    def from_urls(cls, graphql_url: str, *, realtime_url: str | None = None, client_id: str = "",
                  region: str = "us-east-1", user_pool_id: str = "", cognito_endpoint: str | None = None,
                  **kwargs: Any) -> CloudChat:
        """From explicit URLs: with ``token=`` alone, or ``client_id`` (+ ``cognito_endpoint``
        locally) to sign in."""
        endpoint = Endpoint(graphql_url=graphql_url,
                            realtime_url=realtime_url or realtime_url_for(graphql_url),
                            user_pool_id=user_pool_id, client_id=client_id, region=region,
                            cognito_endpoint=cognito_endpoint, source=graphql_url)
        return cls(endpoint, **kwargs)

    # -- who is signed in ------------------------------------------------------------------

    async def sign_in(self, username: str, password: str) -> Session:
        """Cognito ``USER_PASSWORD_AUTH`` (a local demo user's short name works too)."""
        self.session = await asyncio.to_thread(self.auth.login, username, password)
        self._token = None
        return self.session

    @property
    def user_id(self) -> str:
        """The signed-in user's id (the token's ``sub``)."""
        if self.session is not None:
            return self.session.sub
        from cloudchat_client._tokens import jwt_claims

        return str(jwt_claims(self.token())["sub"])

    def token(self) -> str:
        """The current ID token, refreshed first when it expires within ``REFRESH_MARGIN``."""
        if self._token is not None:
            return self._token
        if self.session is None:
            raise NotLoggedIn(f"not signed in to {self.endpoint.graphql_url}; call sign_in() first")
        if self.session.expires_within(REFRESH_MARGIN, self.auth.clock()):
            self.session = self.auth.refresh(self.session)
        return self.session.id_token

    def _refreshed(self) -> str:
        """A new ID token now (the API refused the current one)."""
        if self.session is None:
            return self.token()  # a bare token: nothing to refresh it with
        self.session = self.auth.refresh(self.session)
        return self.session.id_token

    # -- the HTTP session ------------------------------------------------------------------

    @property
    def api(self) -> Api:
        if self._api is None:
            raise RuntimeError("use `async with CloudChat(...)` (or `await chat.open()`) first")
        return self._api

    async def open(self) -> CloudChat:
        if self._api is None:
            api = Api(self.endpoint, self.token, refresh=self._refreshed)
            await api.__aenter__()
            self._api = api
        return self

    async def close(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            await api.__aexit__(None, None, None)

    async def __aenter__(self) -> CloudChat:
        return await self.open()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def execute(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Runs an operation of operations.graphql by name (``"sendMessage"`` or
        ``"SendMessage"``), or any GraphQL text; returns the answer's ``data``."""
        return await self.api.execute(document, variables)

    # -- sending and following -------------------------------------------------------------

    async def send_message(self, conversation_id: str, body: str | None, *,
                           client_message_id: str | None = None, parent_id: str | None = None,
                           attachments: Sequence[str] | None = None, retries: int = 3,
                           retry_delay: float = 0.25,
                           mentions: Sequence[str] | None = None) -> Message:
        """``sendMessage``; network failures are retried with the same ``clientMessageId``
        (a fresh one when not given), so at most one message is stored. ``mentions``: user
        ids of members to mention (each gets a MENTION event and a notification, even when
        they muted the conversation); anyone else is a BadRequest."""
        return cast(Message, await send_message(
            self, conversation_id, body, client_message_id=client_message_id or new_client_message_id("py"),
            parent_id=parent_id, attachments=attachments, mentions=mentions, retries=retries,
            retry_delay=retry_delay))

    def follow(self, conversation_id: str, after_seq: int | None = None, *,
               backoff: Backoff | None = None, max_attempts: int | None = None) -> Messages:
        """The conversation's new messages (seq > ``after_seq``; default: from now), each once,
        in seq order, across dropped connections (reconnect with backoff, catch up by seq)."""
        return Messages(self.follow_deliveries(conversation_id, after_seq, backoff=backoff,
                                               max_attempts=max_attempts))

    def follow_deliveries(self, conversation_id: str, after_seq: int | None = None, *,
                          backoff: Backoff | None = None, max_attempts: int | None = None,
                          on_status: Callable[[Status], None] | None = None) -> Following:
        """Like :meth:`follow`, as :class:`Delivery` items: also ``update`` ones (edits,
        deletions, reactions and replies to messages already delivered)."""
        return Following(self.api, conversation_id, after_seq=after_seq, backoff=backoff,
                         max_attempts=max_attempts, on_status=on_status)

    def user_events(self, *, backoff: Backoff | None = None,
                    max_attempts: int | None = None) -> Subscription[UserEvent]:
        """Your own channel (``onUserEvent``): new messages anywhere, unread counts, added or
        removed, renamed, contacts online. Reconnects; events during a disconnect are missed
        (re-read ``conversations`` after a reconnect for the counts). In conversations over
        the deployment's ``LargeGroupThreshold`` MESSAGE events reach only members online by
        ``heartbeat`` (call it every 30 s while listening) and those a message mentions; the
        ``conversations`` list and ``messages_since`` have every message either way."""
        return Subscription(self.api, "onUserEvent", {"userId": self.user_id}, backoff=backoff,
                            max_attempts=max_attempts)

    def subscribe(self, operation: str, variables: Mapping[str, Any], *, backoff: Backoff | None = None,
                  max_attempts: int | None = None) -> Subscription[dict[str, Any]]:
        """Any subscription of operations.graphql (``onTyping``, ``onReceipt``,
        ``onMembershipChange``, ...) or GraphQL text: its events, reconnecting."""
        return Subscription(self.api, operation, variables, backoff=backoff, max_attempts=max_attempts)
