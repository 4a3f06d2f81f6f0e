"""``cloudchat delete-conversation``: deletes a conversation for every member (a GROUP's
owners; either member of a DIRECT). Its data key is destroyed at once, so it cannot be undone:
the command asks for ``--yes`` (or, at a terminal, the conversation id typed back)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from cloudchat_cli.commands import App
from cloudchat_cli.errors import CliError

DELETE_CONVERSATION = "DeleteConversation"  # operations.graphql


def confirmed(conversation_id: str, yes: bool, *, interactive: bool | None = None,
              ask: Callable[[str], str] = input) -> bool:
    """``--yes``, or at a terminal the conversation id typed back; never without either."""
    if yes:
        return True
    if not (sys.stdin.isatty() if interactive is None else interactive):
        raise CliError("deleting a conversation cannot be undone: pass --yes to confirm")
    typed = ask(f"Delete conversation {conversation_id} for every member? Its messages and "
                "files become unreadable at once; this cannot be undone.\n"
                "Type the conversation id to confirm: ")
    return typed.strip() == conversation_id


async def delete_conversation(app: App, conversation_id: str, yes: bool) -> int:
    if not confirmed(conversation_id, yes):
        app.render.info("not deleted")
        return 1
    async with app.api() as api:
        done = (await api.execute(DELETE_CONVERSATION,
                                  {"conversationId": conversation_id}))["deleteConversation"]
    app.render.result(done, f"deleted {done['kind'].lower()} conversation {done['conversationId']} "
                            f"({done['memberCount']} member(s)) at {done['deletedAt']}")
    return 0
