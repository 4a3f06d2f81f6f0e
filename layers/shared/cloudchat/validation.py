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


MAX_MENTIONS = 50


def mentions(value: object) -> tuple[str, ...]:
    """SendMessageInput.mentions: absent or a list of user ids; duplicates collapse (first
    occurrence kept), then at most ``MAX_MENTIONS`` distinct users."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadRequest("mentions must be a list of user ids")
    distinct = tuple(dict.fromkeys(user_id(u) for u in value))
    if len(distinct) > MAX_MENTIONS:
        raise BadRequest(f"a message can mention at most {MAX_MENTIONS} members "
                         f"(got {len(distinct)})")
    return distinct


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


def emoji(value: object) -> str:
    """One Unicode RGI emoji (the fully-qualified sequences of emoji-test.txt: ZWJ sequences,
    skin tones, flags, keycaps) or a ``:short_name:`` of at most 32 characters. A minimally
    qualified or unqualified form of an RGI emoji ("\u2764" for "\u2764\ufe0f") is answered as
    the fully-qualified one, so reactions that look the same count as one."""
    bad = BadRequest("emoji must be a single Unicode (RGI) emoji or a :short_name: "
                     "(a-z, 0-9, _ + -, at most 32)")
    if not isinstance(value, str) or not value or len(value) > 40:
        raise bad
    if _SHORT_NAME.fullmatch(value):
        return value
    from cloudchat._rgi_emoji import QUALIFIED, RGI  # (imported on first use: ~1 ms)

    if value in RGI:
        return value
    canonical = QUALIFIED.get(value)
    if canonical is None:
        raise bad
    return canonical


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
