"""commands.fetch_history pages through ``messages`` (100 at most a page) until the limit or
the end, and returns oldest first; no network (a fake API)."""

from __future__ import annotations

import asyncio
from typing import Any

from cloudchat_cli.commands import PAGE_MAX, fetch_history


class FakeApi:
    """``messages`` over seq 1..total, newest first, with opaque page tokens."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.calls: list[dict[str, Any]] = []

    async def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(variables)
        assert 1 <= variables["limit"] <= PAGE_MAX
        top = int(variables["nextToken"]) if variables["nextToken"] else self.total
        seqs = list(range(top, max(0, top - variables["limit"]), -1))
        rest = top - len(seqs)
        return {"messages": {"items": [{"seq": s, "senderId": "u"} for s in seqs],
                             "nextToken": str(rest) if rest > 0 else None}}


def test_a_limit_over_a_page_is_fetched_in_pages() -> None:
    api = FakeApi(total=250)
    got = asyncio.run(fetch_history(api, "c", 230))
    assert [m["seq"] for m in got] == list(range(21, 251))
    assert [c["limit"] for c in api.calls] == [100, 100, 30]


def test_all_stops_at_the_start_of_the_conversation() -> None:
    api = FakeApi(total=205)
    got = asyncio.run(fetch_history(api, "c", None))
    assert [m["seq"] for m in got] == list(range(1, 206))
    assert len(api.calls) == 3


def test_a_short_conversation_is_one_request() -> None:
    api = FakeApi(total=3)
    assert [m["seq"] for m in asyncio.run(fetch_history(api, "c", 20))] == [1, 2, 3]
    assert len(api.calls) == 1
