"""Output: rich tables for people, JSON for scripts (one document, or JSON lines for ``tail``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cloudchat_client import Delivery

__all__ = ["Renderer"]


def _short(value: Any, width: int = 60) -> str:
    text = "" if value is None else " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _time(value: Any) -> str:
    text = str(value or "")
    return text[11:19] if len(text) >= 19 else text


def _reactions(message: Mapping[str, Any]) -> str:
    return " ".join(f"{r['emoji']} {r['count']}" for r in message.get("reactions") or ())


class Renderer:
    def __init__(self, *, as_json: bool, out: TextIO | None = None, err: TextIO | None = None,
                 me: str | None = None) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout
        wide = None if _isatty(self.out) else 200  # pipes and files: do not fold at 80 columns
        self.console = Console(file=self.out, highlight=False, soft_wrap=False, width=wide)
        self.err = Console(file=err or sys.stderr, highlight=False, stderr=err is None, soft_wrap=True)
        self.me = me
        #: user id -> display name, as learned (commands.learn_names); tables show names
        self.names: dict[str, str] = {}

    # -- plumbing ----------------------------------------------------------------------------

    def json(self, document: Any) -> None:
        self.out.write(json.dumps(document, ensure_ascii=False) + "\n")
        self.out.flush()

    def info(self, text: str) -> None:
        """A note for people (stderr, so stdout stays parseable)."""
        self.err.print(Text(text))

    def error(self, text: str) -> None:
        self.err.print(Text(f"cloudchat: error: {text}", style="bold red"))

    def _who(self, user_id: Any) -> str:
        if self.me and user_id == self.me:
            return "you"
        text = str(user_id or "")
        if text in self.names:
            return self.names[text]
        return text[:8] if self.as_json is False and len(text) > 12 else text

    # -- documents ---------------------------------------------------------------------------

    def result(self, document: Mapping[str, Any], text: str) -> None:
        if self.as_json:
            self.json(document)
        else:
            self.console.print(Text(text))

    def conversations(self, items: Sequence[Mapping[str, Any]], next_token: str | None) -> None:
        if self.as_json:
            self.json({"items": list(items), "nextToken": next_token})
            return
        table = Table(title=f"{len(items)} conversation(s)", title_justify="left")
        for column in ("id", "kind", "title", "members", "last seq", "unread", "last message"):
            table.add_column(column, overflow="fold", no_wrap=column in {"id", "kind"})
        for c in items:
            last = c.get("lastMessage") or {}
            preview = f"{self._who(last.get('senderId'))}: {_short(last.get('body'), 40)}" if last else ""
            table.add_row(c["id"], c["kind"], c.get("title") or "", str(c.get("memberCount", "")),
                          str(c.get("lastSeq", "")), _unread(c), preview)
        self.console.print(table)
        if next_token:
            self.console.print(Text("(more: --limit to see more)"))

    def messages(self, items: Iterable[Mapping[str, Any]], title: str) -> None:
        items = list(items)
        if self.as_json:
            self.json({"items": items})
            return
        table = Table(title=title, title_justify="left")
        for column in ("seq", "time", "sender", "message", "id"):
            table.add_column(column, overflow="fold", no_wrap=column in {"seq", "time", "sender", "id"})
        for m in items:
            table.add_row(str(m["seq"]), _time(m.get("createdAt")), self._who(m.get("senderId")),
                          self._body(m), m["id"])
        self.console.print(table)

    def _body(self, m: Mapping[str, Any]) -> str:
        body = "(deleted)" if m.get("deletedAt") else (m.get("body") or f"({m.get('kind', '').lower()})")
        if m.get("senderBlocked") and not m.get("deletedAt"):
            return "(message from a blocked user)"
        extras = []
        if m.get("parentId"):
            extras.append(f"↳ reply to {m['parentId']}")
        if m.get("replyCount"):
            extras.append(f"{m['replyCount']} repl{'y' if m['replyCount'] == 1 else 'ies'}")
        if m.get("editedAt"):
            extras.append("edited")
        reactions = _reactions(m)
        if reactions:
            extras.append(reactions)
        if m.get("mentions"):
            extras.append("mentions " + ", ".join(self._who(u) for u in m["mentions"]))
        return body + (f"  [{'; '.join(extras)}]" if extras else "")

    def message(self, message: Mapping[str, Any], verb: str) -> None:
        if self.as_json:
            self.json(dict(message))
            return
        self.console.print(Text(f"{verb} #{message['seq']} ({message['id']}): {self._body(message)}"))

    def delivery(self, delivery: Delivery) -> None:
        """One line per message for ``tail``."""
        m = delivery.message
        if self.as_json:
            self.json({"type": "message" if delivery.kind == "new" else "update",
                       "source": delivery.source, "message": dict(m)})
            return
        mark = "" if delivery.kind == "new" else " (updated)"
        self.console.print(Text(f"#{m['seq']} {_time(m.get('createdAt'))} {self._who(m.get('senderId'))}:"
                                f" {self._body(m)}{mark}"))

    def report(self, rows: Sequence[tuple[str, Any]], document: Mapping[str, Any], title: str) -> None:
        if self.as_json:
            self.json(document)
            return
        table = Table(title=title, title_justify="left", show_header=False)
        table.add_column("what")
        table.add_column("value", justify="right")
        for name, value in rows:
            table.add_row(name, str(value))
        self.console.print(table)


def _unread(c: Mapping[str, Any]) -> str:
    """The unread count, and the unread mentions of you among them: "5 (@2)"."""
    mentions = c.get("unreadMentionCount") or 0
    return f"{c.get('unreadCount', '')}" + (f" (@{mentions})" if mentions else "")
