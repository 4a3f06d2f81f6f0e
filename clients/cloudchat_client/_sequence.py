"""Ordering and deduplication of one conversation's messages by ``seq``.

Subscriptions are at most once and a reconnect overlaps with catch-up, so the same message can
arrive twice (live and from ``messagesSince``) and a live message can arrive after a gap. The
:class:`Sequencer` turns whatever arrives into the stream a reader wants: every visible seq
exactly once, in increasing order. Changes to a message already shown (edits, deletes,
reactions, thread replies: same seq, different content) are passed on as updates.

Pure logic, no I/O: the tail loop feeds it and calls ``messagesSince`` when it reports a gap.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Delivery", "SequenceStats", "Sequencer"]

Source = Literal["live", "catch-up"]


@dataclass(frozen=True)
class Delivery:
    """One message to show: ``new`` (the next seq) or ``update`` (a newer version of one shown)."""

    kind: Literal["new", "update"]
    source: Source
    message: Mapping[str, Any]

    @property
    def seq(self) -> int:
        return int(self.message["seq"])


@dataclass
class SequenceStats:
    """What a :class:`Delivery` cannot show (its ``kind`` and ``source`` tell the rest)."""

    duplicates_dropped: int = 0
    gaps_detected: int = 0


@dataclass
class Sequencer:
    """``last_seq``: everything up to it has been delivered (or is not visible to the caller)."""

    last_seq: int = 0
    max_remembered: int = 10_000
    stats: SequenceStats = field(default_factory=SequenceStats)
    _pending: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    _seen: OrderedDict[int, dict[str, Any]] = field(default_factory=OrderedDict)

    @property
    def has_gap(self) -> bool:
        """Live messages wait beyond a missing seq: catch up from ``last_seq``."""
        return bool(self._pending)

    def offer_live(self, message: Mapping[str, Any]) -> list[Delivery]:
        """A message from the subscription."""
        seq = int(message["seq"])
        if seq <= self.last_seq:
            return self._maybe_update(message, "live")
        if seq > self.last_seq + 1:
            if seq in self._pending:
                if _state(message) != _state(self._pending[seq]):
                    self._pending[seq] = message  # the later event is the newer state
                else:
                    self.stats.duplicates_dropped += 1
                return []
            if not self._pending:
                self.stats.gaps_detected += 1
            self._pending[seq] = message
            return []
        out = [self._deliver(message, "live")]
        out += self._flush_pending()
        return out

    def accept_catch_up(self, messages: Iterable[Mapping[str, Any]]) -> list[Delivery]:
        """One ``messagesSince(afterSeq=last_seq)`` page, oldest first. It is authoritative:
        a seq it skips (before the caller joined) is not visible and is not waited for."""
        out: list[Delivery] = []
        for message in sorted(messages, key=lambda m: int(m["seq"])):
            seq = int(message["seq"])
            if seq <= self.last_seq:
                out += self._maybe_update(message, "catch-up")
                continue
            if self._pending.pop(seq, None) is not None:
                self.stats.duplicates_dropped += 1  # it arrived live too; the read is newer
            out.append(self._deliver(message, "catch-up"))
        out += self._flush_pending()
        return out

    # -- internals ---------------------------------------------------------------------------

    def _deliver(self, message: Mapping[str, Any], source: Source) -> Delivery:
        seq = int(message["seq"])
        self.last_seq = seq
        self._remember(seq, message)
        return Delivery("new", source, message)

    def _flush_pending(self) -> list[Delivery]:
        out = []
        for seq in sorted(s for s in self._pending if s <= self.last_seq):
            out += self._maybe_update(self._pending.pop(seq), "live")
        while self.last_seq + 1 in self._pending:
            out.append(self._deliver(self._pending.pop(self.last_seq + 1), "live"))
        return out

    def _maybe_update(self, message: Mapping[str, Any], source: Source) -> list[Delivery]:
        seq = int(message["seq"])
        seen = self._seen.get(seq)
        if (seen is None and source == "live") or (seen is not None and _changed(seen, message)):
            # a change to a message shown, or to one from before the tail began
            self._remember(seq, message)
            return [Delivery("update", source, message)]
        self.stats.duplicates_dropped += 1
        return []

    def _remember(self, seq: int, message: Mapping[str, Any]) -> None:
        merged = self._seen.get(seq, {})
        merged.update(_state(message))
        self._seen[seq] = merged
        self._seen.move_to_end(seq)
        while len(self._seen) > self.max_remembered:
            self._seen.popitem(last=False)


#: What can change on a message after it was sent. Fields an event lacks (null: the publishing
#: mutation did not select them) say nothing.
_MUTABLE = ("version", "body", "reactions", "replyCount", "lastReplyAt", "editedAt", "deletedAt")


def _state(message: Mapping[str, Any]) -> dict[str, Any]:
    return {k: message[k] for k in _MUTABLE if message.get(k) is not None}


def _changed(seen: Mapping[str, Any], message: Mapping[str, Any]) -> bool:
    return any(seen.get(k) != v for k, v in _state(message).items())
