"""A fresh local stack in a subprocess, and its users: created in its Cognito (moto), signed in,
profiles made; plain synchronous GraphQL calls for the setup."""

from __future__ import annotations

import contextlib
import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from ._documents import CREATE_CONVERSATION, ME
from ._processes import Child, spawn


@contextlib.contextmanager
def local_stack(work: Path, *, env: dict[str, str] | None = None,
                template: Path | None = None) -> Iterator[tuple[Child, dict[str, Any]]]:
    """``python -m cloudchat_local.dev`` on ephemeral 127.0.0.1 ports, no TLS, a fresh state dir
    under ``work``, no demo seed; yields the child and its outputs (``outputs.json``) once
    it is up, and stops it on the way out. Its log is ``work/dev.log``."""
    outputs = work / "outputs.json"
    argv = [sys.executable, "-m", "cloudchat_local.dev", "--port", "0", "--no-tls", "--moto-port", "0",
            "--state-dir", str(work / "state"), "--outputs", str(outputs), "--fresh", "--no-seed"]
    if template is not None:
        argv += ["--template", str(template)]
    child = spawn("local stack", argv, work / "dev.log", env=env, ready_line=False)
    try:
        deadline = time.monotonic() + 120
        while not outputs.exists():
            if child.process.poll() is not None:
                raise RuntimeError(f"the local stack exited with {child.process.returncode}:\n"
                                   f"{child.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the local stack did not start in 120 s:\n{child.log_tail()}")
            time.sleep(0.2)
        yield child, json.loads(outputs.read_text())
    finally:
        child.stop(timeout=30)


def graphql_sync(url: str, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """One GraphQL request (urllib, no gql): its ``data``; raises on ``errors``."""
    request = urllib.request.Request(
        url, data=json.dumps({"query": query, "variables": variables or {}}).encode(), method="POST",
        headers={"content-type": "application/json", "authorization": token},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
        document = json.load(response)
    if document.get("errors"):
        raise RuntimeError(f"{query.split('{', 1)[0].strip()}: {document['errors'][0]}")
    return dict(document["data"])


@dataclass(frozen=True)
class Account:
    """A user of the local stack, signed in."""

    name: str
    sub: str
    token: str  # Cognito ID token


def create_users(outputs: dict[str, Any], names: list[str], domain: str) -> list[Account]:
    """Creates each user ``<name>@<domain>`` in the stack's Cognito (moto), signs each in
    (``USER_PASSWORD_AUTH``) and creates its profile (``me``)."""
    from cloudchat_local.provision import DEMO_PASSWORD, create_demo_users

    endpoint = str(outputs["CognitoEndpoint"])
    credentials = (str(outputs["IamAccessKeyId"]), str(outputs["IamSecretAccessKey"]))
    created = create_demo_users(
        endpoint, str(outputs["UserPoolId"]), region=str(outputs["Region"]), credentials=credentials,
        users={name: () for name in names}, password=DEMO_PASSWORD, domain=domain,
    )
    idp = boto3.session.Session(
        aws_access_key_id=credentials[0], aws_secret_access_key=credentials[1],
        region_name=str(outputs["Region"]),
    ).client("cognito-idp", endpoint_url=endpoint)
    accounts = []
    for user in created:
        auth = idp.initiate_auth(
            ClientId=str(outputs["UserPoolClientId"]), AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user.username, "PASSWORD": user.password},
        )["AuthenticationResult"]
        accounts.append(Account(user.name, user.sub, str(auth["IdToken"])))
    url = str(outputs["GraphQLApiUrl"])
    for account in accounts:
        graphql_sync(url, account.token, ME)
    return accounts


def create_conversation(url: str, token: str, member_ids: list[str],
                        title: str | None = None) -> dict[str, Any]:
    """``createConversation`` by the token's user with the other members ``member_ids`` (a title
    makes it a GROUP): the new conversation's ``id`` and ``kind``."""
    variables: dict[str, Any] = {"memberIds": member_ids}
    if title is not None:
        variables["title"] = title
    return dict(graphql_sync(url, token, CREATE_CONVERSATION, {"input": variables})["createConversation"])
