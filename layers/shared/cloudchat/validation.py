"""Input validation with clear messages. Everything here raises BadRequest and nothing else."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from urllib.parse import quote

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
MAX_REASON_CHARS = 500
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_SEQ = (1 << 40) - 1  # a message id carries its seq in 40 bits (cloudchat.ids)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # AWSDateTime arguments are kept in this range
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
# Shown as nothing, or as blank space, though not Cf: Hangul fillers, the combining grapheme
# joiner, the Mongolian vowel separator (Cf since Unicode 6.3, listed for older data), the
# braille blank and the Khmer inherent vowels.
_INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u180e\u2800\u3164\uffa0")
_EMOJI_JOINER_NEIGHBOURS = ("So", "Mn", "Sk")  # ZWJ joins emoji (with VS16 / skin tones)


def _readable(value: str, what: str, *, newlines: bool = False) -> str:
    """Refuses what makes text that a human reads spoof or hide: control characters (Cc;
    newline and tab only where ``newlines``), format characters (Cf: bidi overrides,
    embeddings and isolates, LRM/RLM/ALM, zero-width space and joiners, word joiner, BOM,
    soft hyphen, tag characters...), line and paragraph separators, unpaired surrogates and
    other invisible fillers. A zero-width joiner is allowed only between two emoji parts, as
    in an emoji ZWJ sequence (a family, a rainbow flag)."""
    for i, c in enumerate(value):
        category = unicodedata.category(c)
        if category == "Cc":
            if newlines and c in "\n\t":
                continue
            raise BadRequest(f"{what} must not contain control characters")
        if c == "\u200d" and 0 < i < len(value) - 1 and all(
                unicodedata.category(n) in _EMOJI_JOINER_NEIGHBOURS
                for n in (value[i - 1], value[i + 1])):
            continue
        if category in ("Cf", "Zl", "Zp", "Cs") or c in _INVISIBLE:
            raise BadRequest(f"{what} must not contain invisible or text-direction characters "
                             f"(found U+{ord(c):04X})")
    return value


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
    if any("\ud800" <= c <= "\udfff" for c in value):
        raise BadRequest("body must be valid Unicode (an unpaired surrogate is not)")
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
    return _readable(cleaned, "title")


def reason(value: object) -> str:
    """A report's reason, read by moderators: 1 to 500 characters, lines allowed, nothing
    hidden (no NUL, no escape sequences, no bidi controls)."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_REASON_CHARS:
        raise BadRequest(f"reason must be 1 to {MAX_REASON_CHARS} characters")
    return _readable(value.strip(), "reason", newlines=True)


def date_time(value: object, what: str) -> datetime:
    """An AWSDateTime with a time zone, in UTC, between 1970 and 9999 (a valid date outside
    that range, or one that leaves it when moved to UTC, is refused, not a crash)."""
    if not isinstance(value, str) or len(value) > 64:
        raise BadRequest(f"{what} must be an AWSDateTime like 2030-01-01T00:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{what} must be an AWSDateTime like 2030-01-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"{what} needs a time zone (e.g. Z)")
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise BadRequest(f"{what} must be between {EARLIEST.year} and {LATEST.year}")
    return utc


def seq(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise BadRequest(f"{what} must be an integer from 0 to {MAX_SEQ}")
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
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SEQ:
        raise BadRequest(f"{what} must be an integer from 1 to {MAX_SEQ}")
    return value


def display_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 64:
        raise BadRequest("displayName must be 1 to 64 characters")
    cleaned = " ".join(value.split())
    return _readable(cleaned, "displayName")


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
    if "/" in value or "\\" in value:
        raise BadRequest("fileName must not contain slashes")
    return _readable(value.strip(), "fileName")


def content_disposition(disposition: str, name: str) -> str:
    """A Content-Disposition header value for a file name (RFC 6266): an ASCII fallback in
    ``filename`` (quotes, backslashes, controls and non-ASCII replaced) and the exact name,
    percent-encoded UTF-8, in ``filename*``. Nothing from the name can end the header, add
    a parameter or reorder what is shown."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in ascii_name)
    fallback = fallback.strip() or "file"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
