"""Encrypted search (``searchMessages``): a blind index of keyed tokens, checked by decrypting.

Each message's words (:mod:`cloudchat.searchtext`) are posted as HMAC tokens under a key
derived from the conversation's data key (:func:`cloudchat.crypto.search_key`), written with
the message (:mod:`cloudchat.store._search`). A search looks up the postings of its most
specific query word, newest first, reads the candidates with the caller's member item
(strongly consistent), and keeps a message only when its decrypted body matches every
query word: deleted, edited-away, pre-joining and SYSTEM messages never come back, whatever
the index says. A page may hold fewer than ``limit`` hits (candidates that fail the check),
even none after :data:`CANDIDATE_ROUNDS` rounds; ``nextToken`` is null only at the end.

Across conversations (no ``conversationId``): the caller's :data:`SEARCH_CONVERSATIONS`
most recently active conversations (GSI1's rows and the large conversations' markers, then
confirmed and ranked by each conversation's own last activity), merged newest first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cloudchat import ids, validation
from cloudchat.crypto import blind_token, search_key
from cloudchat.dataclass import dataclass
from cloudchat.errors import BadRequest, Forbidden
from cloudchat.models import Caller, Member, Message, MessageKind, Page, StoredMessage
from cloudchat.searchtext import (
    MAX_QUERY_CHARS,
    MAX_QUERY_WORDS,
    QueryWord,
    index_terms,
    match_spans,
    query_words,
)
from cloudchat.services._base import NOT_MEMBER
from cloudchat.services._keys import CryptoService
from cloudchat.services.blocks import flag_blocked
from cloudchat.services.conversations import large_key
from cloudchat.store import Posting

SEARCH_DEFAULT_LIMIT = 20
SEARCH_CONVERSATIONS = 20  # searched when no conversationId is given: the most recent
CANDIDATE_ROUNDS = 3  # postings read per page at most: rounds of up to 99 candidates
_OPERATION = "searchMessages"


def _scope(conversation_id: str | None, words: Sequence[QueryWord]) -> str:
    """What a nextToken is bound to (with the caller): the conversation and the query."""
    digest = hashlib.sha256("\x1f".join(w.text for w in words).encode()).hexdigest()
    return f"{conversation_id or '*'}|{digest}"


def _merged(cursors: list[_Cursor], most: int) -> list[tuple[Posting, _Cursor]]:
    """The cursors' postings newest first: each conversation's in its seq order (a cursor
    only moves down), merged by time (clocks of different writers may disagree)."""
    at = dict.fromkeys(range(len(cursors)), 0)
    out: list[tuple[Posting, _Cursor]] = []
    while len(out) < most:
        heads = [(c.postings[at[i]], i) for i, c in enumerate(cursors)
                 if c.postings and at[i] < len(c.postings)]
        if not heads:
            break
        p, i = max(heads, key=lambda h: (h[0].created_at, h[0].seq))
        out.append((p, cursors[i]))
        at[i] += 1
    return out


@dataclass
class _Cursor:
    """Where one conversation's search stands: below seq ``before`` (None: from its newest)."""

    cid: str
    before: int | None = None
    member: Member | None = None
    token: bytes = b""
    postings: list[Posting] | None = None
    more: bool = True


def body_tokens(key: bytes, text: str) -> list[bytes]:
    """A message body's blind index tokens under its conversation's data key, most specific
    first (sends and edits pass them to the store, which posts them)."""
    ik = search_key(key)
    return [blind_token(ik, t) for t in index_terms(text)]


class SearchService(CryptoService):
    """``searchMessages``."""

    @staticmethod
    def _query(query: object) -> list[QueryWord]:
        if not isinstance(query, str) or not query.strip():
            raise BadRequest("query must be a non-empty string")
        if len(query) > MAX_QUERY_CHARS:
            raise BadRequest(f"query must be at most {MAX_QUERY_CHARS} characters")
        if any("\ud800" <= c <= "\udfff" for c in query):
            raise BadRequest("query must be valid Unicode (an unpaired surrogate is not)")
        words = query_words(query)
        if not words:
            raise BadRequest("query has no words to search for (letters or digits)")
        if len(words) > MAX_QUERY_WORDS:
            raise BadRequest(f"query must have at most {MAX_QUERY_WORDS} words")
        return words

    def search_messages(self, caller: Caller, query: object, conversation_id: object,
                        limit: int | None, next_token: str | None) -> Page:
        """Messages matching every word of ``query``, newest first, each with ``matches``."""
        words = self._query(query)
        cid = (None if conversation_id is None
               else ids.require_ulid(conversation_id, "conversationId"))
        n = validation.limit(limit, SEARCH_DEFAULT_LIMIT)
        scope = _scope(cid, words)
        if next_token is not None:
            cursors = self._cursors(self.tokens.open(next_token, user_id=caller.user_id,
                                                     operation=_OPERATION, scope=scope), cid)
        elif cid is not None:
            cursors = [_Cursor(cid)]
        else:
            # GSI1's most recent rows, and the large conversations (whose rows the consumer
            # does not move: cloudchat.fanout_large); _prepare keeps the most recent of all
            rows, _ = self.store.memberships(caller.user_id, SEARCH_CONVERSATIONS, None)
            large = self.store.large_conversation_ids(caller.user_id)
            cursors = [_Cursor(c) for c in dict.fromkeys(
                [*(m.conversation_id for m in rows), *large])]
        hits, left = self._page(caller, words, cursors, n, single=cid is not None)
        token = None
        if left:
            token = self.tokens.seal({"c": [[c.cid, c.before or 0] for c in left]},
                                     user_id=caller.user_id, operation=_OPERATION, scope=scope)
        return Page(hits, token)

    @staticmethod
    def _cursors(payload: dict[str, Any], cid: str | None) -> list[_Cursor]:
        rows = payload.get("c")
        if not isinstance(rows, list) or not rows or len(rows) > SEARCH_CONVERSATIONS:
            raise BadRequest("nextToken is invalid")
        out = []
        for row in rows:
            if (not isinstance(row, list) or len(row) != 2 or not ids.is_ulid(row[0])
                    or isinstance(row[1], bool) or not isinstance(row[1], int) or row[1] < 0
                    or (cid is not None and row[0] != cid)):
                raise BadRequest("nextToken is invalid")
            out.append(_Cursor(row[0], row[1] or None))
        return out

    def _prepare(self, caller: Caller, cursors: list[_Cursor], lookup: str,
                 single: bool) -> list[_Cursor]:
        """Each conversation's lookup token. One conversation: its key (a GetItem and a KMS
        Decrypt when cold); membership is checked with the candidates. Several: one
        BatchGetItem confirms the caller's memberships (GSI1 lags) and reads their keys."""
        if single:
            key, _ = self._current_key(cursors[0].cid)
            cursors[0].token = blind_token(search_key(key), lookup)
            return cursors
        found = self.store.conversations_of(caller.user_id, [c.cid for c in cursors])
        # (no longer a member, or the index still lists an old membership: left out; the
        # most recently active first, by the conversation's own last activity)
        live = sorted((c for c in cursors if c.cid in found),
                      key=lambda c: large_key(*found[c.cid]), reverse=True)
        kept = []
        for c in live[:SEARCH_CONVERSATIONS]:
            conv, member = found[c.cid]
            key = self.keys.key(c.cid, conv.key_version, conv.wrapped_key)
            c.member, c.token = member, blind_token(search_key(key), lookup)
            kept.append(c)
        return kept

    def _page(self, caller: Caller, words: list[QueryWord], cursors: list[_Cursor], n: int,
              *, single: bool) -> tuple[list[Message], list[_Cursor]]:
        """Up to ``n`` hits, newest first, and the cursors with more to search."""
        lookup = max(words, key=lambda w: w.selectivity).lookup
        cursors = self._prepare(caller, cursors, lookup, single)
        hits: list[Message] = []
        blocked: frozenset[str] = frozenset()  # the caller's blocks, read with the candidates
        batch = min(99, 2 * n) if single else n
        for _ in range(CANDIDATE_ROUNDS):
            for c in cursors:
                if c.more and not c.postings:
                    floor = c.member.joined_seq if c.member else 0
                    c.postings, c.more = self.store.postings(
                        c.cid, c.token, after_seq=floor, before_seq=c.before, limit=batch)
            queue = _merged(cursors, 98)  # (+ the member item and the block set: 100)
            if not queue:
                if single and cursors[0].member is None:
                    self._candidates(caller, cursors, [], single)  # the member check alone
                break
            stored, blocked = self._candidates(caller, cursors, queue, single)
            for p, c in queue:
                if c.member is None or p.seq <= c.member.joined_seq:
                    c.postings, c.more = [], False  # the caller sees nothing older
                    continue
                assert c.postings is not None
                c.postings.remove(p)
                c.before = p.seq
                hit = self._hit(stored.get((c.cid, p.seq)), words)
                if hit is not None:
                    hits.append(hit)
                if len(hits) == n or (c.more and not c.postings):
                    break  # full, or this conversation's next postings are not read yet
            if len(hits) == n:
                break
        flag_blocked(hits, blocked)
        left = [c for c in cursors if c.postings or c.more]
        return hits, left

    def _candidates(self, caller: Caller, cursors: list[_Cursor],
                    queue: list[tuple[Posting, _Cursor]],
                    single: bool
                    ) -> tuple[dict[tuple[str, int], StoredMessage], frozenset[str]]:
        """The candidate messages and the caller's block set (one BatchGetItem per 100
        keys); for one conversation with the caller's member item, which decides
        membership and joinedSeq."""
        if single:
            c = cursors[0]
            member, _, found, blocked = self.store.read_messages_and_blocks(
                c.cid, caller.user_id, [p.seq for p, _ in queue], with_conversation=False)
            if member is None:
                raise Forbidden(NOT_MEMBER)
            c.member = member
            return {(c.cid, s): m for s, m in found.items()}, blocked
        return self.store.messages_in_and_blocks(caller.user_id,
                                                 [(c.cid, p.seq) for p, c in queue])

    def _hit(self, stored: StoredMessage | None, words: list[QueryWord]) -> Message | None:
        if (stored is None or stored.deleted_at or stored.sealed is None
                or stored.kind is MessageKind.SYSTEM):
            return None
        msg = self._decrypt(stored, None)
        spans = match_spans(msg.body or "", words)
        return None if spans is None else replace(msg, matches=tuple(spans))
