"""nextToken sealing, message ids that carry seq, and input validation."""

import pytest

from cloudchat import ids, validation
from cloudchat.errors import BadRequest
from cloudchat.tokens import TokenCodec

codec = TokenCodec(b"s" * 48)


def test_token_round_trip_is_opaque() -> None:
    import base64

    t = codec.seal({"b": 51}, user_id="u1", operation="messages", scope="c1")
    raw = base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))
    assert b'{"b":51}' not in raw  # the position is encrypted, not just encoded
    assert codec.open(t, user_id="u1", operation="messages", scope="c1") == {"b": 51}


@pytest.mark.parametrize("kw", [
    {"user_id": "u2", "operation": "messages", "scope": "c1"},
    {"user_id": "u1", "operation": "conversations", "scope": "c1"},
    {"user_id": "u1", "operation": "messages", "scope": "c2"},
])
def test_token_is_bound_to_user_and_query(kw) -> None:
    t = codec.seal({"b": 51}, user_id="u1", operation="messages", scope="c1")
    with pytest.raises(BadRequest, match="nextToken"):
        codec.open(t, **kw)


@pytest.mark.parametrize("bad", ["", "x", "!!!!", "A" * 5000, "AQ" + "A" * 60])
def test_garbage_tokens_are_bad_requests(bad: str) -> None:
    with pytest.raises(BadRequest):
        codec.open(bad, user_id="u1", operation="messages")


def test_every_flipped_character_is_rejected() -> None:
    t = codec.seal({"b": 7}, user_id="u1", operation="messages")
    for i in range(len(t)):
        c = "A" if t[i] != "A" else "B"
        with pytest.raises(BadRequest):
            codec.open(t[:i] + c + t[i + 1:], user_id="u1", operation="messages")


def test_message_ids_are_ulids_carrying_their_seq() -> None:
    a = ids.new_message_id(1, 1_700_000_000_000)
    b = ids.new_message_id(2, 1_700_000_000_001)
    assert ids.is_ulid(a) and ids.seq_of_message_id(a) == 1 and ids.seq_of_message_id(b) == 2
    assert a < b  # time-sortable
    big = ids.new_message_id(ids.MAX_SEQ)
    assert ids.seq_of_message_id(big) == ids.MAX_SEQ
    with pytest.raises(BadRequest):
        ids.seq_of_message_id("not-a-ulid")
    with pytest.raises(BadRequest):
        ids.seq_of_message_id(ids.new_id()[:10] + "0" * 16)  # seq 0 is never issued


def test_validation_messages() -> None:
    assert validation.limit(None) == 20 and validation.limit(100) == 100
    for bad in (0, 101, -1, True, "5"):
        with pytest.raises(BadRequest, match="limit"):
            validation.limit(bad)  # type: ignore[arg-type]
    assert validation.body("hi", 4000) == "hi"
    for bad in ("", "   ", "x" * 4001, "bell\x07", None):
        with pytest.raises(BadRequest, match="body"):
            validation.body(bad, 4000)
    assert validation.body("x" * 4000, 4000)
    assert validation.client_message_id("abc-DEF_123") == "abc-DEF_123"
    for bad in ("short", "has space!", "x" * 65, None, 12345678):
        with pytest.raises(BadRequest, match="clientMessageId"):
            validation.client_message_id(bad)
    assert validation.title("  Team  ") == "Team" and validation.title("") is None
    with pytest.raises(BadRequest):
        validation.title("t" * 201)
