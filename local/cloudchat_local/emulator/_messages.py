"""Request errors worded the way AppSync (graphql-java underneath) words them.

graphql-core finds the same problems as graphql-java but phrases them differently; clients
and people searching error texts expect AppSync's phrasing, e.g.::

    Validation error of type FieldUndefined: Field 'x' in type 'Query' is undefined @ 'x'
    Variable 'id' has coerced Null value for NonNull type 'ID!'
    Invalid Syntax : offending token '}' at line 1 column 9

Errors are rendered as AppSync renders request errors:
``{"path": null, "data": null, "errorType", "errorInfo": null, "locations", "message"}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    Node,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    print_ast,
    visit,
)

VALIDATION_ERROR: Final = "ValidationError"
"""errorType given to request (syntax/validation/variable) errors."""


def _locations(error: GraphQLError) -> list[dict[str, Any]] | None:
    if not error.locations:
        return None
    return [{"line": loc.line, "column": loc.column, "sourceName": None} for loc in error.locations]


def request_error(
    message: str, locations: list[dict[str, Any]] | None, error_type: str | None = VALIDATION_ERROR
) -> dict[str, Any]:
    return {
        "path": None,
        "data": None,
        "errorType": error_type,
        "errorInfo": None,
        "locations": locations,
        "message": message,
    }


# --- syntax -----------------------------------------------------------------------------

_PUNCT = set("!$&()[]{}:=@|")


def syntax_error(error: GraphQLError, query: str) -> dict[str, Any]:
    """``Invalid Syntax : offending token 'x' at line L column C``."""
    position = next(iter(error.positions)) if error.positions else len(query)
    line, column = (error.locations[0].line, error.locations[0].column) if error.locations else (1, 1)
    token = _token_at(query, position)
    message = f"Invalid Syntax : offending token '{token}' at line {line} column {column}"
    return request_error(message, _locations(error))


def _token_at(text: str, pos: int) -> str:
    if pos >= len(text):
        return "<EOF>"
    if text.startswith("...", pos):
        return "..."
    if text[pos] in _PUNCT:
        return text[pos]
    if text[pos] == '"':
        end = text.find('"', pos + 1)
        return text[pos : end + 1] if end != -1 else text[pos:]
    end = pos
    while end < len(text) and not text[end].isspace() and text[end] not in _PUNCT:
        end += 1
    return text[pos:end] or text[pos]


# --- validation -------------------------------------------------------------------------


class _Where:
    """For nodes of interest: the field path, the enclosing argument and its input type."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, targets: set[int]):
        self.paths: dict[int, str] = {}
        self.args: dict[int, str] = {}
        self.types: dict[int, str] = {}
        type_info = TypeInfo(schema)
        stack: list[str] = []
        arg_stack: list[str] = []
        where = self

        class _Visitor(Visitor):
            def enter(self, node: Node, *_args: Any) -> None:
                if isinstance(node, OperationDefinitionNode | FragmentDefinitionNode):
                    stack.clear()
                if isinstance(node, FieldNode):
                    stack.append(node.name.value)
                if isinstance(node, ArgumentNode):
                    arg_stack.append(node.name.value)
                if id(node) in targets:
                    where.paths[id(node)] = "/".join(stack)
                    if arg_stack:
                        where.args[id(node)] = arg_stack[-1]
                    input_type = type_info.get_input_type()
                    if input_type is not None:
                        where.types[id(node)] = str(input_type)

            def leave(self, node: Node, *_args: Any) -> None:
                if isinstance(node, FieldNode) and stack:
                    stack.pop()
                if isinstance(node, ArgumentNode) and arg_stack:
                    arg_stack.pop()

        visit(document, TypeInfoVisitor(type_info, _Visitor()))


_Rule = tuple[re.Pattern[str], Callable[[re.Match[str], Node | None, _Where], str]]


def _path(node: Node | None, where: _Where) -> str:
    return where.paths.get(id(node), "") if node is not None else ""


_RULES: Final[list[_Rule]] = [
    (
        re.compile(r"^Cannot query field '(?P<f>[^']+)' on type '(?P<t>[^']+)'\."),
        lambda m, n, w: (
            f"Validation error of type FieldUndefined: Field '{m['f']}' in type '{m['t']}' "
            f"is undefined @ '{_path(n, w)}'"
        ),
    ),
    (
        re.compile(r"^Unknown argument '(?P<a>[^']+)' on field '[^']+'\."),
        lambda m, n, w: (
            f"Validation error of type UnknownArgument: Unknown field argument {m['a']} @ '{_path(n, w)}'"
        ),
    ),
    (
        re.compile(r"^Argument '[^(]+\((?P<a>[^:)]+):\)' of type '[^']+' is required"),
        lambda m, n, w: (
            f"Validation error of type MissingFieldArgument: Missing field argument {m['a']} "
            f"@ '{_path(n, w)}'"
        ),
    ),
    (
        re.compile(r"^Field '(?P<f>[^']+)' of type '(?P<t>[^']+)' must have a selection of subfields"),
        lambda m, n, w: (
            f"Validation error of type SubSelectionRequired: Sub selection required for type "
            f"{m['t']} of field {m['f']} @ '{_path(n, w)}'"
        ),
    ),
    (
        re.compile(r"^Field '(?P<f>[^']+)' must not have a selection since type '(?P<t>[^']+)' has no"),
        lambda m, n, w: (
            f"Validation error of type SubSelectionNotAllowed: Sub selection not allowed on "
            f"leaf type {m['t']} of field {m['f']} @ '{_path(n, w)}'"
        ),
    ),
    (
        re.compile(r"^Unknown type '(?P<t>[^']+)'\."),
        lambda m, n, w: f"Validation error of type UnknownType: Unknown type {m['t']}",
    ),
    (
        re.compile(r"^Variable '\$(?P<v>[^']+)' is never used"),
        lambda m, n, w: f"Validation error of type UnusedVariable: Unused variable {m['v']}",
    ),
    (
        re.compile(r"^Variable '\$(?P<v>[^']+)' is not defined"),
        lambda m, n, w: (
            f"Validation error of type UndefinedVariable: Undefined variable {m['v']} @ '{_path(n, w)}'"
        ),
    ),
    (
        re.compile(
            r"^Variable '\$[^']+' of type '(?P<t>[^']+)' used in position expecting type "
            r"'(?P<e>[^']+)'"
        ),
        lambda m, n, w: (
            f"Validation error of type VariableTypeMismatch: Variable type '{m['t']}' doesn't "
            f"match expected type '{m['e']}' @ '{_path(n, w)}'"
        ),
    ),
]

_VALUE_NODE_KINDS: Final = {
    "StringValueNode",
    "IntValueNode",
    "FloatValueNode",
    "BooleanValueNode",
    "NullValueNode",
    "EnumValueNode",
    "ListValueNode",
    "ObjectValueNode",
    "ObjectFieldNode",
}


def _wrong_type(node: Node, where: _Where) -> str:
    arg = where.args.get(id(node), "?")
    type_name = where.types.get(id(node), "?").rstrip("!")
    value = print_ast(node)
    return (
        f"Validation error of type WrongType: argument '{arg}' with value '{value}' is not a "
        f"valid '{type_name}' @ '{_path(node, where)}'"
    )


def validation_errors(
    schema: GraphQLSchema, document: DocumentNode, errors: list[GraphQLError]
) -> list[dict[str, Any]]:
    """graphql-core validation errors as AppSync renders them."""
    targets = {id(n) for e in errors for n in (e.nodes or ())}
    where = _Where(schema, document, targets)
    out = []
    for error in errors:
        node = error.nodes[0] if error.nodes else None
        message = None
        for pattern, render in _RULES:
            match = pattern.match(error.message)
            if match:
                message = render(match, node, where)
                break
        if message is None and node is not None and type(node).__name__ in _VALUE_NODE_KINDS:
            message = _wrong_type(node, where)
        if message is None:
            message = f"Validation error: {error.message}"
        out.append(request_error(message, _locations(error)))
    return out


# --- variables --------------------------------------------------------------------------

_VAR = re.compile(r"^Variable '\$(?P<v>[^']+)' has invalid value: (?P<detail>.*)$", re.S)
_NON_NULL = re.compile(r"non-null type '(?P<t>[^']+)'")
_UNKNOWN_INPUT_FIELD = re.compile(r"^Expected value of type '(?P<t>[^']+)' not to include unknown")


def variable_error(error: GraphQLError) -> dict[str, Any]:
    """A variable coercion error, in AppSync's words (no locations, like AppSync)."""
    match = _VAR.match(error.message)
    if not match:
        return request_error(error.message, None)
    name, detail = match["v"], match["detail"]
    non_null = _NON_NULL.search(detail)
    if non_null and ("to be provided" in detail or "not to be None" in detail):
        message = f"Variable '{name}' has coerced Null value for NonNull type '{non_null['t']}'"
    elif unknown := _UNKNOWN_INPUT_FIELD.match(detail):
        message = (
            f"The variables input contains a field that is not defined for input object "
            f"type '{unknown['t']}' "
        )
    else:
        message = f"Variable '{name}' has an invalid value: {detail}"
    return request_error(message, None)
