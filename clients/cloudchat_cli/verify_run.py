"""The check runner of ``cloudchat verify``: each step a named check with a status, its
duration and its error, run under a timeout, skipped when a check it needs did not pass."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from cloudchat_cli.errors import CheckFailed
from cloudchat_client._transport import EventError

__all__ = ["Check", "Report", "Runner", "describe", "expect", "next_event", "poll"]

T = TypeVar("T")
PASS, FAIL, SKIP = "pass", "fail", "skip"


def expect(condition: object, message: str) -> None:
    """Fails the check (``assert`` would vanish under ``python -O``)."""
    if not condition:
        raise CheckFailed(message)


def describe(exc: BaseException) -> str:
    text = " ".join((str(exc) or type(exc).__name__).split())
    return text if len(text) <= 400 else text[:399] + "…"


@dataclass
class Check:
    name: str
    phase: str
    status: str = SKIP
    seconds: float = 0.0
    error: str | None = None
    detail: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == PASS


@dataclass
class Report:
    target: Mapping[str, Any]
    prefix: str
    checks: list[Check] = field(default_factory=list)
    left_behind: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.checks if c.status == s) for s in (PASS, FAIL, SKIP)}

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "target": dict(self.target), "runPrefix": self.prefix,
                "counts": self.counts(), "seconds": round(self.seconds, 3),
                "checks": [{**asdict(c), "seconds": round(c.seconds, 3)} for c in self.checks],
                "leftBehind": list(self.left_behind)}


class Runner:
    """Runs checks in order; ``timeout`` bounds each one unless the check names its own."""

    def __init__(self, report: Report, timeout: float,
                 on_done: Callable[[Check], None] | None = None) -> None:
        self.report = report
        self.timeout = timeout
        self.on_done = on_done or (lambda check: None)
        self._by_name: dict[str, Check] = {}

    def passed(self, name: str) -> bool:
        check = self._by_name.get(name)
        return check is not None and check.passed

    async def check(self, name: str, phase: str, run: Callable[[], Awaitable[T]], *,
                    needs: Iterable[str] = (), timeout: float | None = None) -> T | None:
        """Runs ``run`` as the check ``name``; its result (a ``str`` becomes the check's detail),
        or None when it failed or was skipped."""
        check = Check(name, phase)
        self.report.checks.append(check)
        self._by_name[name] = check
        missing = [n for n in needs if not self.passed(n)]
        if missing:
            check.error = "skipped: needs " + ", ".join(missing)
            self.on_done(check)
            return None
        limit = timeout if timeout is not None else self.timeout
        started = time.monotonic()
        result: T | None = None
        try:
            result = await asyncio.wait_for(run(), limit)
            check.status = PASS
            if isinstance(result, str):
                check.detail = result
        except TimeoutError:
            check.status = FAIL
            check.error = f"no answer within {limit:g} s"
        except Exception as exc:  # a failed check is reported, never raised
            check.status = FAIL
            check.error = describe(exc) if isinstance(exc, CheckFailed) else \
                f"{type(exc).__name__}: {describe(exc)}"
        finally:
            check.seconds = time.monotonic() - started
        self.on_done(check)
        return result if check.passed else None


async def next_event(queue: asyncio.Queue[Any], match: Callable[[Mapping[str, Any]], bool],
                     what: str) -> Mapping[str, Any]:
    """The first event on ``queue`` that ``match``es (others are skipped); the caller bounds
    the wait. An exception that ended the subscription fails the check."""
    while True:
        item = await queue.get()
        if isinstance(item, Exception):
            raise CheckFailed(f"the subscription ended before {what}: {describe(item)}")
        if isinstance(item, EventError):
            raise CheckFailed(f"an event came with errors instead of {what}: {item.describe()}")
        if match(item):
            return item


async def poll(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, within: float,
               what: str, interval: float = 0.3) -> T:
    """Reads until ``done``, for what AWS makes eventually consistent (GSI reads, counters the
    stream consumer keeps), for at most ``within`` seconds; then fails with the last value."""
    deadline = time.monotonic() + within
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            raise CheckFailed(f"{what} within {within:g} s; last seen: {describe(Exception(repr(value)))}")
        await asyncio.sleep(interval)
