"""Percentiles and the units the JSON reports them in."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values``, nearest rank on the sorted values (the
    element at ``round(q / 100 * (n - 1))``); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds, rounded to 0.01 ms (None stays None)."""
    return None if seconds is None else round(seconds * 1000, 2)


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b`` to two decimals; None when either is missing or ``b`` is 0."""
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)
