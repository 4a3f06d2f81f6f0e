"""nextToken details that mutation testing (`make mutate`) found unpinned: the exact format
(a token minted by the previous deployment still opens after a deploy; a change of key label,
AAD layout or body encoding would silently invalidate every client's cursor), the length cap
that bounds the work done on a hostile token, and the error a client sees."""

from __future__ import annotations

from typing import Any

import pytest

from cloudchat import tokens
from cloudchat.errors import BadRequest
from cloudchat.tokens import TokenCodec

SECRET = b"k" * 32
PAYLOAD = {"seq": 7, "after": "b", "a": [1, 2]}  # keys deliberately not in sorted order
SCOPE = {"user_id": "u-1", "operation": "messages", "scope": "c-1"}
# seal(PAYLOAD, **SCOPE) under SECRET with the nonce bytes(range(12)), as minted by this format.
GOLDEN = "AQABAgMEBQYHCAkKC5-HhxZ7jAUpoaCJmdJVK0E4-eR0vToyvqHoKtYFACROiRIPEn1Lkmwx4J7-fRGn"


def test_a_token_of_this_format_opens_after_a_redeploy() -> None:
    assert TokenCodec(SECRET).open(GOLDEN, **SCOPE) == PAYLOAD


def test_seal_is_deterministic_given_the_nonce(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens.os, "urandom", lambda n: bytes(range(n)))
    assert TokenCodec(SECRET).seal(PAYLOAD, **SCOPE) == GOLDEN


@pytest.mark.parametrize("other", [{"user_id": "u-2"}, {"operation": "thread"}, {"scope": "c-2"},
                                   {"user_id": "u-1\x1fmessages"}])
def test_the_golden_token_is_bound_to_its_scope(other: dict[str, str]) -> None:
    with pytest.raises(BadRequest, match=r"^nextToken is invalid: it was altered, or belongs to another"):
        TokenCodec(SECRET).open(GOLDEN, **{**SCOPE, **other})


def test_a_token_of_exactly_the_cap_opens() -> None:
    codec = TokenCodec(SECRET)
    # 1 version byte + 12 nonce + body + 16 tag = 3072 bytes = 4096 base64 characters
    body_len = 3072 - 1 - 12 - 16
    payload = {"p": "x" * (body_len - len('{"p":""}'))}
    token = codec.seal(payload, user_id="u", operation="messages")
    assert len(token) == 4096
    assert codec.open(token, user_id="u", operation="messages") == payload


@pytest.mark.parametrize("length", [4097, 4100, 100_000])
def test_an_over_long_token_is_refused_before_it_is_decoded(monkeypatch: pytest.MonkeyPatch,
                                                              length: int) -> None:
    decoded: list[Any] = []
    real = tokens.base64.urlsafe_b64decode

    def spy(s: Any) -> bytes:
        decoded.append(s)
        return real(s)

    monkeypatch.setattr(tokens.base64, "urlsafe_b64decode", spy)
    with pytest.raises(BadRequest, match="nextToken is invalid"):
        TokenCodec(SECRET).open("A" * length, user_id="u", operation="messages")
    assert decoded == []
