"""IAM condition operators, as the IAM policy evaluation logic defines them.

A condition block is ``{operator: {key: value-or-values}}``; every operator and every key in
it must match (AND), any of a key's values may match (OR). Condition key *names* are
case-insensitive; values are compared as each operator says.

A key the request does not carry makes its condition false, except for the negated
operators (``StringNotEquals``, ``StringNotLike``, ``ArnNotEquals``, ``ArnNotLike``,
``NumericNotEquals``, ``NotIpAddress``...), which are true then, for ``...IfExists``
operators (true when absent), for ``Null`` (which tests presence) and for
``ForAllValues:`` (vacuously true). An operator this module does not implement evaluates to
:data:`UNKNOWN`: the caller must treat the statement strictly (an Allow does not match, a
Deny does), never as a plain match.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Final, TypeAlias

__all__ = ["UNKNOWN", "ContextValue", "condition_matches", "glob_match", "is_supported_operator"]

#: A request context value: one string, or several for multivalued keys.
ContextValue: TypeAlias = str | Sequence[str]


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one."""
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def arn_like(pattern: str, value: str) -> bool:
    """ArnLike: the six colon-separated parts match one by one (the last may hold colons)."""
    if pattern == "*":
        return True
    want = pattern.split(":", 5)
    have = value.split(":", 5)
    if len(want) != 6 or len(have) != 6:
        return False
    return all(glob_match(w, h) for w, h in zip(want, have, strict=True))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def match(want: str, have: str) -> bool:
        a, b = _number(have), _number(want)
        return a is not None and b is not None and compare(a, b)

    return match


def _ip(want: str, have: str) -> bool:
    try:
        return ipaddress.ip_address(have) in ipaddress.ip_network(want, strict=False)
    except ValueError:
        return False


def _bool(want: str, have: str) -> bool:
    return want.lower() == have.lower() and want.lower() in ("true", "false")


#: operator -> (value test, negated). A negated operator matches when no value tests true.
_OPERATORS: Final[Mapping[str, tuple[Callable[[str, str], bool], bool]]] = {
    "stringequals": (lambda w, h: w == h, False),
    "stringnotequals": (lambda w, h: w == h, True),
    "stringequalsignorecase": (lambda w, h: w.lower() == h.lower(), False),
    "stringnotequalsignorecase": (lambda w, h: w.lower() == h.lower(), True),
    "stringlike": (lambda w, h: glob_match(w, h), False),
    "stringnotlike": (lambda w, h: glob_match(w, h), True),
    "numericequals": (_numeric(lambda a, b: a == b), False),
    "numericnotequals": (_numeric(lambda a, b: a == b), True),
    "numericlessthan": (_numeric(lambda a, b: a < b), False),
    "numericlessthanequals": (_numeric(lambda a, b: a <= b), False),
    "numericgreaterthan": (_numeric(lambda a, b: a > b), False),
    "numericgreaterthanequals": (_numeric(lambda a, b: a >= b), False),
    "bool": (_bool, False),
    "arnequals": (arn_like, False),
    "arnlike": (arn_like, False),
    "arnnotequals": (arn_like, True),
    "arnnotlike": (arn_like, True),
    "ipaddress": (_ip, False),
    "notipaddress": (_ip, True),
}


def _split(operator: str) -> tuple[str | None, str, bool]:
    """``ForAnyValue:StringLikeIfExists`` -> (``foranyvalue``, ``stringlike``, True)."""
    qualifier, _, name = operator.rpartition(":")
    name = name.lower()
    if_exists = name.endswith("ifexists") and name != "null"
    if if_exists:
        name = name[: -len("ifexists")]
    return (qualifier.lower() or None), name, if_exists


def is_supported_operator(operator: str) -> bool:
    qualifier, name, if_exists = _split(operator)
    if qualifier not in (None, "foranyvalue", "forallvalues"):
        return False
    if name == "null":
        return qualifier is None and not if_exists
    return name in _OPERATORS


def _values(value: object) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        else:
            out.append(str(item))
    return out


def _one_key(operator: str, wanted: list[str], present: ContextValue | None) -> bool | _Unknown:
    qualifier, name, if_exists = _split(operator)
    if not is_supported_operator(operator):
        return UNKNOWN
    if name == "null":
        absent = present is None or (not isinstance(present, str) and len(present) == 0)
        return any((w.lower() == "true") == absent for w in wanted)
    test, negated = _OPERATORS[name]
    if qualifier is None:
        if present is None:
            return negated or if_exists
        have = [present] if isinstance(present, str) else list(present)
        hit = any(test(w, h) for w in wanted for h in have)
        return not hit if negated else hit
    have = [] if present is None else ([present] if isinstance(present, str) else list(present))
    if qualifier == "forallvalues":
        # Every request value matches some policy value (negated: none does).
        return all((not any(test(w, h) for w in wanted)) if negated
                   else any(test(w, h) for w in wanted) for h in have)
    # ForAnyValue: at least one request value matches (negated: one matches no policy value).
    return any((not any(test(w, h) for w in wanted)) if negated
               else any(test(w, h) for w in wanted) for h in have)


def condition_matches(
    condition: Mapping[str, Mapping[str, object]], context: Mapping[str, ContextValue]
) -> bool | _Unknown:
    """True when every operator and key of a statement's ``Condition`` matches ``context``
    (whose keys are lower-case); :data:`UNKNOWN` if an operator is not implemented."""
    result: bool | _Unknown = True
    for operator, keys in condition.items():
        for key, value in keys.items():
            outcome = _one_key(operator, _values(value), context.get(key.lower()))
            if outcome is UNKNOWN:
                return UNKNOWN
            if outcome is False:
                result = False
    return result

