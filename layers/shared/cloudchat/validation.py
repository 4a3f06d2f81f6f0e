"""Input validation with clear messages. Everything here raises BadRequest and nothing else."""

from __future__ import annotations

import re
import unicodedata

from cloudchat.errors import BadRequest

_CLIENT_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_SHORT_NAME = re.compile(r"^:[a-z0-9_+-]{1,32}:$")
_ZWJ, _VS16, _KEYCAP = "\u200d", "\ufe0f", "\u20e3"
# Emoji (Emoji=Yes in emoji-data.txt) that are not symbols (So) at or above U+2000: the
# copyright and registered signs, !! and !?, information source, left-right arrow, the
# medium squares, the curving arrows, wavy dash and part alternation mark.
_OTHER_EMOJI = frozenset("\u00a9\u00ae\u203c\u2049\u2139\u2194\u25fb\u25fc\u25fd\u25fe"
                         "\u2934\u2935\u3030\u303d")
MAX_TITLE_CHARS = 200
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def limit(value: int | None, default: int = DEFAULT_LIMIT) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    return value


def body(value: object, max_chars: int) -> str:
    if not isinstance(value, str):
        raise BadRequest("body must be a string")
    if not value.strip():
        raise BadRequest("body must not be empty")
    if len(value) > max_chars:
        raise BadRequest(f"body must be at most {max_chars} characters (got {len(value)})")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t\r" for c in value):
        raise BadRequest("body must not contain control characters")
    return value


def client_message_id(value: object) -> str:
    if not isinstance(value, str) or not _CLIENT_MESSAGE_ID.fullmatch(value):
        raise BadRequest("clientMessageId must be 8-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    return value


def user_id(value: object) -> str:
    if not isinstance(value, str) or not _USER_ID.fullmatch(value):
        raise BadRequest("user ids must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'")
    return value


def user_ids(value: object, field: str, most: int = MAX_LIMIT) -> list[str]:
    """1 to ``most`` user ids, each valid, duplicates dropped (first occurrence kept)."""
    if not isinstance(value, list) or not 1 <= len(value) <= most:
        raise BadRequest(f"{field} must name 1 to {most} users")
    return list(dict.fromkeys(user_id(u) for u in value))


def title(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("title must be a string")
    cleaned = value.strip()
    if not cleaned:
        return None
    if len(cleaned) > MAX_TITLE_CHARS:
        raise BadRequest(f"title must be at most {MAX_TITLE_CHARS} characters")
    if any(unicodedata.category(c) == "Cc" for c in cleaned):
        raise BadRequest("title must not contain control characters")
    return cleaned


def seq(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{what} must be a non-negative integer")
    return value


def _is_modifier(c: str) -> bool:
    cp = ord(c)
    return (0x1F3FB <= cp <= 0x1F3FF) or (0xE0020 <= cp <= 0xE007F) or c in (_VS16, _KEYCAP)


def _is_pictograph(c: str) -> bool:
    cp = ord(c)
    category = unicodedata.category(c)
    if category == "Cn":  # unassigned in this Python's Unicode data: newer emoji blocks only
        return 0x1F000 <= cp <= 0x1FAFF or 0x1FC00 <= cp <= 0x1FFFD  # Extended_Pictographic
    return (category == "So" and cp >= 0x2000) or 0x1F1E6 <= cp <= 0x1F1FF or c in _OTHER_EMOJI


def emoji(value: object) -> str:
    """One emoji grapheme (ZWJ sequences, skin tones, flags, keycaps included) or a
    ``:short_name:`` of at most 32 characters."""
    bad = BadRequest("emoji must be a single emoji or a :short_name: (a-z, 0-9, _ + -, at most 32)")
    if not isinstance(value, str) or not value or len(value) > 40:
        raise bad
    if _SHORT_NAME.fullmatch(value):
        return value
    if value[0] in "#*0123456789":  # keycap: 1️⃣
        if value in {value[0] + _VS16 + _KEYCAP, value[0] + _KEYCAP}:
            return value
        raise bad
    clusters, flags, prev = 0, 0, ""
    for c in value:
        if _is_modifier(c):
            if not prev:
                raise bad
        elif c == _ZWJ:
            if not prev or prev == _ZWJ:
                raise bad
        elif _is_pictograph(c):
            if 0x1F1E6 <= ord(c) <= 0x1F1FF:  # regional indicators pair into one flag
                flags += 1
                if flags % 2 == 1:
                    clusters += 1
            elif prev != _ZWJ:
                clusters += 1
        else:
            raise bad
        prev = c
    if clusters != 1 or prev == _ZWJ or flags % 2 == 1:
        raise bad
    return value


def positive_seq(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"{what} must be a positive integer")
    return value


def display_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 64:
        raise BadRequest("displayName must be 1 to 64 characters")
    cleaned = " ".join(value.split())
    if any(unicodedata.category(c) == "Cc" for c in cleaned):
        raise BadRequest("displayName must not contain control characters")
    return cleaned


_AVATAR = re.compile(r"^avatars/[A-Za-z0-9_-]{1,128}/[A-Za-z0-9._-]{1,200}$")


def avatar_key(value: object, user_id: str) -> str:
    """An uploaded object under the caller's own avatars/<userId>/ prefix."""
    if not isinstance(value, str) or not _AVATAR.fullmatch(value) or ".." in value:
        raise BadRequest("avatarKey must be an object key under avatars/<your user id>/")
    if value.split("/")[1] != user_id:
        raise BadRequest("avatarKey must be under your own avatars/ prefix")
    return value


_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


def content_type(value: object) -> str:
    if not isinstance(value, str) or not _CONTENT_TYPE.fullmatch(value):
        raise BadRequest("contentType must be a MIME type like image/png")
    return value


def file_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise BadRequest("fileName must be 1 to 255 characters")
    if any(unicodedata.category(c) == "Cc" for c in value) or "/" in value or "\\" in value:
        raise BadRequest("fileName must not contain control characters or slashes")
    return value.strip()
