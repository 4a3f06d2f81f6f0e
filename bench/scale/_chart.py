"""The chart of cost per message against members (log-log), as a hand-written SVG: matplotlib
is not a dependency of this repository. One line per cost component, as its ratio to the
cost at 10 members, plus the 2x target."""

from __future__ import annotations

import math
from typing import Any

from ._summary import COMPONENTS, TARGET_RATIO

W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 400, 70, 170, 40, 50
COLOURS = {"write_units": "#1f77b4", "appsync_requests": "#d62728", "consumer_cpu_ms": "#2ca02c"}


def _scale(lo: float, hi: float, a: float, b: float) -> Any:
    span = math.log10(hi) - math.log10(lo) or 1.0
    return lambda v: a + (math.log10(v) - math.log10(lo)) / span * (b - a)


def svg(document: dict[str, Any], case: str = "message_new_window") -> str:
    rows = [r for r in document["cost_per_message"][case]
            if r.get("ratio_to_10_members") and "error" not in r]
    points = {c: [(r["members"], r["ratio_to_10_members"][c]) for r in rows
                  if r["ratio_to_10_members"][c]] for c in COMPONENTS}
    xs = [m for r in document["sizes"] for m in [r["members"]]] or [2, 10]
    ys = [y for p in points.values() for _, y in p] + [TARGET_RATIO, 1.0]
    x_lo, x_hi = min(xs), max(xs)
    y_lo = 10 ** math.floor(math.log10(min(ys)))
    y_hi = 10 ** math.ceil(math.log10(max(ys)))
    x = _scale(x_lo, x_hi, LEFT, W - RIGHT)
    y = _scale(y_lo, y_hi, H - BOTTOM, TOP)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{LEFT}" y="22" font-size="14">Cost per message / cost at 10 members '
           f'({case.replace("_", " ")}), log-log</text>']
    for e in range(round(math.log10(y_lo)), round(math.log10(y_hi)) + 1):
        yy = y(10 ** e)
        out.append(f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{W - RIGHT}" y2="{yy:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 8}" y="{yy + 4:.1f}" text-anchor="end">{10 ** e:g}x</text>')
    for m in xs:
        xx = x(m)
        out.append(f'<line x1="{xx:.1f}" y1="{TOP}" x2="{xx:.1f}" y2="{H - BOTTOM}" stroke="#eee"/>')
        out.append(f'<text x="{xx:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{m:,}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 12}" text-anchor="middle">members</text>')
    ty = y(TARGET_RATIO)
    out.append(f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{W - RIGHT}" y2="{ty:.1f}" '
               f'stroke="#000" stroke-dasharray="6 4"/>')
    out.append(f'<text x="{W - RIGHT + 6}" y="{ty + 4:.1f}">target: 2x</text>')
    for i, (c, pts) in enumerate(points.items()):
        if not pts:
            continue
        path = " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[c]}" stroke-width="2"/>')
        out += [f'<circle cx="{x(m):.1f}" cy="{y(v):.1f}" r="3" fill="{COLOURS[c]}"/>' for m, v in pts]
        out.append(f'<text x="{W - RIGHT + 6}" y="{TOP + 20 + 18 * i}" fill="{COLOURS[c]}">{c}</text>')
    failed = [r["members"] for r in document["cost_per_message"][case] if "error" in r]
    if failed:
        out.append(f'<text x="{W - RIGHT + 6}" y="{TOP + 90}">fails today:</text>')
        names = ", ".join(f"{m:,}" for m in failed)
        out.append(f'<text x="{W - RIGHT + 6}" y="{TOP + 106}">{names} members</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _ratio(row: dict[str, Any], key: str) -> str:
    ratios = row.get("ratio_to_10_members") or {}
    return f" ({ratios[key]:g}x)" if ratios.get(key) is not None else ""


def markdown(document: dict[str, Any]) -> str:
    """The tables of docs/performance.md ("Scale"): per message (both cases), per operation."""
    lines = ["| members | case | send: DynamoDB requests / write units | consumer: DynamoDB "
             "requests | write units (table + GSIs) | AppSync requests | SNS publishes | "
             "consumer CPU |", "|---:|---|---|---:|---:|---:|---:|---:|"]
    for s in document["sizes"]:
        if "error" in s and "message_in_window" not in s:
            lines.append(f"| {s['members']:,} | fails today | {s['error']} | | | | | |")
            continue
        for case, label in (("message_in_window", "in window"), ("message_new_window", "new window")):
            m = s[case]
            row = next(r for r in document["cost_per_message"][case] if r["members"] == s["members"])
            lines.append(
                f"| {s['members']:,} | {label} | {m['send']['dynamodb_requests']} / "
                f"{m['send']['write_units_with_indexes']} | {m['consumer']['dynamodb_requests']:,} | "
                f"{row['write_units']:,}{_ratio(row, 'write_units')} | "
                f"{row['appsync_requests']:,}{_ratio(row, 'appsync_requests')} | "
                f"{m['consumer']['sns_publishes']:,} | "
                f"{row['consumer_cpu_ms']:,.1f} ms{_ratio(row, 'consumer_cpu_ms')} |")
    lines += ["", "| members | conversation list: requests / read units / answer | member list: "
              "requests / read units / answer | conversation item |", "|---:|---|---|---:|"]
    for s in document["sizes"]:
        if "conversation_list" not in s:
            lines.append(f"| {s['members']:,} | (not created) | (not created) | over 400 KB |")
            continue
        c, m = s["conversation_list"], s["member_list"]
        lines.append(f"| {s['members']:,} | {c['dynamodb_requests']} / {c['read_units']:g} / "
                     f"{c['response_bytes'] / 1024:,.0f} KB | {m['dynamodb_requests']} / "
                     f"{m['read_units']:g} / {m['response_bytes'] / 1024:,.1f} KB | "
                     f"{s['conversation_item_bytes'] / 1024:,.1f} KB |")
    return "\n".join(lines) + "\n"
