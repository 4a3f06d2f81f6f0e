"""verify's runner: a check that hangs fails at its timeout, an error fails only its own check,
and a check whose prerequisite failed is skipped (never run against a half-set-up stack)."""

from __future__ import annotations

import asyncio
import time

import pytest

from cloudchat_cli.errors import CheckFailed
from cloudchat_cli.verify_run import Report, Runner, expect, poll


async def _hang() -> str:
    await asyncio.sleep(3600)
    return "never"


async def _ok() -> str:
    return "fine"


async def _wrong() -> None:
    expect(1 == 2, "one is not two")


async def _broken() -> None:
    raise ConnectionResetError("reset by peer")


def test_checks_pass_fail_time_out_and_skip() -> None:
    report = Report(target={}, prefix="p")
    ran: list[str] = []

    async def scenario() -> None:
        run = Runner(report, timeout=0.2, on_done=lambda c: ran.append(c.name))
        assert await run.check("ok", "api", _ok) == "fine"
        assert await run.check("hang", "api", _hang) is None
        await run.check("wrong", "api", _wrong)
        await run.check("broken", "api", _broken)
        await run.check("after hang", "api", _ok, needs=["hang"])
        await run.check("after ok", "api", _ok, needs=["ok"])

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 5
    got = {c.name: (c.status, c.error) for c in report.checks}
    assert got == {
        "ok": ("pass", None),
        "hang": ("fail", "no answer within 0.2 s"),
        "wrong": ("fail", "one is not two"),
        "broken": ("fail", "ConnectionResetError: reset by peer"),
        "after hang": ("skip", "skipped: needs hang"),
        "after ok": ("pass", None),
    }
    assert ran == list(got)
    assert not report.ok and report.counts() == {"pass": 2, "fail": 3, "skip": 1}
    assert report.as_dict()["checks"][0]["detail"] == "fine"


def test_a_report_with_no_checks_is_not_ok() -> None:
    assert not Report(target={}, prefix="p").ok


def test_poll_gives_up_with_the_last_value() -> None:
    reads = []

    async def read() -> int:
        reads.append(1)
        return len(reads)

    async def scenario() -> None:
        assert await poll(read, lambda n: n >= 3, within=5, what="three", interval=0.01) == 3
        with pytest.raises(CheckFailed, match=r"a negative count within 0\.05 s; last seen:"):
            await poll(read, lambda n: n < 0, within=0.05, what="a negative count", interval=0.01)

    asyncio.run(scenario())
