"""Issue 15's cost per message (DynamoDB write units, AppSync requests and the consumer's
CPU, each on its own), its ratio to the cost at 10 members, and the target check: at 10,000
members at most 2x the cost at 10."""

from __future__ import annotations

from typing import Any

COMPONENTS = ("write_units", "appsync_requests", "consumer_cpu_ms")
CASES = ("message_in_window", "message_new_window")
BASE, TARGET_SIZE, TARGET_RATIO = 10, 10_000, 2.0


def cost(message: dict[str, Any]) -> dict[str, Any]:
    send, consumer = message["send"], message["consumer"]
    return {
        "write_units": send["write_units_with_indexes"] + consumer["write_units_with_indexes"],
        "appsync_requests": consumer["appsync_requests"],
        "consumer_cpu_ms": consumer["cpu_ms"],
        "dynamodb_requests": send["dynamodb_requests"] + consumer["dynamodb_requests"],
        "sns_publishes": send["sns_publishes"] + consumer["sns_publishes"],
    }


def _ratio(value: float, base: float) -> float | None:
    return round(value / base, 2) if base else None


def summary(sizes: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    for case in CASES:
        rows: list[dict[str, Any]] = []
        base = next((cost(s[case]) for s in sizes if s["members"] == BASE and case in s), None)
        for s in sizes:
            if case not in s:
                rows.append({"members": s["members"], "error": s.get("error", "not measured")})
                continue
            c = cost(s[case])
            ratios = {k: _ratio(c[k], base[k]) for k in COMPONENTS} if base else None
            rows.append({"members": s["members"], **c, "ratio_to_10_members": ratios})
        out[case] = rows
        checks[case] = _check(rows, base)
    return {"cost_per_message": out, "members_that_fit_today": fit(sizes), "target_check": {
        "target": (f"per-message cost at {TARGET_SIZE:,} members at most {TARGET_RATIO:g}x the "
                   f"cost at {BASE} members, for each of {', '.join(COMPONENTS)}"),
        **checks}}


def fit(sizes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How many members the conversation item holds before DynamoDB's 400 KB limit,
    extrapolated from the item's size at the two largest sizes measured (it grew by one
    member-map entry per member before members left it; now it does not grow: ``members``
    is None, no limit from the item)."""
    from ._units import ITEM_LIMIT

    sized = sorted((s["members"], s["conversation_item_bytes"]) for s in sizes
                   if s.get("conversation_item_bytes", 0) <= ITEM_LIMIT
                   and "conversation_item_bytes" in s)
    if len(sized) < 2:
        return None
    (n0, b0), (n1, b1) = sized[-2], sized[-1]
    per_member = (b1 - b0) / (n1 - n0)
    return {"bytes_per_member": round(per_member, 1),
            "members": n1 + int((ITEM_LIMIT - b1) // per_member) if per_member > 0.5 else None}


def _check(rows: list[dict[str, Any]], base: dict[str, Any] | None) -> dict[str, Any]:
    if base is None:
        return {"met": None, "why": f"{BASE} members not measured (no base)"}
    at = next((r for r in rows if r["members"] == TARGET_SIZE), None)
    if at is None:
        return {"met": None, "why": f"{TARGET_SIZE:,} members not in --sizes"}
    if "error" in at:
        largest = max((r for r in rows if "error" not in r), key=lambda r: r["members"])
        return {"met": False, "why": f"{TARGET_SIZE:,} members fail today: {at['error']}",
                "largest_measured": largest["members"],
                "ratio_at_largest_measured": largest["ratio_to_10_members"]}
    # (on the figures themselves: the ratios shown are rounded)
    return {"met": all(at[k] <= TARGET_RATIO * base[k] for k in COMPONENTS),
            "ratio_at_10000": at["ratio_to_10_members"]}
