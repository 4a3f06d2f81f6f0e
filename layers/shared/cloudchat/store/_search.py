"""The blind search index: postings ``CONV#<id> / SX#<token>#<seq>`` (one item per blind
token per message, in the conversation's partition), written with the message.

A message item carries its index state: ``sx``, its current tokens (8 bytes each,
concatenated, most specific first), and, when a write could not do all its index work
inside its transaction, the rest as a queue: ``sxa`` (postings still to put), ``sxd`` (still
to delete) and the flag ``sxp`` = "1", which routes the item's stream record to the consumer
(:meth:`SearchStore.complete_index`).

Every write of a message (send, edit, delete) calls :meth:`SearchStore.index_update` with
the item as it was and the new tokens: it answers at most :data:`TX_INDEX_ACTIONS` posting
writes for the write's own transaction and the attributes that record the new state and
the queue. Puts and deletes are idempotent and a queue only ever shrinks between two
writes of the message, so a queue read from a stale image is a superset of the real one:
redoing it is harmless, and the new queue is computed to be right either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from cloudchat.crypto import TOKEN_BYTES
from cloudchat.dataclass import dataclass
from cloudchat.store._base import BATCH_MAX, StoreBase
from cloudchat.store._images import rev
from cloudchat.store._keys import conv_pk, msg_sk, search_sk, search_sk_bounds, seq_of_search_sk

# Posting writes a send, edit or delete transaction takes at most (the rest goes to the
# stream consumer). sendMessage has ~5 actions of its own and mentions add up to 50: the
# transaction stays under DynamoDB's 100.
TX_INDEX_ACTIONS = 40
INDEX_ATTRS = ("sx", "sxa", "sxd", "sxp")


def tokens_of(value: Any) -> list[bytes]:
    """A concatenated token attribute as a list of tokens."""
    raw = bytes(value or b"")
    return [raw[i:i + TOKEN_BYTES] for i in range(0, len(raw), TOKEN_BYTES)]


@dataclass(frozen=True)
class IndexUpdate:
    """What one message write does to the index: posting writes for its transaction (by
    name), the message item's index attributes to set and to remove, and its new image's
    index attributes (for the remembered image)."""

    ops: dict[str, dict[str, Any]]
    set_attrs: dict[str, Any]
    remove: tuple[str, ...]

    def apply(self, image: dict[str, Any]) -> dict[str, Any]:
        for name in self.remove:
            image.pop(name, None)
        image.update(self.set_attrs)
        return image

    def clauses(self) -> tuple[list[str], list[str], dict[str, Any]]:
        """(SET parts, REMOVE parts, values) for an UpdateExpression."""
        sets = [f"{name} = :ix_{name}" for name in self.set_attrs]
        values = {f":ix_{name}": v for name, v in self.set_attrs.items()}
        return sets, list(self.remove), values


@dataclass(frozen=True)
class Posting:
    conversation_id: str
    seq: int
    created_at: str


class SearchStore(StoreBase):
    def _posting_op(self, cid: str, seq: int, token: bytes, put: bool,
                    created_at: str) -> dict[str, Any]:
        key = (conv_pk(cid), search_sk(token, seq))
        if put:
            return {"Put": {"TableName": self.table_name, "Item": self._av({
                "PK": key[0], "SK": key[1], "type": "SIDX", "seq": seq, "at": created_at})}}
        return {"Delete": {"TableName": self.table_name, "Key": self._key(*key)}}

    def index_update(self, cid: str, seq: int, created_at: str, old: dict[str, Any] | None,
                     new_tokens: Sequence[bytes], most: int = TX_INDEX_ACTIONS) -> IndexUpdate:
        """The index work of one write that moves a message from the ``old`` item (None
        for a new message) to ``new_tokens`` (empty for a delete): puts of the new tokens
        not posted yet, deletes of the posted ones it no longer has; the first ``most``
        (at most :data:`TX_INDEX_ACTIONS`) in the write's transaction, the rest queued."""
        most = max(0, min(most, TX_INDEX_ACTIONS))
        old = old or {}
        had, adds, dels = (tokens_of(old.get(a)) for a in ("sx", "sxa", "sxd"))
        unposted = set(adds) | set(dels)  # (a stale queue: maybe posted, maybe not)
        new = list(dict.fromkeys(new_tokens))
        wanted, posted = set(new), set(had)
        puts = [t for t in new if t not in posted or t in unposted]
        drops = [t for t in dict.fromkeys([*had, *adds, *dels]) if t not in wanted]
        work = [(t, True) for t in puts] + [(t, False) for t in drops]
        head, tail = work[:most], work[most:]
        ops = {f"sx:{i}": self._posting_op(cid, seq, t, put, created_at)
               for i, (t, put) in enumerate(head)}
        attrs: dict[str, Any] = {"sx": b"".join(new),
                 "sxa": b"".join(t for t, put in tail if put),
                 "sxd": b"".join(t for t, put in tail if not put)}
        if tail:
            attrs["sxp"] = "1"  # a string: the stream filter matches it exactly
        set_attrs = {k: v for k, v in attrs.items() if v}
        remove = tuple(a for a in INDEX_ATTRS if a not in set_attrs and a in old)
        return IndexUpdate(ops, set_attrs, remove)

    def complete_index(self, cid: str, seq: int) -> int:
        """The stream consumer's part: the queued posting writes of a message, in
        transactions of up to 99 with the message item (still at the ``rev`` read, its
        queue shrinking as they commit). A message written again in between is left to
        the record of that write. Returns how many posting writes were done."""
        resp = self._client().get_item(TableName=self.table_name, ConsistentRead=True,
                                       Key=self._key(conv_pk(cid), msg_sk(seq)))
        item = self._py(resp.get("Item") or {})
        if not item.get("sxp"):
            return 0
        at = str(item.get("createdAt", ""))
        work = ([(t, True) for t in tokens_of(item.get("sxa"))]
                + [(t, False) for t in tokens_of(item.get("sxd"))])
        done = 0
        while work:
            chunk, work = work[:BATCH_MAX - 1], work[BATCH_MAX - 1:]
            left_adds = b"".join(t for t, put in work if put)
            left_dels = b"".join(t for t, put in work if not put)
            sets = [f"{n} = :{n}" for n, v in (("sxa", left_adds), ("sxd", left_dels)) if v]
            removes = [n for n, v in (("sxa", left_adds), ("sxd", left_dels)) if not v]
            if not work:
                removes.append("sxp")
            values: dict[str, Any] = {n: v for n, v in ((":sxa", left_adds), (":sxd", left_dels))
                                      if v}
            current = rev(item)
            condition = "rev = :rev" if current else "attribute_not_exists(rev)"
            if current:
                values[":rev"] = current
            update: dict[str, Any] = {
                "TableName": self.table_name, "Key": self._key(conv_pk(cid), msg_sk(seq)),
                "ConditionExpression": f"attribute_exists(PK) AND {condition}",
                "UpdateExpression": " ".join(p for p in (
                    f"SET {', '.join(sets)}" if sets else "",
                    f"REMOVE {', '.join(removes)}" if removes else "") if p)}
            if values:
                update["ExpressionAttributeValues"] = self._av(values)
            ops = {"message": {"Update": update}}
            ops.update({f"sx:{i}": self._posting_op(cid, seq, t, put, at)
                        for i, (t, put) in enumerate(chunk)})
            if self._transact(ops) is not None:
                return done  # written again since: that write's record finishes the work
            done += len(chunk)
        return done

    def postings(self, cid: str, token: bytes, *, after_seq: int, before_seq: int | None,
                 limit: int) -> tuple[list[Posting], bool]:
        """A token's postings with ``after_seq < seq < before_seq``, newest first (one
        strongly consistent Query); ``True`` when more may follow."""
        top = before_seq if before_seq is not None else 10 ** 12
        if top - 1 <= after_seq:
            return [], False
        lo, hi = search_sk_bounds(token, after_seq, top)
        resp = self._client().query(
            TableName=self.table_name, ConsistentRead=True, ScanIndexForward=False,
            Limit=limit, KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues=self._av({":pk": conv_pk(cid), ":lo": lo, ":hi": hi}))
        rows = [self._py(i) for i in resp.get("Items", [])]
        return ([Posting(cid, seq_of_search_sk(r["SK"]), str(r.get("at", ""))) for r in rows],
                "LastEvaluatedKey" in resp)

    def posted_seqs(self, cid: str, token: bytes) -> list[int]:
        """Every seq posted under a token, newest first (tests and the benchmark)."""
        return [p.seq for p in self._all_postings(cid, token)]

    def _all_postings(self, cid: str, token: bytes) -> Iterable[Posting]:
        before: int | None = None
        while True:
            page, more = self.postings(cid, token, after_seq=0, before_seq=before, limit=1000)
            yield from page
            if not more or not page:
                return
            before = page[-1].seq
