"""Lambda event filtering (``FilterCriteria``) for the local stream pollers: one filter
pattern, in the EventBridge pattern syntax Lambda uses, matched against a record as the
function would receive it (:mod:`cloudchat_local._streams` applies them before batching)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from cloudchat_local.errors import TemplateError

__all__ = ["FilterPattern"]


class FilterPattern:
    """One Lambda event filter pattern (the EventBridge pattern syntax), matched against a
    record as the function would receive it.

    Supported: nested objects; lists of alternatives; literal strings, numbers, booleans and
    null; ``prefix``, ``suffix``, ``equals-ignore-case``, ``anything-but`` (values, a list,
    or ``prefix``/``suffix``), ``numeric`` (``=``, ``<``, ``<=``, ``>``, ``>=`` pairs),
    ``exists``, ``wildcard``, and ``$or``. Anything else raises TemplateError at startup.
    """

    def __init__(self, pattern: Any, where: str = "") -> None:
        if isinstance(pattern, str):
            try:
                pattern = json.loads(pattern)
            except ValueError as exc:
                raise TemplateError(f"{where}: filter pattern is not JSON: {exc}") from exc
        if not isinstance(pattern, Mapping):
            raise TemplateError(f"{where}: a filter pattern must be a JSON object")
        self.pattern = dict(pattern)
        self.where = where
        self._check(self.pattern)

    def matches(self, record: Mapping[str, Any]) -> bool:
        return _match_object(self.pattern, record)

    def _check(self, pattern: Mapping[str, Any]) -> None:
        for key, value in pattern.items():
            if key == "$or":
                if not isinstance(value, list) or not all(isinstance(p, Mapping) for p in value):
                    raise TemplateError(f"{self.where}: $or takes a list of patterns")
                for sub in value:
                    self._check(sub)
            elif isinstance(value, Mapping):
                self._check(value)
            elif isinstance(value, list):
                for matcher in value:
                    if isinstance(matcher, Mapping):
                        _check_matcher(matcher, self.where)
            else:
                raise TemplateError(f"{self.where}: {key!r} must map to an object or a list")


_MATCHERS: Final = {
    "prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists", "wildcard",
}


def _check_matcher(matcher: Mapping[str, Any], where: str) -> None:
    if len(matcher) != 1 or next(iter(matcher)) not in _MATCHERS:
        raise TemplateError(f"{where}: unsupported filter matcher {dict(matcher)!r}")
    (name, arg), = matcher.items()
    if name == "numeric" and (not isinstance(arg, list) or len(arg) % 2):
        raise TemplateError(f"{where}: numeric takes [op, value, ...]")


_MISSING: Final = object()


def _match_object(pattern: Mapping[str, Any], value: Any) -> bool:
    for key, expected in pattern.items():
        if key == "$or":
            if not any(_match_object(sub, value) for sub in expected):
                return False
            continue
        actual = value.get(key, _MISSING) if isinstance(value, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if not isinstance(actual, Mapping) or not _match_object(expected, actual):
                return False
        elif not _match_leaf(expected, actual):
            return False
    return True


def _match_leaf(matchers: Sequence[Any], actual: Any) -> bool:
    if actual is _MISSING:
        return any(isinstance(m, Mapping) and m.get("exists") is False for m in matchers)
    values = actual if isinstance(actual, list) else [actual]
    return any(_match_one(m, v) for m in matchers for v in values)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _match_one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, Mapping):
        if isinstance(matcher, int | float) and not isinstance(matcher, bool):
            return _number(value) == float(matcher) and not isinstance(value, str | bool)
        return bool(matcher == value and type(matcher) is type(value)) or (matcher is None and value is None)
    (name, arg), = matcher.items()
    if name == "exists":
        return bool(arg)
    if isinstance(value, Mapping | list):
        return False
    if name == "prefix":
        if isinstance(arg, Mapping):
            return isinstance(value, str) and value.lower().startswith(str(arg["equals-ignore-case"]).lower())
        return isinstance(value, str) and value.startswith(str(arg))
    if name == "suffix":
        if isinstance(arg, Mapping):
            return isinstance(value, str) and value.lower().endswith(str(arg["equals-ignore-case"]).lower())
        return isinstance(value, str) and value.endswith(str(arg))
    if name == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if name == "wildcard":
        import fnmatch

        glob = str(arg).replace("[", "[[]").replace("?", "[?]")  # only * is special
        return isinstance(value, str) and fnmatch.fnmatchcase(value, glob)
    if name == "anything-but":
        if isinstance(arg, Mapping):
            return not _match_one(arg, value)
        excluded = arg if isinstance(arg, list) else [arg]
        return not any(_match_one(e, value) for e in excluded)
    if name == "numeric":
        number = _number(value) if not isinstance(value, str) else None
        if number is None:
            return False
        ops: dict[str, Callable[[float, float], bool]] = {
            "=": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
        }
        for i in range(0, len(arg), 2):
            op, bound = arg[i], _number(arg[i + 1])
            if op not in ops or bound is None or not ops[op](number, bound):
                return False
        return True
    return False
