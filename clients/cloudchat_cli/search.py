"""``cloudchat search``: encrypted search, in one conversation or across yours.

Pages through ``searchMessages`` (newest first) until ``--limit`` hits or the end: a page may
be short (candidates the server checked and dropped) while more follow. The matched parts of
each body are highlighted; ``--json`` prints the hits with their ``matches`` spans."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from cloudchat_cli.commands import PAGE_MAX, App, learn_names
from cloudchat_cli.errors import CliError
from cloudchat_cli.render import Renderer

SEARCH_MESSAGES = "SearchMessages"
MAX_PAGES = 20  # stop paging after this many (short) pages


async def search(app: App, query: str, conversation_id: str | None, limit: int) -> int:
    if limit < 1:
        raise CliError("--limit must be at least 1")
    hits: list[dict[str, Any]] = []
    next_token: str | None = None
    async with app.api() as api:
        for _ in range(MAX_PAGES):
            page = (await api.execute(SEARCH_MESSAGES, {
                "query": query, "conversationId": conversation_id,
                "limit": min(PAGE_MAX, limit - len(hits)), "nextToken": next_token,
            }))["searchMessages"]
            hits += page["items"]
            next_token = page.get("nextToken")
            if not next_token or len(hits) >= limit:
                break
        await learn_names(app, api, [m.get("senderId") for m in hits])
    render_hits(app.render, hits, next_token, query)
    return 0


def highlighted(message: Mapping[str, Any]) -> Text:
    """The body with its matched spans (code points, as Python indexes) highlighted."""
    text = Text(message.get("body") or "")
    for span in message.get("matches") or ():
        text.stylize("bold reverse", span["start"], span["end"])
    return text


def render_hits(render: Renderer, hits: Sequence[Mapping[str, Any]], next_token: str | None,
                query: str) -> None:
    if render.as_json:
        render.json({"items": list(hits), "nextToken": next_token})
        return
    table = Table(title=f"{len(hits)} message(s) matching {query!r}", title_justify="left")
    for column in ("conversation", "seq", "sender", "message", "id"):
        table.add_column(column, overflow="fold", no_wrap=column != "message")
    for m in hits:
        table.add_row(m["conversationId"], str(m["seq"]), render._who(m.get("senderId")),
                      highlighted(m), m["id"])
    render.console.print(table)
    if next_token:
        render.info("(more: raise --limit to see more)")
