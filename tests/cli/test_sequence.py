"""The seq ordering/dedupe logic behind `tail` and `doctor` (no network)."""

from __future__ import annotations

import random
from typing import Any

from cloudchat_cli.commands import evaluate
from cloudchat_client import Backoff, Delivery, Sequencer


def msg(seq: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"m{seq}", "conversationId": "c", "seq": seq, "version": 1, "body": f"#{seq}",
            "reactions": [], **extra}


def seqs(deliveries: list[Delivery]) -> list[int]:
    return [d.seq for d in deliveries if d.kind == "new"]


def test_in_order_live_messages_pass_straight_through() -> None:
    s = Sequencer(last_seq=3)
    out = [d for n in (4, 5, 6) for d in s.offer_live(msg(n))]
    assert seqs(out) == [4, 5, 6]
    assert {d.source for d in out} == {"live"}
    assert not s.has_gap and s.last_seq == 6


def test_a_live_duplicate_is_dropped() -> None:
    s = Sequencer()
    assert seqs(s.offer_live(msg(1))) == [1]
    assert s.offer_live(msg(1)) == []
    assert s.stats.duplicates_dropped == 1


def test_a_gap_holds_live_messages_until_catch_up_fills_it() -> None:
    s = Sequencer(last_seq=1)
    assert s.offer_live(msg(3)) == []
    assert s.offer_live(msg(4)) == []
    assert s.has_gap and s.stats.gaps_detected == 1
    out = s.accept_catch_up([msg(2), msg(3), msg(4)])
    assert seqs(out) == [2, 3, 4]
    assert not s.has_gap
    assert s.stats.duplicates_dropped == 2  # 3 and 4 arrived twice, shown once


def test_a_gap_filled_live_flushes_what_waited() -> None:
    s = Sequencer(last_seq=1)
    s.offer_live(msg(3))
    assert seqs(s.offer_live(msg(2))) == [2, 3]
    assert not s.has_gap


def test_catch_up_overlapping_buffered_live_events_never_repeats() -> None:
    """Reconnect: live events buffered while catching up arrive after the catch-up page."""
    s = Sequencer(last_seq=10)
    shown = seqs(s.accept_catch_up([msg(n) for n in range(11, 16)]))
    for n in (14, 15, 16, 17):
        shown += seqs(s.offer_live(msg(n)))
    assert shown == list(range(11, 18))


def test_catch_up_is_authoritative_about_invisible_seqs() -> None:
    """A member who joined at seq 50 gets nothing before it: that is not a gap to wait on."""
    s = Sequencer(last_seq=40)
    assert seqs(s.accept_catch_up([msg(51), msg(52)])) == [51, 52]
    assert seqs(s.offer_live(msg(53))) == [53]


def test_changes_to_a_shown_message_are_updates_and_repeats_of_them_are_not() -> None:
    s = Sequencer()
    s.offer_live(msg(1))
    reacted = msg(1, reactions=[{"emoji": "👍", "count": 1, "userIds": ["u"]}])
    out = s.offer_live(reacted)
    assert [d.kind for d in out] == ["update"]
    assert s.offer_live(reacted) == []
    edited = msg(1, version=2, body="edited", reactions=reacted["reactions"])
    assert [d.kind for d in s.offer_live(edited)] == ["update"]


def test_fields_a_publisher_did_not_select_are_not_changes() -> None:
    s = Sequencer()
    s.accept_catch_up([msg(1)])
    narrow = {"id": "m1", "conversationId": "c", "seq": 1, "version": 1, "body": None,
              "reactions": None}
    assert s.offer_live(narrow) == []


def test_a_change_to_a_message_from_before_the_tail_began_is_shown() -> None:
    s = Sequencer(last_seq=10)
    assert [d.kind for d in s.offer_live(msg(3, reactions=[{"emoji": "🎉", "count": 1}]))] == ["update"]


def test_any_interleaving_of_live_and_catch_up_shows_each_seq_once_in_order() -> None:
    """Random at-most-once delivery with repeats and reordering, plus catch-up reads."""
    rng = random.Random(7)
    for _ in range(200):
        total = rng.randint(1, 40)
        s = Sequencer()
        shown: list[int] = []
        committed = 0
        events = list(range(1, total + 1))
        live = [n for n in events if rng.random() > 0.3]  # some lost
        live += rng.sample(live, k=len(live) // 4)  # some repeated
        rng.shuffle(live)
        for n in live:
            committed = max(committed, n)
            shown += seqs(s.offer_live(msg(n)))
            if s.has_gap and rng.random() < 0.5:
                shown += seqs(s.accept_catch_up([msg(k) for k in range(s.last_seq + 1, committed + 1)]))
        shown += seqs(s.accept_catch_up([msg(k) for k in range(s.last_seq + 1, total + 1)]))
        assert shown == list(range(1, total + 1))


def test_doctor_evaluation_counts_misses_repeats_and_disorder() -> None:
    def d(seq: int, source: str = "live") -> Delivery:
        return Delivery("new", source, msg(seq))  # type: ignore[arg-type]

    clean = evaluate({1, 2, 3}, [d(1), d(2, "catch-up"), d(3)], reconnections=1, duplicates_suppressed=0,
                     seconds=1)
    assert clean.ok and (clean.received_live, clean.recovered_by_catch_up) == (2, 1)
    bad = evaluate({1, 2, 3, 4}, [d(1), d(3), d(2), d(3)], reconnections=0, duplicates_suppressed=0,
                   seconds=1)
    assert (bad.missed, bad.duplicated, bad.out_of_order) == (1, 1, 1)
    assert not bad.ok


def test_backoff_grows_exponentially_to_a_cap_and_resets() -> None:
    b = Backoff(initial=1.0, maximum=8.0)
    delays = [b.next_delay() for _ in range(6)]
    caps = [1, 2, 4, 8, 8, 8]
    assert all(cap / 2 <= got <= cap for got, cap in zip(delays, caps, strict=True))
    b.reset()
    assert b.next_delay() <= 1.0
