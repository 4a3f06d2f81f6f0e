"""Identity-based policies and their evaluation, as IAM evaluates them for one principal.

* An explicit ``Deny`` that matches wins; otherwise an ``Allow`` that matches is needed;
  otherwise the request is implicitly denied.
* ``Action``/``NotAction`` match case-insensitively with ``*`` and ``?``;
  ``Resource``/``NotResource`` match ARN part by part, case-sensitively, with ``*`` and ``?``.
* ``Condition`` as :mod:`._conditions` evaluates it. A statement whose condition uses an
  operator that is not implemented never allows, and always denies (strict both ways).

:func:`parse_statements` refuses (``PolicyError``) what cannot be evaluated faithfully: a
``Principal`` in an identity policy, policy variables (``${aws:username}``), unknown
statement elements or operators, a non-2012-10-17 version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cloudchat_local.errors import PolicyError

from ._conditions import UNKNOWN, ContextValue, arn_like, condition_matches, glob_match, is_supported_operator

__all__ = [
    "AuthzRequest",
    "Decision",
    "Statement",
    "evaluate",
    "parse_statements",
]

_ELEMENTS: Final = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)


@dataclass(frozen=True)
class Statement:
    """One statement. ``sid`` is its ``Sid``, or ``#<index>`` when it has none."""

    sid: str
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    condition: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Sid": self.sid, "Effect": self.effect}
        for name, value in (("Action", self.actions), ("NotAction", self.not_actions),
                            ("Resource", self.resources), ("NotResource", self.not_resources)):
            if value:
                out[name] = list(value)
        if self.condition:
            out["Condition"] = {k: dict(v) for k, v in self.condition.items()}
        return out

    def action_matches(self, action: str) -> bool:
        if self.actions:
            return any(glob_match(p, action, ignore_case=True) for p in self.actions)
        return not any(glob_match(p, action, ignore_case=True) for p in self.not_actions)

    def resource_matches(self, resource: str) -> bool:
        if self.resources:
            return any(_resource_match(p, resource) for p in self.resources)
        return not any(_resource_match(p, resource) for p in self.not_resources)


def _resource_match(pattern: str, resource: str) -> bool:
    if pattern == "*":
        return True
    if not resource.startswith("arn:"):
        return glob_match(pattern, resource)
    return arn_like(pattern, resource)


@dataclass(frozen=True)
class AuthzRequest:
    """One authorization check: an IAM action on one resource, with its context keys
    (lower-case names)."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: ``Sid`` (or ``#<index>``) of every Allow statement that matched (when allowed).
    allowed_by: tuple[str, ...] = ()
    explicit_deny: bool = False


def evaluate(statements: Sequence[Statement], request: AuthzRequest) -> Decision:
    allowed_by: list[str] = []
    for statement in statements:
        if not statement.action_matches(request.action):
            continue
        if not statement.resource_matches(request.resource):
            continue
        matched = condition_matches(statement.condition, request.context) if statement.condition else True
        if statement.effect == "Deny":
            if matched is True or matched is UNKNOWN:
                return Decision(False, explicit_deny=True)
        elif matched is True:
            allowed_by.append(statement.sid)
    return Decision(bool(allowed_by), tuple(allowed_by))


# --------------------------------------------------------------------------- parsing


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if not isinstance(item, str) or not item:
            raise PolicyError(f"{where}: {name} must be strings, not {item!r} "
                              "(an unresolved intrinsic function?)")
        if "${" in item:
            raise PolicyError(f"{where}: {name} {item!r} uses a policy variable; the local "
                              "stack cannot evaluate policy variables")
        out.append(item)
    return tuple(out)


def _condition(value: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{where}: Condition must be a mapping")
    out: dict[str, dict[str, Any]] = {}
    for operator, keys in value.items():
        if not is_supported_operator(str(operator)):
            raise PolicyError(f"{where}: condition operator {operator!r} is not supported "
                              "locally, so this statement cannot be evaluated")
        if not isinstance(keys, Mapping):
            raise PolicyError(f"{where}: Condition.{operator} must map keys to values")
        for key, wanted in keys.items():
            values = wanted if isinstance(wanted, list) else [wanted]
            for item in values:
                if not isinstance(item, str | bool | int | float):
                    raise PolicyError(f"{where}: Condition.{operator}.{key} has {item!r} "
                                      "(an unresolved intrinsic function?)")
                if isinstance(item, str) and "${" in item:
                    raise PolicyError(f"{where}: Condition.{operator}.{key} uses a policy "
                                      "variable; the local stack cannot evaluate it")
        out[str(operator)] = {str(k): v for k, v in keys.items()}
    return out


def parse_statements(document: Any, where: str, start: int = 0) -> list[Statement]:
    """The statements of one policy document (``{"Version", "Statement"}``)."""
    if not isinstance(document, Mapping) or "Statement" not in document:
        raise PolicyError(f"{where}: not a policy document ({{Version, Statement}}): "
                          f"{document!r:.120}")
    version = document.get("Version")
    if version != "2012-10-17":
        raise PolicyError(f"{where}: Version must be \"2012-10-17\" (got {version!r})")
    raw = document["Statement"]
    items: Iterable[Any] = raw if isinstance(raw, list) else [raw]
    statements = []
    for offset, item in enumerate(items):
        index = start + offset
        label = f"{where}.Statement[{offset}]"
        if not isinstance(item, Mapping):
            raise PolicyError(f"{label}: a statement must be a mapping")
        unknown = set(item) - _ELEMENTS
        if unknown:
            raise PolicyError(f"{label}: {', '.join(sorted(map(str, unknown)))} cannot be "
                              "evaluated in an identity-based policy")
        effect = item.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"{label}: Effect must be Allow or Deny")
        if ("Action" in item) == ("NotAction" in item):
            raise PolicyError(f"{label}: exactly one of Action / NotAction is required")
        if ("Resource" in item) == ("NotResource" in item):
            raise PolicyError(f"{label}: exactly one of Resource / NotResource is required")
        statements.append(Statement(
            sid=str(item.get("Sid") or f"#{index}"),
            effect=effect,
            actions=_strings(item["Action"], label, "Action") if "Action" in item else (),
            not_actions=_strings(item["NotAction"], label, "NotAction") if "NotAction" in item else (),
            resources=_strings(item["Resource"], label, "Resource") if "Resource" in item else (),
            not_resources=(_strings(item["NotResource"], label, "NotResource")
                           if "NotResource" in item else ()),
            condition=_condition(item["Condition"], label) if "Condition" in item else {},
        ))
    return statements


def statements_from_json(items: Iterable[Mapping[str, Any]]) -> list[Statement]:
    """Statements as :meth:`Statement.to_json` wrote them (already validated)."""
    return parse_statements({"Version": "2012-10-17", "Statement": list(items)}, "policy")
