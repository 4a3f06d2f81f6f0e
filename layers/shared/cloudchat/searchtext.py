"""Search text: how a body and a query are normalized, cut into words, turned into index
terms, and matched (with the spans to highlight). Pure functions; the keyed (blind) form of
an index term is :func:`cloudchat.crypto.blind_token`.

Normalization, per code point (so every normalized character maps back to a place in the
original text): Unicode NFKC, casefold, then accents stripped (NFD, nonspacing marks
dropped, NFC). ``"Café"``, ``"CAFE"`` and a fullwidth ``CAFE`` all become ``"cafe"``.

Words: runs of letters and digits (spacing marks included) after normalization; anything
else (spaces, punctuation, symbols, emoji) separates words and is never indexed. Scripts
written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) form runs of
their own, indexed by character: each character (``u:``) and each pair of neighbours
(``b:``), so any run of 1+ such characters in a query is found as a substring.

Index terms of a word ``w`` (spaced scripts): ``w:<w>`` when it is shorter than 3
characters (``"ok"``, ``"42"``), else ``p:<prefix>`` for each length in
:data:`PREFIX_LENGTHS` up to ``len(w)``. A query word of 3+ characters matches every word
that starts with it; a shorter one matches equal words only. A query word longer than the
longest indexed prefix is looked up by that prefix; the decrypted body decides.

A query matches a message when every query word matches (AND).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from cloudchat.dataclass import dataclass

PREFIX_LENGTHS = (3, 4, 5, 6, 8)  # index prefixes of these lengths (every word has <= 5)
MIN_PREFIX = PREFIX_LENGTHS[0]
MAX_QUERY_CHARS = 256
MAX_QUERY_WORDS = 8

_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def _unspaced(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _UNSPACED)


@lru_cache(maxsize=4096)
def normalize_char(ch: str) -> str:
    """One code point, normalized (may be empty, or several characters: ``ß`` -> ``ss``)."""
    folded = unicodedata.normalize("NFKC", ch).casefold()
    bare = "".join(c for c in unicodedata.normalize("NFD", folded)
                   if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", bare)


def normalize(text: str) -> str:
    return "".join(normalize_char(c) for c in text)


def _word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LN" or unicodedata.category(ch) == "Mc"


@dataclass(frozen=True)
class Word:
    """A normalized word and where it is in the original text: ``origin[i]`` is the index
    (code points) in the original of the word's ``i``-th normalized character."""

    text: str
    origin: tuple[int, ...]
    ends: tuple[int, ...]  # the end (exclusive) in the original of each character's source
    unspaced: bool

    def span(self, start: int, length: int) -> tuple[int, int]:
        """The original text's span of normalized characters ``[start, start+length)``."""
        return self.origin[start], self.ends[start + length - 1]


def words(text: str) -> list[Word]:
    """The words of ``text`` in order (see the module docstring)."""
    out: list[Word] = []
    cur: list[tuple[str, int, int]] = []  # (normalized character, start, end in original)
    cur_unspaced = False

    def flush() -> None:
        if cur:
            out.append(Word("".join(c for c, _, _ in cur), tuple(i for _, i, _ in cur),
                            tuple(e for _, _, e in cur), cur_unspaced))
            cur.clear()

    for i, orig in enumerate(text):
        norm = normalize_char(orig)
        if not norm and cur and cur[-1][2] == i:  # a dropped mark joins its letter's span
            cur[-1] = (cur[-1][0], cur[-1][1], i + 1)
            continue
        for ch in norm:
            if not _word_char(ch):
                flush()
                continue
            unspaced = _unspaced(ch)
            if cur and unspaced != cur_unspaced:
                flush()
            cur_unspaced = unspaced
            cur.append((ch, i, i + 1))
    flush()
    return out


def _word_terms(w: Word) -> tuple[list[str], list[str]]:
    """(its most specific terms, the rest): the whole word (or longest prefix) and CJK
    pairs first; shorter prefixes and single CJK characters after."""
    t = w.text
    if w.unspaced:
        pairs = [f"b:{t[i:i + 2]}" for i in range(len(t) - 1)]
        return pairs, [f"u:{c}" for c in t]
    if len(t) < MIN_PREFIX:
        return [f"w:{t}"], []
    prefixes = [f"p:{t[:n]}" for n in PREFIX_LENGTHS if n <= len(t)]
    return prefixes[-1:], prefixes[-2::-1]


def index_terms(text: str) -> list[str]:
    """Every index term of a body, each once, most specific first: the whole words (or
    their longest indexed prefix) and CJK pairs of every word in order, then the shorter
    prefixes and single CJK characters. The order decides which terms are written in the
    send transaction and which by the stream consumer."""
    first: list[str] = []
    rest: list[str] = []
    for w in words(text):
        a, b = _word_terms(w)
        first += a
        rest += b
    return list(dict.fromkeys(first + rest))


@dataclass(frozen=True)
class QueryWord:
    text: str
    unspaced: bool

    @property
    def lookup(self) -> str:
        """The index term this query word is looked up by."""
        t = self.text
        if self.unspaced:
            return f"b:{t[:2]}" if len(t) >= 2 else f"u:{t}"
        if len(t) < MIN_PREFIX:
            return f"w:{t}"
        n = max(n for n in PREFIX_LENGTHS if n <= len(t))
        return f"p:{t[:n]}"

    @property
    def selectivity(self) -> int:
        """Higher is rarer (a longer indexed term): the word looked up when there are several."""
        t = self.text
        if self.unspaced:
            return 2 * min(len(t), 2)
        return max([n for n in PREFIX_LENGTHS if n <= len(t)] or [len(t)])


def query_words(query: str) -> list[QueryWord]:
    """The distinct words of a query, in order (may be empty: only punctuation or emoji)."""
    seen = dict.fromkeys((w.text, w.unspaced) for w in words(query))
    return [QueryWord(t, u) for t, u in seen]


def _matches(q: QueryWord, w: Word) -> list[tuple[int, int]]:
    if q.unspaced != w.unspaced:
        return []
    if q.unspaced:
        spans, at = [], w.text.find(q.text)
        while at >= 0:
            spans.append(w.span(at, len(q.text)))
            at = w.text.find(q.text, at + 1)
        return spans
    if w.text == q.text or (len(q.text) >= MIN_PREFIX and w.text.startswith(q.text)):
        return [w.span(0, len(q.text))]
    return []


def match_spans(text: str, query: list[QueryWord]) -> list[tuple[int, int]] | None:
    """Where ``text`` matches every query word: merged ``(start, end)`` spans in code
    points of the original text, in order; None when some query word does not match."""
    body = words(text)
    found: list[tuple[int, int]] = []
    for q in query:
        spans = [s for w in body for s in _matches(q, w)]
        if not spans:
            return None
        found += spans
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
