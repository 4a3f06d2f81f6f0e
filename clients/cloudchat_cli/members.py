"""``cloudchat members CONVERSATION``: a conversation's members, a page at a time (``--all``
follows every page: a group may have 10,000)."""

from __future__ import annotations

from typing import Any

from cloudchat_cli.commands import MEMBERS, App, learn_names

__all__ = ["members"]


async def members(app: App, conversation_id: str, limit: int, everyone: bool,
                  next_token: str | None) -> int:
    items: list[dict[str, Any]] = []
    token = next_token
    async with app.api() as api:
        while True:
            page = (await api.execute(MEMBERS, {"conversationId": conversation_id,
                                                "limit": limit, "nextToken": token}))["members"]
            items += page["items"]
            token = page["nextToken"]
            if token is None or not everyone:
                break
        await learn_names(app, api, [m["userId"] for m in items])
    if app.render.as_json:
        app.render.json({"items": items, "nextToken": token})
        return 0
    lines = [f"{app.render.names.get(m['userId'], m['userId'])}  {m['userId']}  {m['role'].lower()}"
             for m in items]
    more = [f"more: --next-token {token}"] if token else []
    app.render.result({"items": items, "nextToken": token},
                      "\n".join([f"{len(items)} member(s)", *lines, *more]))
    return 0
