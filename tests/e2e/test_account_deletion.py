"""deleteAccount / adminDeleteUser end to end: the local stack as a subprocess, real gql
clients, Cognito users in moto, the stream consumer running the background part; and
``cloudchat delete-account`` (the installed console script)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError

from cloudchat_client import document

from ._matrix import PASSWORD, User, create_user, idp, sign_in
from .conftest import REPO, DevStack, eventually, run

pytestmark = pytest.mark.e2e

CLI = str(REPO / ".venv" / "bin" / "cloudchat")


async def gql(stack: DevStack, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    async with stack.http_client(token) as session:
        return await session.execute(GraphQLRequest(query if "{" in query else document(query),
                                                    variable_values=variables))


async def refused(stack: DevStack, token: str, query: str, variables: dict[str, Any] | None = None) -> str:
    try:
        await gql(stack, token, query, variables)
    except TransportQueryError as exc:
        return str((exc.errors or [{}])[0].get("errorType"))
    raise AssertionError(f"{query} was not refused")


def signed_in(stack: DevStack, name: str, *groups: str) -> tuple[User, str]:
    user = create_user(stack, name, *groups)
    return user, sign_in(stack, user.username)


async def history(stack: DevStack, token: str, cid: str) -> list[dict[str, Any]]:
    got = await gql(stack, token, "MessagesSince", {"conversationId": cid, "afterSeq": 0, "limit": 100})
    return list(got["messagesSince"]["items"])


def test_delete_account_through_the_local_stack(stack: DevStack) -> None:
    gone, gone_token = signed_in(stack, "gone")
    friend, friend_token = signed_in(stack, "friend")

    async def scenario() -> None:
        await gql(stack, gone_token, "Me")
        await gql(stack, friend_token, "Me")
        group = (await gql(stack, gone_token, "CreateConversation", {"input": {
            "memberIds": [friend.sub], "title": "farewell"}}))["createConversation"]["id"]
        await gql(stack, gone_token, "SendMessage", {"input": {
            "conversationId": group, "body": "my last words", "clientMessageId": "e2e-gone-0001"}})

        job = (await gql(stack, gone_token, "DeleteAccount", {"eraseMessages": False}))["deleteAccount"]
        assert (job["userId"], job["status"]) == (gone.sub, "RUNNING")
        # the Cognito user is gone from moto: signing in fails
        with pytest.raises(Exception, match=r"UserNotFoundException|NotAuthorizedException"):
            sign_in(stack, gone.username)
        # a token issued before the delete gets nowhere
        assert await refused(stack, gone_token, "Me") == "Unauthorized"
        assert await refused(stack, gone_token, "Heartbeat") == "Unauthorized"
        assert await refused(stack, gone_token, "UsersByIds", {"ids": [friend.sub]}) == "Unauthorized"
        # the others see the "left" SYSTEM message (background part) and "Deleted user"
        items = await eventually(lambda: history(stack, friend_token, group),
                                 lambda got: got and got[-1]["kind"] == "SYSTEM"
                                 and got[-1]["body"].startswith("Deleted user left"), timeout=30)
        assert items[-1]["body"].endswith(" is now an owner")  # (the friend, the only one left)
        assert ("my last words", gone.sub) in [(m["body"], m["senderId"]) for m in items]
        names = (await gql(stack, friend_token, "UsersByIds", {"ids": [gone.sub]}))["usersByIds"]
        assert [(u["displayName"], bool(u["deletedAt"])) for u in names] == [("Deleted user", True)]
        # and once the background part ran, the old token reaches no conversation either
        assert await refused(stack, gone_token, "SendMessage", {"input": {
            "conversationId": group, "body": "back?", "clientMessageId": "e2e-gone-0002"}}) == "Forbidden"
        assert await refused(stack, gone_token, "Messages", {"conversationId": group}) == "Forbidden"

    run(scenario(), timeout=90)


def test_admin_delete_user_erases_messages(stack: DevStack) -> None:
    _, root_token = signed_in(stack, "root", "admin")
    victim, victim_token = signed_in(stack, "victim")
    friend, friend_token = signed_in(stack, "pal")

    async def scenario() -> None:
        for token in (root_token, victim_token, friend_token):
            await gql(stack, token, "Me")
        cid = (await gql(stack, victim_token, "CreateConversation", {"input": {
            "memberIds": [friend.sub]}}))["createConversation"]["id"]
        for i in range(3):
            await gql(stack, victim_token, "SendMessage", {"input": {
                "conversationId": cid, "body": f"erase me {i}", "clientMessageId": f"e2e-erase-{i:04d}"}})
        assert await refused(stack, friend_token, "AdminDeleteUser", {"userId": victim.sub}) == "Unauthorized"
        job = (await gql(stack, root_token, "AdminDeleteUser", {"userId": victim.sub,
                                                                "eraseMessages": True}))["adminDeleteUser"]
        assert (job["userId"], job["eraseMessages"]) == (victim.sub, True)
        def erased(got: list[dict[str, Any]]) -> bool:  # (departures first, then erasure)
            mine = [m for m in got if m["senderId"] == victim.sub and m["kind"] != "SYSTEM"]
            return len(mine) == 3 and all(m["body"] is None and m["erased"] for m in mine)

        items = await eventually(lambda: history(stack, friend_token, cid), erased, timeout=30)
        assert items[-1]["body"] == "Deleted user left"  # a DIRECT conversation: no handover

    run(scenario(), timeout=90)


def cli(stack: DevStack, home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLOUDCHAT_HOME": str(home)}
    env.pop("CLOUDCHAT_PASSWORD", None)
    return subprocess.run([CLI, "--outputs", str(stack.outputs_path), *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120, cwd=home.parent,
                          check=False)


def test_cloudchat_delete_account_asks_for_confirmation(stack: DevStack, tmp_path: Path) -> None:
    user = create_user(stack, "cliuser")
    home = tmp_path / "home"
    done = cli(stack, home, "login", user.username, "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    refused_run = cli(stack, home, "delete-account")  # no terminal, no --yes: nothing happens
    assert refused_run.returncode == 1 and "--yes" in refused_run.stderr
    idp(stack).admin_get_user(UserPoolId=stack.outputs["UserPoolId"], Username=user.username)
    done = cli(stack, home, "--json", "delete-account", "--yes", "--erase-messages")
    assert done.returncode == 0, done.stderr
    assert '"eraseMessages": true' in done.stdout
    with pytest.raises(Exception, match="UserNotFoundException"):
        idp(stack).admin_get_user(UserPoolId=stack.outputs["UserPoolId"], Username=user.username)
    after = cli(stack, home, "conversations")  # logged out: the tokens were forgotten
    assert after.returncode == 3, after.stderr
