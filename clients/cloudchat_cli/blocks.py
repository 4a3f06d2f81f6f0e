"""``cloudchat block USER``, ``cloudchat unblock USER``, ``cloudchat blocked``: the caller's
blocks. USER is a user id (a Cognito sub) or a name the directory finds exactly once."""

from __future__ import annotations

from typing import Any

from cloudchat_cli.commands import App, learn_names
from cloudchat_cli.errors import CliError
from cloudchat_client._transport import Api

__all__ = ["block", "blocked", "unblock"]

BLOCK_USER = "BlockUser"
UNBLOCK_USER = "UnblockUser"
BLOCKED_USERS = "BlockedUsers"
USERS = "Users"


async def resolve_user(api: Api, who: str) -> str:
    """A user id as given, else the one user whose display name (or email, with '@') is
    ``who`` (case-insensitive) in the directory."""
    page = (await api.execute(USERS, {"query": who, "limit": 20}))["users"]
    exact = [u["id"] for u in page["items"]
             if who.casefold() in {str(u.get("displayName") or "").casefold(),
                                   str(u.get("email") or "").casefold()}]
    if len(exact) == 1:
        return str(exact[0])
    if any(u["id"] == who for u in page["items"]) or (not exact and "-" in who):
        return who  # an id (the directory need not list it: blocking never tells)
    if not exact:
        raise CliError(f"no user named {who!r}: give their user id")
    raise CliError(f"{len(exact)} users are named {who!r}: give the user id")


async def block(app: App, who: str) -> int:
    async with app.api() as api:
        user_id = await resolve_user(api, who)
        done: dict[str, Any] = (await api.execute(BLOCK_USER, {"userId": user_id}))["blockUser"]
        await learn_names(app, api, [user_id])
    app.render.result(done, f"blocked {app.render.names.get(user_id, user_id)} "
                            f"(since {done['blockedAt']})")
    return 0


async def unblock(app: App, who: str) -> int:
    async with app.api() as api:
        user_id = await resolve_user(api, who)
        done: dict[str, Any] = (await api.execute(UNBLOCK_USER, {"userId": user_id}))["unblockUser"]
        await learn_names(app, api, [user_id])
    name = app.render.names.get(user_id, user_id)
    app.render.result(done, f"unblocked {name}" if done["wasBlocked"] else f"{name} was not blocked")
    return 0


async def blocked(app: App) -> int:
    async with app.api() as api:
        items = (await api.execute(BLOCKED_USERS))["blockedUsers"]
        await learn_names(app, api, [b["userId"] for b in items])
    if app.render.as_json:
        app.render.json({"items": items})
        return 0
    lines = [f"{app.render.names.get(b['userId'], b['userId'])}  {b['userId']}  since {b['blockedAt']}"
             for b in items]
    app.render.result({"items": items}, "\n".join([f"{len(items)} blocked user(s)", *lines]))
    return 0
