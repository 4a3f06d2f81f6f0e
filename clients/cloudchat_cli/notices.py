"""``cloudchat notifications``: show or change how you hear of messages while offline (e-mail
notices, mobile push); ``cloudchat mails``: the e-mail the local stack's SES accepted (the
local stack only: AWS delivers real mail)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from cloudchat_cli.commands import App
from cloudchat_cli.errors import CliError

__all__ = ["mails", "notifications", "on_off"]

UPDATE = "UpdateNotificationSettings"
ME = "Me"


def on_off(value: str) -> bool:
    """``on``/``off`` (also true/false, yes/no) as a bool, for argparse."""
    lowered = value.strip().lower()
    if lowered in ("on", "true", "yes"):
        return True
    if lowered in ("off", "false", "no"):
        return False
    raise ValueError(value)


def _describe(s: Mapping[str, Any]) -> str:
    if not s.get("emailAvailable"):
        email = "off (this deployment sends no e-mail notices)"
    elif s.get("email"):
        quoted = "with" if s.get("emailIncludesText") else "without"
        email = f"on, to {s.get('emailAddress')} ({quoted} the message text)"
    else:
        email = "off"
    return f"e-mail notices: {email}\npush notices:   {'on' if s.get('push') else 'off'}"


async def notifications(app: App, email: bool | None, push: bool | None) -> int:
    """Shows your settings; with ``--email``/``--push``, changes them first."""
    async with app.api() as api:
        if email is None and push is None:
            settings = (await api.execute(ME))["me"]["notificationSettings"]
        else:
            variables = {k: v for k, v in (("email", email), ("push", push)) if v is not None}
            settings = (await api.execute(UPDATE, variables))["updateNotificationSettings"]
    app.render.result(settings, _describe(settings))
    return 0


def _mails_url(graphql_url: str, to: str | None) -> str:
    base = graphql_url.rsplit("/graphql", 1)[0]
    return f"{base}/_emulator/mails" + (f"?{urllib.parse.urlencode({'to': to})}" if to else "")


def mails(app: App, to: str | None) -> int:
    """The mails the local stack's SES accepted, oldest first (``--to``: to that address)."""
    url = _mails_url(app.endpoint.graphql_url, to)
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - the local stack
            found = list(json.load(resp)["mails"])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise CliError("this stack lists no mails: only the local stack (make dev) does; "
                           "on AWS notices go to real mailboxes") from exc
        raise CliError(f"could not read the mails: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise CliError(f"the local stack is not reachable at {url}: {exc}") from exc
    if app.render.as_json:
        app.render.json(found)
        return 0
    if not found:
        app.render.info("no mails" + (f" to {to}" if to else ""))
    for mail in found:
        app.render.result(mail, f"--- to {', '.join(mail['to'])} from {mail['from']}\n"
                                f"Subject: {mail['subject']}\n\n{mail['body']}\n")
    return 0
