"""The soak's verdict: exactly-once storage, gap-free seqs, what was acknowledged is what was
stored, retries answered alike, complete delivery (live or by catch-up), recovered storms."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.harness import BODY_PAD

from ._run import Soak


def check(soak: Soak, history: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The invariants (any false one fails the run) and the counts behind them, from every
    conversation's history read back from seq 0 and what the run sent and saw."""
    by_cmid: dict[str, list[dict[str, Any]]] = {}
    gap_free = True
    conv_of = {c.id: c for c in soak.conversations}
    bodies_ok = True
    for cid, items in history.items():
        seqs = [int(m["seq"]) for m in items]
        if seqs != list(range(1, len(seqs) + 1)):
            gap_free = False
        for m in items:
            by_cmid.setdefault(str(m.get("clientMessageId")), []).append(m)
            sent_body = f"{m.get('clientMessageId')} {BODY_PAD}"
            if m.get("conversationId") != cid or m.get("body") != sent_body:
                bodies_ok = False
    acked = {c: a for c, a in soak.attempted.items() if a.responses}
    stored_once = stored_twice = not_stored = ack_mismatch = wrong_sender = 0
    for cmid, ack in acked.items():
        found = by_cmid.get(cmid, [])
        if not found:
            not_stored += 1
            continue
        if len(found) > 1:
            stored_twice += 1
            continue
        stored_once += 1
        m = found[0]
        first = ack.responses[0]
        if (m["id"], m["seq"], m["conversationId"]) != (first["id"], first["seq"], ack.conversation.id):
            ack_mismatch += 1
        if m["senderId"] != ack.sender.sub:
            wrong_sender += 1
    phantom = sum(len(v) for k, v in by_cmid.items() if k not in soak.attempted)
    stored_unacked = sum(1 for k in by_cmid if k in soak.attempted and k not in acked)
    retries = Counter(a.mode for a in soak.attempted.values() if a.mode != "once")
    retry_inconsistent = 0
    retry_answers = 0
    for ack in acked.values():
        if len(ack.responses) > 1:
            retry_answers += len(ack.responses) - 1
            if len({(r["id"], r["seq"]) for r in ack.responses}) != 1:
                retry_inconsistent += 1
    # deliveries
    expected = missed = 0
    missed_samples: list[str] = []
    for sub in soak.subscribers:
        items = history[sub.conversation.id]
        expected += len(items)
        for m in items:
            got = sub.ids.get(int(m["seq"]))
            if got is None:
                missed += 1
                if len(missed_samples) < 5:
                    missed_samples.append(f"{sub.user.name} on {conv_of[sub.conversation.id].kind} "
                                          f"{sub.conversation.id}: seq {m['seq']}")
            elif got != m["id"]:
                sub.conflicting += 1
    live = sum(len(s.live_first) for s in soak.subscribers)
    caught = sum(s.caught_up for s in soak.subscribers)
    duplicates_live_live = sum(s.dup_live_live for s in soak.subscribers)
    duplicates_overlap = sum(s.dup_live_catchup for s in soak.subscribers)
    conflicting = sum(s.conflicting for s in soak.subscribers)
    sub_errors = [e for s in soak.subscribers for e in s.errors]
    unexpected = sum(s.unexpected_drops for s in soak.subscribers)
    invariants = {
        "every_send_acknowledged": not soak.unacknowledged and len(acked) == len(soak.attempted),
        "acknowledged_stored_exactly_once": stored_once == len(acked) and not stored_twice
        and not not_stored,
        "stored_matches_acknowledgement": ack_mismatch == 0 and wrong_sender == 0,
        "no_unattempted_messages": phantom == 0,
        "seq_gap_free_per_conversation": gap_free,
        "bodies_decrypt_to_what_was_sent": bodies_ok,
        "retries_return_the_same_message": retry_inconsistent == 0,
        "no_missed_deliveries": missed == 0,
        "no_conflicting_deliveries": conflicting == 0,
        "no_unexpected_disconnects": unexpected == 0,
        "storms_recovered": all(s["all_reconnected_and_caught_up"] for s in soak.storms),
    }
    return {
        "invariants": invariants,
        "messages": {
            "attempted": len(soak.attempted),
            "acknowledged": len(acked),
            "stored": sum(len(v) for v in history.values()),
            "stored_exactly_once": stored_once,
            "stored_more_than_once": stored_twice,
            "acknowledged_not_stored": not_stored,
            "stored_not_acknowledged": stored_unacked,
            "per_conversation_max_seq": max((len(v) for v in history.values()), default=0),
            "per_conversation_min_seq": min((len(v) for v in history.values()), default=0),
        },
        "retries": {
            **{k: retries.get(k, 0) for k in
               ("retry_after_answer", "concurrent_duplicate", "retry_after_lost_answer")},
            "retry_answers_checked": retry_answers,
            "inconsistent": retry_inconsistent,
        },
        "deliveries": {
            "expected": expected,
            "live_first": live,
            "caught_up": caught,
            "caught_up_after_reconnect": sum(s.caught_up_after_reconnect for s in soak.subscribers),
            "missed": missed,
            "missed_samples": missed_samples,
            "duplicates_before_dedupe": duplicates_live_live + duplicates_overlap,
            "duplicates_live_twice": duplicates_live_live,
            "duplicates_live_twice_of_messages_sent_once": sum(
                s.dup_live_live_unretried for s in soak.subscribers),
            "duplicates_live_and_catch_up": duplicates_overlap,
            "conflicting_same_seq": conflicting,
        },
        "subscriber_errors": sub_errors[:5],
    }

