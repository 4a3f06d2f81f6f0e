"""Property-based tests (hypothesis) of the pure building blocks: the crypto envelope,
nextToken sealing, emoji / body / clientMessageId validation, message ids that carry their
seq, and the resolvers' refusal of text that is not Unicode.

Deterministic and bounded: every test runs a fixed number of derandomized examples with no
example database, so CI sees the same cases on every run.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from ulid import ULID

from cloudchat import ids, validation
from cloudchat._rgi_emoji import QUALIFIED
from cloudchat.crypto import NONCE_BYTES, Sealed, open_sealed, seal
from cloudchat.errors import BadRequest, IntegrityError
from cloudchat.tokens import TokenCodec

EVENTS = Path(__file__).resolve().parents[2] / "events"


def bounded(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# ------------------------------------------------------------------------------- strategies
keys = st.binary(min_size=32, max_size=32)
ulids = st.binary(min_size=16, max_size=16).map(lambda b: str(ULID.from_bytes(b)))
key_versions = st.integers(min_value=1, max_value=2**31 - 1)
body_versions = st.integers(min_value=1, max_value=10_000)
texts = st.text(max_size=300) | st.text(st.characters(codec="utf-8"), max_size=30)


# ------------------------------------------------------------------------------- crypto
@pytest.mark.slow
@bounded(200)
@given(key=keys, text=texts, cid=ulids, mid=ulids, kv=key_versions, v=body_versions)
def test_seal_then_open_gives_back_any_text(key: bytes, text: str, cid: str, mid: str,
                                            kv: int, v: int) -> None:
    sealed = seal(key, text, conversation_id=cid, message_id=mid, key_version=kv, version=v)
    assert (sealed.key_version, sealed.version, len(sealed.nonce)) == (kv, v, NONCE_BYTES)
    assert len(sealed.ciphertext) == len(text.encode()) + 16  # GCM: same length + tag
    assert open_sealed(key, sealed, conversation_id=cid, message_id=mid) == text


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.mark.slow
@bounded(200)
@given(key=keys, text=texts, cid=ulids, mid=ulids, kv=key_versions, v=body_versions,
       data=st.data())
def test_any_single_bit_flip_fails_the_integrity_check(key: bytes, text: str, cid: str, mid: str,
                                                      kv: int, v: int, data: st.DataObject) -> None:
    sealed = seal(key, text, conversation_id=cid, message_id=mid, key_version=kv, version=v)
    part = data.draw(st.sampled_from(["nonce", "ciphertext"]))
    raw: bytes = getattr(sealed, part)
    bit = data.draw(st.integers(min_value=0, max_value=len(raw) * 8 - 1))
    tampered = Sealed(**{**sealed.__dict__, part: _flip(raw, bit)})
    with pytest.raises(IntegrityError, match="integrity"):
        open_sealed(key, tampered, conversation_id=cid, message_id=mid)


@bounded(100)
@given(key=keys, text=texts, cid=ulids, mid=ulids, kv=key_versions, data=st.data())
def test_truncated_or_extended_ciphertext_fails(key: bytes, text: str, cid: str, mid: str, kv: int,
                                               data: st.DataObject) -> None:
    sealed = seal(key, text, conversation_id=cid, message_id=mid, key_version=kv)
    ct = sealed.ciphertext
    cut = data.draw(st.integers(min_value=0, max_value=len(ct) - 1))
    for changed in (ct[:cut], ct + data.draw(st.binary(min_size=1, max_size=8))):
        with pytest.raises(IntegrityError):
            open_sealed(key, Sealed(sealed.nonce, changed, kv), conversation_id=cid, message_id=mid)


@bounded(200)
@given(key=keys, text=texts, cid=ulids, mid=ulids, kv=key_versions, v=body_versions,
       other_id=ulids, other_int=st.integers(min_value=1, max_value=2**31 - 1),
       what=st.sampled_from(["conversation", "message", "key version", "body version", "key"]),
       other_key=keys)
def test_a_ciphertext_opens_only_in_its_own_place(key: bytes, text: str, cid: str, mid: str, kv: int,
                                                 v: int, other_id: str, other_int: int, what: str,
                                                 other_key: bytes) -> None:
    """Moved to another conversation or message, or presented as another key version or
    body version (an old edit), or opened with another key: IntegrityError."""
    sealed = seal(key, text, conversation_id=cid, message_id=mid, key_version=kv, version=v)
    where = {"conversation_id": cid, "message_id": mid}
    use_key = key
    if what == "conversation":
        assume(other_id != cid)
        where["conversation_id"] = other_id
    elif what == "message":
        assume(other_id != mid)
        where["message_id"] = other_id
    elif what == "key version":
        assume(other_int != kv)
        sealed = Sealed(sealed.nonce, sealed.ciphertext, other_int, v)
    elif what == "body version":
        assume(other_int != v)
        sealed = Sealed(sealed.nonce, sealed.ciphertext, kv, other_int)
    else:
        assume(other_key != key)
        use_key = other_key
    with pytest.raises(IntegrityError):
        open_sealed(use_key, sealed, **where)


# ------------------------------------------------------------------------------- nextToken
codec = TokenCodec(b"property-test-token-secret-0123456789abcdef")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
# Callers are Cognito subs, operations are fixed names: neither holds the AAD separator.
user_ids = st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=36)
operations = st.sampled_from(["messages", "conversations", "users", "thread", "reportedMessages"])
scopes = st.text(max_size=40)


@pytest.mark.slow
@bounded(200)
@given(payload=payloads, user=user_ids, op=operations, scope=scopes)
def test_token_round_trip(payload: dict[str, Any], user: str, op: str, scope: str) -> None:
    token = codec.seal(payload, user_id=user, operation=op, scope=scope)
    assert set(token) <= set(string.ascii_letters + string.digits + "-_")  # URL-safe, unpadded
    assert codec.open(token, user_id=user, operation=op, scope=scope) == payload


B64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def _mutations(token: str) -> st.SearchStrategy[str]:
    """Every way of changing the string: replace, insert or delete one character (any
    character), truncate, append; and the changes base64 decoding forgives: padding, a
    character b64decode skips (with the padding fixed up), other values of the last
    character's spare bits."""
    n = len(token)
    chars = (st.sampled_from(list(string.ascii_letters + string.digits + "-_+/=. \n\t"))
             | st.characters())
    replace = st.tuples(st.integers(0, n - 1), chars).filter(lambda t: token[t[0]] != t[1]).map(
        lambda t: token[:t[0]] + t[1] + token[t[0] + 1:])
    insert = st.tuples(st.integers(0, n), chars).map(lambda t: token[:t[0]] + t[1] + token[t[0]:])
    delete = st.integers(0, n - 1).map(lambda i: token[:i] + token[i + 1:])
    truncate = st.integers(0, n - 1).map(lambda i: token[:i])
    append = st.text(min_size=1, max_size=4).map(lambda s: token + s)
    padded = st.integers(1, 3).map(lambda k: token + "=" * k)
    skipped = st.tuples(st.integers(0, n), st.sampled_from(list(".!~*$ \n\t\r")), st.integers(0, 3)).map(
        lambda t: token[:t[0]] + t[1] + token[t[0]:] + "=" * t[2])
    spare = n * 6 - (n * 6 // 8) * 8  # bits of the last character that carry no data
    last = B64URL.index(token[-1])
    spare_bits = (st.integers(1, 2**spare - 1).map(lambda x: token[:-1] + B64URL[last ^ x])
                  if spare else st.nothing())
    return st.one_of(replace, insert, delete, truncate, append, padded, skipped, spare_bits)


@pytest.mark.slow
@bounded(400)
@given(payload=payloads, user=user_ids, op=operations, scope=scopes, data=st.data())
def test_any_change_to_a_token_is_a_bad_request(payload: dict[str, Any], user: str, op: str,
                                                scope: str, data: st.DataObject) -> None:
    token = codec.seal(payload, user_id=user, operation=op, scope=scope)
    changed = data.draw(_mutations(token))
    assert changed != token
    with pytest.raises(BadRequest, match="nextToken"):
        codec.open(changed, user_id=user, operation=op, scope=scope)


@pytest.mark.slow
@bounded(200)
@given(payload=payloads, user=user_ids, op=operations, scope=scopes, other_user=user_ids,
       other_op=operations, other_scope=scopes,
       which=st.sets(st.sampled_from(["user", "operation", "scope"]), min_size=1))
def test_a_token_is_bound_to_its_user_operation_and_scope(
        payload: dict[str, Any], user: str, op: str, scope: str, other_user: str, other_op: str,
        other_scope: str, which: set[str]) -> None:
    token = codec.seal(payload, user_id=user, operation=op, scope=scope)
    used = (other_user if "user" in which else user, other_op if "operation" in which else op,
            other_scope if "scope" in which else scope)
    assume(used != (user, op, scope))
    with pytest.raises(BadRequest, match="nextToken"):
        codec.open(token, user_id=used[0], operation=used[1], scope=used[2])


def _framed(body: bytes) -> str:
    return base64.urlsafe_b64encode(body).decode().rstrip("=")


@bounded(300)
@given(token=st.one_of(
    st.text(max_size=200),
    st.text(string.ascii_letters + string.digits + "-_=", max_size=120),
    st.binary(max_size=120).map(_framed),
    st.binary(min_size=29, max_size=120).map(lambda b: _framed(b"\x01" + b)),  # right version byte
    st.integers(min_value=4097, max_value=6000).map(lambda n: "A" * n),
    st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=3),
))
@example(token="")
@example(token="AQ" + "A" * 60)
def test_opening_garbage_raises_only_bad_request(token: Any) -> None:
    try:
        codec.open(token, user_id="u1", operation="messages", scope="c1")
    except BadRequest:
        return
    raise AssertionError(f"opened {token!r}")


# ------------------------------------------------------------------------------- emoji
SINGLE_EMOJI = [
    # plain, with and without the emoji presentation selector
    "👍", "❤️", "❤", "😂", "🎉", "🔥", "🙏", "😍", "🤔", "👀", "✅", "💯", "🚀", "⭐", "☕",
    "⚽", "✈️", "☺️", "♥️", "✔️", "™️", "🆗", "🈯", "㊗️", "🅰️", "Ⓜ️", "⬆️", "↩️", "▶️", "⏏️",
    "⌚", "⌨️", "🔟", "🏁", "🚩", "🫠", "🥹", "🫶",
    # the emoji that are not "other symbols" above U+2000
    "©️", "®️", "‼️", "⁉️", "\u2139\ufe0f", "↔️", "↕️", "◻️", "◼️", "◽", "◾", "⤴️", "⤵️", "〰️", "〽️",
    # newer than this Python's Unicode data (15.0, 16.0)
    "🫨", "🩷", "🫎", "🪿", "🫩", "🫆", "🪾",
    # skin tones
    "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿", "👋🏽", "✌🏿", "✋🏻", "🤝🏻", "🫱🏼",
    # ZWJ sequences, with skin tones and presentation selectors inside
    "👨‍👩‍👧‍👦", "👩‍💻", "🧑🏽‍💻", "🏳️‍🌈", "🏳️‍⚧️", "🏴‍☠️", "❤️‍🔥", "❤️‍🩹", "👁️‍🗨️", "🧔‍♂️",
    "🐻‍❄️", "😶‍🌫️", "🧑🏽‍🤝‍🧑🏻", "👩🏻‍❤️‍💋‍👨🏼", "🫱🏻‍🫲🏿", "🐦‍⬛", "🐦‍🔥", "🍋‍🟩", "🙂‍↕️",
    "🙂‍↔️", "🏃‍➡️", "🧑‍🧑‍🧒", "⛓️‍💥",
    # flags: regional indicator pairs and tag sequences
    "🇺🇸", "🇫🇷", "🇯🇵", "🇺🇳", "🇪🇺", "🇧🇷", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🏴󠁧󠁢󠁷󠁬󠁳󠁿",
    # keycaps
    "#️⃣", "*️⃣", *[f"{d}\ufe0f\u20e3" for d in range(10)],
]
short_names = st.from_regex(r"\A:[a-z0-9_+-]{1,32}:\Z")
single_emoji = st.sampled_from(SINGLE_EMOJI) | short_names
# The pieces emoji are made of, for structure-aware garbage.
EMOJI_PIECES = ["\u200d", "\ufe0f", "\u20e3", "\U0001f3fb", "\U0001f3ff", "\U0001f1fa", "\U0001f1f8",
                "\U000e0067", "\U000e007f", "\U0001f44d", "\u2764", "\u00a9", "#", "*", "1", ":",
                "a", "_", " ", "\n", "\U0001fae8", "\U0010fffd"]


@bounded(300)
@given(e=single_emoji)
def test_every_single_emoji_is_accepted(e: str) -> None:
    assert validation.emoji(e) == QUALIFIED.get(e, e)  # "\u2764" counts as "\u2764\ufe0f"


@pytest.mark.parametrize("e", SINGLE_EMOJI)
def test_each_curated_emoji_is_accepted(e: str) -> None:
    assert validation.emoji(e) == QUALIFIED.get(e, e)


@pytest.mark.slow
@bounded(400)
@given(a=single_emoji, b=single_emoji)
def test_two_emoji_side_by_side_are_rejected(a: str, b: str) -> None:
    with pytest.raises(BadRequest, match="emoji"):
        validation.emoji(a + b)


@pytest.mark.slow
@bounded(400)
@given(value=st.one_of(
    st.text(max_size=50),
    st.lists(st.sampled_from(EMOJI_PIECES), max_size=12).map("".join),
    st.lists(single_emoji, min_size=1, max_size=3).map(lambda es: "\u200d".join(es)),
    st.none(), st.integers(), st.binary(max_size=8), st.lists(st.text(max_size=2), max_size=2),
))
def test_emoji_validation_raises_only_bad_request(value: Any) -> None:
    with contextlib.suppress(BadRequest):
        assert validation.emoji(value) in (value, QUALIFIED.get(value))


@pytest.mark.parametrize("bad", [":smile:\n", "\n:smile:", "👍\n", "1\ufe0f\u20e3\n", "", "a",
                                 "\u200d👍", "👍\u200d", "👍\u200d\u200d❤️", "🏻", "🇺", "🇺🇸🇫"])
def test_emoji_edge_cases_are_rejected(bad: str) -> None:
    with pytest.raises(BadRequest):
        validation.emoji(bad)


# ------------------------------------------------------------------------------- body, clientMessageId
CMID_ALPHABET = string.ascii_letters + string.digits + "_-"
# C0 and C1 controls, independently of unicodedata: the body rule forbids all but \t \n \r.
CONTROLS = {chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))} - {"\t", "\n", "\r"}


def body_rule(value: object, max_chars: int) -> bool:
    """SendMessageInput.body: text of 1 to max characters, not only whitespace, no control
    characters but tab and line breaks."""
    return (isinstance(value, str) and 1 <= len(value) <= max_chars and value.strip() != ""
            and not any(c in CONTROLS for c in value))


def cmid_rule(value: object) -> bool:
    """SendMessageInput.clientMessageId: 8-64 of [A-Za-z0-9_-]."""
    return isinstance(value, str) and 8 <= len(value) <= 64 and all(c in CMID_ALPHABET for c in value)


body_texts = st.one_of(
    st.text(max_size=60),
    st.text(st.sampled_from(["a", "é", "😀", " ", "\t", "\n", "\r", "\x00", "\x07", "\x1b", "\x7f",
                             "\x85", "\x9f", "\u2028", "\u200b", "\u3000"]), max_size=60),
    st.none(), st.integers(), st.binary(max_size=5), st.lists(st.text(max_size=2), max_size=2),
)


@bounded(500)
@given(value=body_texts, max_chars=st.integers(min_value=1, max_value=40))
@example(value="x" * 4000, max_chars=4000)
@example(value="x" * 4001, max_chars=4000)
def test_body_is_accepted_exactly_by_the_documented_rule(value: Any, max_chars: int) -> None:
    try:
        accepted = validation.body(value, max_chars) == value
        message = ""
    except BadRequest as exc:
        accepted, message = False, exc.message
    assert accepted or "body" in message
    assert accepted == body_rule(value, max_chars), repr(value)


@bounded(500)
@given(value=st.one_of(
    st.text(CMID_ALPHABET, max_size=70),
    st.text(st.sampled_from([*CMID_ALPHABET[:8], "_", "-", "\n", " ", ".", "é", "٣", "\u212a"]),
            max_size=70),
    st.text(max_size=70), st.none(), st.integers(), st.binary(max_size=10),
))
@example(value="abcdefgh\n")
@example(value="a" * 64)
@example(value="a" * 65)
def test_client_message_id_is_accepted_exactly_by_the_documented_rule(value: Any) -> None:
    try:
        accepted = validation.client_message_id(value) == value
        message = ""
    except BadRequest as exc:
        accepted, message = False, exc.message
    assert accepted or "clientMessageId" in message
    assert accepted == cmid_rule(value), repr(value)


# ------------------------------------------------------------------------------- message ids
seqs = st.integers(min_value=1, max_value=ids.MAX_SEQ)
times = st.integers(min_value=0, max_value=2**48 - 1)


@bounded(300)
@given(seq=seqs, ms=times)
def test_a_message_id_carries_its_seq_and_time(seq: int, ms: int) -> None:
    mid = ids.new_message_id(seq, ms)
    assert ids.is_ulid(mid) and len(mid) == 26
    assert ids.seq_of_message_id(mid) == seq
    assert ULID.from_str(mid).milliseconds == ms
    assert ids.require_ulid(mid, "messageId") == mid


@bounded(300)
@given(t=st.tuples(times, times).filter(lambda t: t[0] != t[1]).map(sorted), a=seqs, b=seqs)
def test_message_ids_order_by_time_then_seq(t: list[int], a: int, b: int) -> None:
    early, late = t
    assert ids.new_message_id(a, early) < ids.new_message_id(b, late)  # time first, any seq
    if a != b:  # the same millisecond: by seq
        lo, hi = sorted((a, b))
        assert ids.new_message_id(lo, late) < ids.new_message_id(hi, late)


@bounded(100)
@given(seq=st.one_of(st.integers(max_value=0), st.integers(min_value=ids.MAX_SEQ + 1)))
def test_seq_out_of_range_is_refused(seq: int) -> None:
    with pytest.raises(ValueError, match="seq"):
        ids.new_message_id(seq)


@bounded(400)
@given(value=st.one_of(
    st.text(max_size=30),
    st.text("0123456789ABCDEFGHJKMNPQRSTVWXYZabcz\n ", min_size=25, max_size=27),
    st.tuples(st.sampled_from("0123456789ABCDEFGHJKMNPQRSTVWXYZ"),  # any first character:
              st.text("0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=25, max_size=25)).map("".join),
    seqs.map(ids.new_message_id).map(lambda m: m + "\n"),
    seqs.map(ids.new_message_id).map(lambda m: m.lower()),
    st.none(), st.integers(),
))
@example(value="H6RDQ6JEFPDKDPTS7D6W3DTXAX")  # 26 valid characters, beyond 128 bits
@example(value="8" + "0" * 25)
def test_reading_a_seq_from_anything_raises_only_bad_request(value: Any) -> None:
    try:
        seq = ids.seq_of_message_id(value)
    except BadRequest:
        return
    assert 1 <= seq <= ids.MAX_SEQ and ids.is_ulid(value) and len(value) == 26


# ------------------------------------------------------------------------------- unpaired surrogates
class _Context:
    function_name = "cloudchat-properties"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cloudchat-properties"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _handlers() -> dict[str, Any]:
    from resolvers import conversations, messages, receipts, users

    return {"Mutation.sendMessage.ok": messages, "Mutation.editMessage.ok": messages,
            "Mutation.reportMessage.ok": messages, "Mutation.requestUpload.ok": messages,
            "Mutation.addReaction.ok": messages, "Mutation.createConversation.group": conversations,
            "Mutation.renameConversation.ok": conversations, "Mutation.updateProfile.ok": users,
            "Query.users.prefix": users, "Mutation.markRead.ok": receipts}


def _string_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _string_paths(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _string_paths(v, (*path, i))]
    return []


@bounded(60)
@given(data=st.data(), surrogate=st.integers(min_value=0xD800, max_value=0xDFFF).map(chr))
def test_text_with_an_unpaired_surrogate_is_a_bad_request_everywhere(data: st.DataObject,
                                                                     surrogate: str) -> None:
    """JSON can carry "\\ud800"; no resolver may crash on it (it cannot be encrypted, stored
    or sent as UTF-8): every one answers BadRequest before doing anything."""
    handlers = _handlers()
    name = data.draw(st.sampled_from(sorted(handlers)))
    event = copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))
    paths = _string_paths(event["arguments"])
    assume(paths)
    path = data.draw(st.sampled_from(paths))
    holder = event["arguments"]
    for step in path[:-1]:
        holder = holder[step]
    at = data.draw(st.integers(min_value=0, max_value=len(holder[path[-1]])))
    holder[path[-1]] = holder[path[-1]][:at] + surrogate + holder[path[-1]][at:]
    result = handlers[name].lambda_handler(event, _Context())
    assert result["error"]["type"] == "BadRequest", (name, path, result)
    assert "Unicode" in result["error"]["message"]
