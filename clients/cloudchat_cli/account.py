"""``cloudchat delete-account``: deletes the signed-in user's account, after a confirmation
(``--yes``, or typing the username at a terminal prompt), then forgets the stored tokens."""

from __future__ import annotations

import sys
from collections.abc import Callable

from cloudchat_cli.commands import App
from cloudchat_cli.errors import CliError

DELETE_ACCOUNT = "DeleteAccount"


def confirmed(username: str, yes: bool, ask: Callable[[str], str] = input) -> bool:
    """``--yes``, or the username typed back at a terminal; never silently in a script."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise CliError("deleting an account cannot be undone: pass --yes to confirm")
    answer = ask(f"This deletes {username}'s account for good. Type the username to confirm: ")
    return answer.strip() == username


async def delete_account(app: App, erase_messages: bool, yes: bool) -> int:
    session = app.auth.current()
    if not confirmed(session.username, yes):
        raise CliError("not confirmed: nothing was deleted")
    async with app.api() as api:
        job = (await api.execute(DELETE_ACCOUNT, {"eraseMessages": erase_messages}))["deleteAccount"]
    app.auth.logout()
    what = "your messages are being erased" if job["eraseMessages"] else \
        "your messages stay, shown as from \"Deleted user\""
    app.render.result(dict(job), f"account deleted ({what}); you are logged out")
    return 0
