"""Per-field authorization with AppSync's multi-auth semantics.

Default mode is Cognito user pools; IAM is the additional mode.

* A field with no auth directive, on a type with none, is reachable by the default mode only.
* ``@aws_iam`` makes a field (or all fields of a type) reachable with IAM.
* ``@aws_cognito_user_pools`` makes it reachable with Cognito, restricted to
  ``cognito_groups`` when given; ``@aws_auth(cognito_groups)`` is the default-mode form.
* Directives on a field replace those on its type; a type's directives apply to each of its
  fields that has none of its own.
* ``@aws_api_key``/``@aws_oidc``/``@aws_lambda`` name modes this emulator does not serve:
  nobody passes them.

A field returning an object type is also denied when that type's own directives exclude the
caller. A denied field resolves to null with errorType ``Unauthorized`` and the message
``Not Authorized to access <field> on type <Type>`` (``<Type>`` is the returned type in the
second case, as AppSync reports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from graphql import GraphQLInterfaceType, GraphQLObjectType, GraphQLSchema, get_named_type

from ._schema import applied_directives, string_list_arg

COGNITO: Final = "AMAZON_COGNITO_USER_POOLS"
IAM: Final = "AWS_IAM"
_AUTH_DIRECTIVES: Final = frozenset(
    {"aws_iam", "aws_cognito_user_pools", "aws_auth", "aws_api_key", "aws_oidc", "aws_lambda"}
)


@dataclass(frozen=True)
class FieldRule:
    """Who may resolve one field. ``cognito_groups`` None means any signed-in user."""

    cognito: bool
    iam: bool
    cognito_groups: frozenset[str] | None = None

    def allows(self, mode: str, groups: frozenset[str]) -> bool:
        if mode == IAM:
            return self.iam
        if mode == COGNITO and self.cognito:
            return self.cognito_groups is None or bool(self.cognito_groups & groups)
        return False


DEFAULT_RULE: Final = FieldRule(cognito=True, iam=False)


def _rule_from(directives: list[str | tuple[str, list[str] | None]]) -> FieldRule:
    cognito = iam = False
    groups: set[str] | None = None
    any_group_free = False
    for item in directives:
        name, arg = item if isinstance(item, tuple) else (item, None)
        if name == "aws_iam":
            iam = True
        elif name in ("aws_cognito_user_pools", "aws_auth"):
            cognito = True
            if arg is None:
                any_group_free = True
            else:
                groups = (groups or set()) | set(arg)
    return FieldRule(
        cognito=cognito,
        iam=iam,
        cognito_groups=None if any_group_free or groups is None else frozenset(groups),
    )


def _auth_directives(element: object) -> list[str | tuple[str, list[str] | None]]:
    out: list[str | tuple[str, list[str] | None]] = []
    for directive in applied_directives(element):
        name = directive.name.value
        if name not in _AUTH_DIRECTIVES:
            continue
        if name in ("aws_cognito_user_pools", "aws_auth"):
            out.append((name, string_list_arg(directive, "cognito_groups")))
        else:
            out.append(name)
    return out


class Authorizer:
    """Answers "may this caller resolve Type.field?" from the schema's directives."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self._rules: dict[tuple[str, str], FieldRule] = {}
        self._type_rules: dict[str, FieldRule] = {}
        self._returns: dict[tuple[str, str], str] = {}
        for type_ in schema.type_map.values():
            if type_.name.startswith("__"):
                continue
            if not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
                continue
            type_directives = _auth_directives(type_)
            if type_directives and isinstance(type_, GraphQLObjectType):
                self._type_rules[type_.name] = _rule_from(type_directives)
            for field_name, field in type_.fields.items():
                own = _auth_directives(field)
                chosen = own or type_directives
                self._rules[(type_.name, field_name)] = _rule_from(chosen) if chosen else DEFAULT_RULE
                self._returns[(type_.name, field_name)] = get_named_type(field.type).name

    def rule(self, type_name: str, field_name: str) -> FieldRule:
        return self._rules.get((type_name, field_name), DEFAULT_RULE)

    def allows(self, type_name: str, field_name: str, mode: str, groups: frozenset[str]) -> bool:
        return self.denial(type_name, field_name, mode, groups) is None

    def denial(self, type_name: str, field_name: str, mode: str, groups: frozenset[str]) -> str | None:
        """None if allowed, else AppSync's message. A field is denied by its own rule, and
        also when it returns an object type whose type-level directives exclude the caller
        (AppSync then names the returned type: "... getUser on type User")."""
        if field_name.startswith("__") or type_name.startswith("__"):
            return None
        if not self.rule(type_name, field_name).allows(mode, groups):
            return denied_message(type_name, field_name)
        returned = self._returns.get((type_name, field_name))
        type_rule = self._type_rules.get(returned) if returned else None
        if type_rule is not None and returned and not type_rule.allows(mode, groups):
            return denied_message(returned, field_name)
        return None


def denied_message(type_name: str, field_name: str) -> str:
    return f"Not Authorized to access {field_name} on type {type_name}"
