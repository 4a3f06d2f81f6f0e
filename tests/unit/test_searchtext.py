"""Search text: normalization, words, index terms, query words, matching and spans."""

import pytest

from cloudchat import crypto
from cloudchat.searchtext import (
    PREFIX_LENGTHS,
    index_terms,
    match_spans,
    normalize,
    query_words,
    words,
)


def spans(text: str, query: str) -> list[str] | None:
    got = match_spans(text, query_words(query))
    return None if got is None else [text[a:b] for a, b in got]


@pytest.mark.parametrize(("raw", "norm"), [
    ("Café", "cafe"), ("CAFÉ", "cafe"), ("\uff43\uff41\uff46\uff45", "cafe"), ("Straße", "strasse"),
    ("ﬁle", "file"), ("İstanbul", "istanbul"), ("e\u0301", "e"), ("Ñandú", "nandu"),
    ("ΟΔΥΣΣΕΥΣ", "οδυσσευσ"),
])
def test_normalization_nfkc_casefold_and_accents(raw: str, norm: str) -> None:
    assert normalize(raw) == norm


def test_words_split_on_punctuation_spaces_and_emoji() -> None:
    got = [w.text for w in words("Hello,world! it's 2026 🎉🎉 — re-release #tag @bob")]
    assert got == ["hello", "world", "it", "s", "2026", "re", "release", "tag", "bob"]


def test_emoji_and_punctuation_only_have_no_words_or_terms() -> None:
    assert words("🎉 👍🏽 ... !!! 👨‍👩‍👧") == []
    assert index_terms("🎉 !!! ???") == []
    assert query_words("🎉 ?!") == []


def test_index_terms_short_words_whole_long_words_by_prefixes() -> None:
    assert index_terms("ok") == ["w:ok"]
    assert index_terms("hello") == ["p:hello", "p:hell", "p:hel"]
    assert index_terms("international") == ["p:internat", "p:intern", "p:inter", "p:inte",
                                            "p:int"]
    assert max(PREFIX_LENGTHS) == 8


def test_index_terms_most_specific_first_and_each_once() -> None:
    assert index_terms("Hello hello HELLO world") == [
        "p:hello", "p:world", "p:hell", "p:hel", "p:worl", "p:wor"]


def test_cjk_by_characters_and_pairs() -> None:
    assert [w.text for w in words("東京タワーへ行く")] == ["東京タワーへ行く"]
    assert index_terms("東京都") == ["b:東京", "b:京都", "u:東", "u:京", "u:都"]
    # mixed scripts split into runs
    assert [(w.text, w.unspaced) for w in words("iPhone東京")] == [("iphone", False),
                                                                  ("東京", True)]


def test_query_lookup_terms() -> None:
    q = {w.text: w.lookup for w in query_words("ok hel hello internationalization 東京 京")}
    assert q == {"ok": "w:ok", "hel": "p:hel", "hello": "p:hello",
                 "internationalization": "p:internat", "東京": "b:東京", "京": "u:京"}


def test_match_whole_words_and_prefixes_case_and_accent_insensitive() -> None:
    assert spans("Meet at the Café tomorrow", "cafe") == ["Café"]
    assert spans("Meet at the CAFÉ tomorrow", "caf") == ["CAF"]
    assert spans("Meet at the café", "ca") is None  # 2 letters: whole words only
    assert spans("go go go", "go") == ["go", "go", "go"]
    assert spans("gopher", "go") is None
    assert spans("international relations", "internationalization") is None
    assert spans("internationalization works", "internationalization") == [
        "internationalization"]


def test_match_is_and_of_query_words_with_merged_spans() -> None:
    assert spans("the quick brown fox", "QUICK fox") == ["quick", "fox"]
    assert spans("the quick brown fox", "quick cat") is None
    assert spans("hello", "hel hell") == ["hell"]  # overlapping spans merge


def test_match_spans_map_back_to_original_code_points() -> None:
    text = "🎉 \uff23\uff41\uff46é ﬁne Straße!"
    got = match_spans(text, query_words("cafe fine strasse"))
    assert got is not None
    assert [text[a:b] for a, b in got] == ["\uff23\uff41\uff46é", "ﬁne", "Straße"]
    # a decomposed accent belongs to its letter's span
    assert spans("cafe\u0301 noir", "cafe") == ["cafe\u0301"]


def test_cjk_substring_matching() -> None:
    assert spans("我住在東京都", "東京") == ["東京"]
    assert spans("我住在東京都", "京") == ["京"]
    assert spans("我住在東京都", "京東") is None
    assert spans("ラーメンを食べた", "ラーメン") == ["ラーメン"]


def test_blind_tokens_are_keyed_per_conversation_key() -> None:
    k1, k2 = crypto.search_key(b"\x01" * 32), crypto.search_key(b"\x02" * 32)
    assert k1 != k2 and len(k1) == 32
    assert crypto.search_key(b"\x01" * 32) == k1  # deterministic
    t = crypto.blind_token(k1, "p:hello")
    assert len(t) == crypto.TOKEN_BYTES
    assert t == crypto.blind_token(k1, "p:hello")
    assert t != crypto.blind_token(k2, "p:hello")
    assert t != crypto.blind_token(k1, "p:hell")
    assert b"hello" not in t
