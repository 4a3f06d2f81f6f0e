"""Intrinsic functions (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If`` ...), resolved against
values the caller supplies: the ``resolve`` mapping of :mod:`cloudchat_local.template`.

:class:`Intrinsics` is the part of :class:`~cloudchat_local.template.Template` that evaluates
them; it reads the template's ``Parameters``, ``Conditions`` and ``Mappings``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from typing import Any

from cloudchat_local.errors import TemplateError, UnresolvedReference

__all__ = ["Intrinsics", "iter_intrinsics", "to_str"]

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SECRET_REFERENCE = re.compile(
    r"\{\{resolve:secretsmanager:\$\{([A-Za-z0-9]+)\}:SecretString\}\}"
)
_DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:[^}]+\}\}")
_NO_VALUE = object()
_PSEUDO_DEFAULTS = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


class Intrinsics:
    """Evaluates the intrinsic functions of ``document`` (a parsed template)."""

    document: Mapping[str, Any]

    @property
    def parameters(self) -> Mapping[str, Mapping[str, Any]]:
        return dict(self.document.get("Parameters") or {})

    def condition(self, name: str, resolve: Mapping[str, str]) -> bool:
        """Evaluates a named entry of ``Conditions``."""
        conditions = self.document.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"no condition {name!r}")
        return bool(self.evaluate(conditions[name], resolve, where=f"Conditions.{name}"))

    def evaluate(self, value: Any, resolve: Mapping[str, str], *, where: str = "") -> Any:
        """Returns ``value`` with every intrinsic function resolved (see :mod:`cloudchat_local.template`).

        ``{"Ref": "AWS::NoValue"}`` removes the enclosing key or list item.
        """
        result = self._eval(value, resolve, where)
        return None if result is _NO_VALUE else result

    def _eval(self, value: Any, resolve: Mapping[str, str], where: str) -> Any:
        if isinstance(value, list):
            items = [self._eval(item, resolve, where) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, Mapping):
            if isinstance(value, str) and _DYNAMIC_REFERENCE.search(value):
                return _DYNAMIC_REFERENCE.sub(
                    lambda m: self._lookup(m.group(0), resolve, where), value
                )
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" or key == "Condition" or str(key).startswith("Fn::"):
                return self._intrinsic(str(key), arg, resolve, where)
        result = {}
        for key, item in value.items():
            evaluated = self._eval(item, resolve, where)
            if evaluated is not _NO_VALUE:
                result[key] = evaluated
        return result

    def _intrinsic(self, name: str, arg: Any, resolve: Mapping[str, str], where: str) -> Any:
        if name == "Ref":
            return self._ref(str(arg), resolve, where)
        if name == "Condition":
            return self.condition(str(arg), resolve)
        if name == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
            attribute = self._eval(parts[1], resolve, where)
            return self._lookup(f"{parts[0]}.{attribute}", resolve, where)
        if name == "Fn::Sub":
            return self._sub(arg, resolve, where)
        if name == "Fn::If":
            condition, if_true, if_false = arg
            chosen = if_true if self.condition(str(condition), resolve) else if_false
            return self._eval(chosen, resolve, where)
        args = self._eval(arg, resolve, where)
        if name == "Fn::Equals":
            return to_str(args[0]) == to_str(args[1])
        if name == "Fn::Not":
            return not bool(args[0])
        if name == "Fn::And":
            return all(bool(a) for a in args)
        if name == "Fn::Or":
            return any(bool(a) for a in args)
        if name == "Fn::Join":
            return to_str(args[0]).join(to_str(a) for a in args[1])
        if name == "Fn::Select":
            return args[1][int(args[0])]
        if name == "Fn::Split":
            return to_str(args[1]).split(to_str(args[0]))
        if name == "Fn::Base64":
            return base64.b64encode(to_str(args).encode()).decode()
        if name == "Fn::FindInMap":
            mappings = self.document.get("Mappings") or {}
            try:
                return mappings[args[0]][args[1]][args[2]]
            except (KeyError, TypeError) as exc:
                raise UnresolvedReference(f"Mappings.{'.'.join(map(str, args))}", where) from exc
        raise TemplateError(f"{name} is not supported locally{f' (in {where})' if where else ''}")

    def _ref(self, name: str, resolve: Mapping[str, str], where: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        spec = self.parameters.get(name)
        if name in resolve:
            return _parameter_value(spec, resolve[name])
        if name in _PSEUDO_DEFAULTS:
            return _PSEUDO_DEFAULTS[name]
        if isinstance(spec, Mapping) and "Default" in spec:
            return _parameter_value(spec, spec["Default"])
        raise UnresolvedReference(name, where)

    def _lookup(self, key: str, resolve: Mapping[str, str], where: str) -> str:
        if key in resolve:
            return resolve[key]
        raise UnresolvedReference(key, where)

    def _sub(self, arg: Any, resolve: Mapping[str, str], where: str) -> str:
        if isinstance(arg, list):
            text, variables = str(arg[0]), self._eval(arg[1], resolve, where)
        else:
            text, variables = str(arg), {}
        text = _SECRET_REFERENCE.sub(
            lambda m: self._lookup(f"{m.group(1)}.SecretString", resolve, where), text
        )

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return to_str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return self._lookup(name, resolve, where)
            return to_str(self._ref(name, resolve, where))

        result = _SUB_VARIABLE.sub(substitute, text)
        if _DYNAMIC_REFERENCE.search(result):
            result = _DYNAMIC_REFERENCE.sub(lambda m: self._lookup(m.group(0), resolve, where), result)
        return result


def _parameter_value(spec: Any, value: Any) -> Any:
    """A parameter's value as ``Ref`` gives it: a list for ``CommaDelimitedList`` and
    ``List<...>`` parameters, a string otherwise."""
    kind = str(spec.get("Type", "")) if isinstance(spec, Mapping) else ""
    if kind == "CommaDelimitedList" or kind.startswith("List<"):
        if isinstance(value, list):
            return [to_str(v) for v in value]
        return [part.strip() for part in to_str(value).split(",")]
    return value if not isinstance(spec, Mapping) else to_str(value)


def to_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def iter_intrinsics(value: Any, name: str) -> Iterator[Any]:
    """Yields the argument of every ``name`` intrinsic (e.g. ``"Fn::GetAtt"``) inside value."""
    if isinstance(value, list):
        for item in value:
            yield from iter_intrinsics(item, name)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key == name:
                yield item
            yield from iter_intrinsics(item, name)
