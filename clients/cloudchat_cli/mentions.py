"""``cloudchat send --mention USER`` and ``@name`` in the text: who is mentioned, resolved
against the conversation's members (the API refuses anyone else)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cloudchat_cli.errors import CliError

# "@" then a name: letters, digits, '.', '_' or '-' (not after a word character: e-mail
# addresses are not mentions).
_AT_NAME = re.compile(r"(?<![\w@])@([\w.-]+)")


def _key(name: str) -> str:
    return re.sub(r"\s+", "", name).casefold()


def _names(member: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """The handles a member answers to, case-folded and without spaces: first their id,
    username, display name and username before "@"; failing those, the display name's
    first word."""
    strong = {member["id"]}
    username, display = member.get("username") or "", member.get("displayName") or ""
    strong |= {_key(username), _key(display), _key(username.split("@")[0])}
    weak = {_key(display.split()[0])} if display.strip() else set()
    return strong - {""}, weak - {""}


def resolve(text: str, asked: Sequence[str], members: Iterable[Mapping[str, Any]]) -> list[str]:
    """The user ids to mention: each ``--mention`` (an id, username or display name of a
    member: an error if it names no member or several), then each ``@name`` in ``text`` that
    names exactly one member (other ``@words`` stay plain text). Duplicates collapse."""
    people = list(members)
    out: list[str] = []

    def matches(handle: str) -> list[str]:
        key = handle if any(handle == p["id"] for p in people) else _key(handle)
        for tier in (0, 1):
            found = sorted({p["id"] for p in people if key in _names(p)[tier]})
            if found:
                return found
        return []

    for handle in asked:
        found = matches(handle)
        if not found:
            raise CliError(f"--mention {handle}: no member of this conversation has that name or id")
        if len(found) > 1:
            raise CliError(f"--mention {handle}: several members match ({', '.join(found)}); use an id")
        out.append(found[0])
    for handle in _AT_NAME.findall(text):
        found = matches(handle.rstrip(".-"))
        if len(found) == 1:
            out.append(found[0])
    return list(dict.fromkeys(out))
