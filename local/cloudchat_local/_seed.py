"""The demo data: a GROUP conversation "Welcome" of the demo users, with a few messages.

It is created through the running API, as a client would: each demo user signs in to Cognito
(USER_PASSWORD_AUTH; the ID token, so profiles get the user's name), asks ``me`` (which
creates the profile), then alice creates the conversation and the users send messages with
fixed ``clientMessageId``s. It is idempotent: when alice already has a GROUP conversation
titled "Welcome", nothing is created.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from cloudchat_local.errors import SeedError
from cloudchat_local.provision import DemoUser, Provisioned

__all__ = ["WELCOME_MESSAGES", "WELCOME_TITLE", "seed_demo_conversation", "sign_in"]

WELCOME_TITLE: Final = "Welcome"
#: (sender, clientMessageId, body), in order.
WELCOME_MESSAGES: Final = (
    ("alice", "welcome-0001", "Welcome to CloudChat! This conversation was created by `make dev`."),
    ("bob", "welcome-0002", "Hi all! Messages are encrypted at rest with per-conversation KMS data keys."),
    ("carol", "welcome-0003", "Open GraphiQL, sign in as any demo user and try sendMessage."),
)
_MAX_PAGES: Final = 50


def sign_in(provisioned: Provisioned, user: DemoUser, *,
            token: Literal["IdToken", "AccessToken"] = "IdToken") -> str:  # noqa: S107
    """A Cognito token for a demo user (``IdToken`` or ``AccessToken``)."""
    idp = provisioned.client("cognito-idp")
    result = idp.initiate_auth(
        ClientId=provisioned.user_pool_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user.username, "PASSWORD": user.password},
    )["AuthenticationResult"]
    return str(result[token])


def graphql(url: str, token: str, query: str, variables: Mapping[str, Any] | None = None,
            *, timeout: float = 30.0) -> dict[str, Any]:
    """One GraphQL request; the ``data``, or SeedError with the first error."""
    body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
    request = urllib.request.Request(  # noqa: S310 - the local API on loopback
        url, data=body, method="POST",
        headers={"content-type": "application/json", "authorization": token},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
            document = json.load(response)
    except urllib.error.HTTPError as exc:
        raise SeedError(f"{exc.code} from {url}: {exc.read()[:300]!r}") from exc
    errors = document.get("errors")
    if errors:
        first = errors[0]
        raise SeedError(f"{first.get('errorType')}: {first.get('message')}")
    return dict(document.get("data") or {})


_CONVERSATIONS = """
query Conversations($nextToken: String) {
  conversations(limit: 50, nextToken: $nextToken) { items { id kind title } nextToken }
}"""
_CREATE = """
mutation Create($input: CreateConversationInput!) {
  createConversation(input: $input) { id }
}"""
_SEND = """
mutation Send($input: SendMessageInput!) {
  sendMessage(input: $input) { id conversationId seq senderId kind body createdAt clientMessageId version }
}"""


def find_conversation(url: str, token: str, title: str = WELCOME_TITLE) -> str | None:
    next_token: str | None = None
    for _ in range(_MAX_PAGES):
        page = graphql(url, token, _CONVERSATIONS, {"nextToken": next_token})["conversations"]
        for item in page["items"]:
            if item["kind"] == "GROUP" and item["title"] == title:
                return str(item["id"])
        next_token = page.get("nextToken")
        if not next_token:
            return None
    return None


def seed_demo_conversation(
    url: str,
    provisioned: Provisioned,
    *,
    messages: Sequence[tuple[str, str, str]] = WELCOME_MESSAGES,
) -> tuple[str, bool]:
    """Creates the "Welcome" conversation unless alice has one. Returns (id, created)."""
    users = {u.name: u for u in provisioned.demo_users}
    if "alice" not in users:
        raise SeedError("the demo users were not created")
    tokens = {name: sign_in(provisioned, user) for name, user in users.items()}
    for token in tokens.values():
        graphql(url, token, "query { me { id } }")  # creates the profile
    existing = find_conversation(url, tokens["alice"])
    if existing is not None:
        return existing, False
    others = [u.sub for name, u in users.items() if name != "alice"]
    created = graphql(url, tokens["alice"], _CREATE,
                      {"input": {"memberIds": others, "title": WELCOME_TITLE}})
    conversation_id = str(created["createConversation"]["id"])
    for sender, client_message_id, body in messages:
        graphql(url, tokens[sender], _SEND, {"input": {
            "conversationId": conversation_id, "body": body, "clientMessageId": client_message_id,
        }})
    return conversation_id, True
