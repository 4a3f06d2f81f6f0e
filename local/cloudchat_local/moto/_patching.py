"""What every patch shares: the one lock of the DynamoDB backend, and the record of each
attribute a patch replaced (so :func:`unpatched` can put moto's own back for a while)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Every DynamoDB backend operation (and the GSI lag's bookkeeping) runs under this lock.
LOCK = threading.RLock()

_MISSING: Any = object()


@dataclass(frozen=True)
class _Replaced:
    owner: Any
    name: str
    before: Any  # the owner's own attribute before, or _MISSING (inherited / absent)
    after: Any


_applied: list[_Replaced] = []


def replace(owner: Any, name: str, value: Any) -> None:
    """``setattr(owner, name, value)``, recorded (what was there is kept for :func:`unpatched`)."""
    with LOCK:
        before = vars(owner).get(name, _MISSING)
        _applied.append(_Replaced(owner, name, before, value))
        setattr(owner, name, value)


def applied() -> list[str]:
    """``owner.name`` of every attribute replaced so far, in order."""
    return [f"{getattr(r.owner, '__qualname__', getattr(r.owner, '__name__', r.owner))}.{r.name}"
            for r in _applied]


def _put(owner: Any, name: str, value: Any) -> None:
    if value is _MISSING:
        delattr(owner, name)
    else:
        setattr(owner, name, value)


@contextlib.contextmanager
def unpatched() -> Iterator[None]:
    """moto exactly as released while inside (every replaced attribute put back, newest
    first), then every patch again. Holds the lock throughout: for tests, one thread."""
    with LOCK:
        done = list(_applied)
        for r in reversed(done):
            _put(r.owner, r.name, r.before)
        try:
            yield
        finally:
            for r in done:
                _put(r.owner, r.name, r.after)
