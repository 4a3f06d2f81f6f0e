"""Walking selection sets over already-resolved JSON, for subscriptions.

AppSync publishes what a mutation *returned to its caller* and shapes it with each
subscription's selection set:

* :func:`published_payload` turns the mutation's response value into the published object,
  holding only what the mutation selected. It stays keyed by the mutation's *response*
  names: a field the mutation aliased is published under its alias, so subscribers, who
  read field names, get null for it, as publicly reported of AppSync
  (aws/aws-appsync-community#160).
* :func:`project` resolves a subscription's selection set against that object. A field the
  mutation did not select is null; a null in a non-null position becomes AppSync's
  ``Cannot return null for non-nullable type: 'T' within parent 'P' (/a/b)`` error and the
  null propagates to the nearest nullable parent, as in GraphQL execution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
)

from cloudchat_local.errors import NullInNonNull


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The document's fragment definitions by name."""
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _included(
    node: FieldNode | InlineFragmentNode | FragmentSpreadNode, variables: Mapping[str, Any]
) -> bool:
    for directive in node.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            continue
        value: Any = None
        for arg in directive.arguments or ():
            if arg.name.value == "if":
                if isinstance(arg.value, BooleanValueNode):
                    value = arg.value.value
                elif isinstance(arg.value, VariableNode):
                    value = variables.get(arg.value.name.value)
        if name == "skip" and value is True:
            return False
        if name == "include" and value is not True:
            return False
    return True


def collect_fields(
    schema: GraphQLSchema,
    runtime_type: GraphQLObjectType,
    selection_sets: Sequence[SelectionSetNode],
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> dict[str, list[FieldNode]]:
    """Fields by response key, fragments expanded for ``runtime_type``."""
    fields: dict[str, list[FieldNode]] = {}
    visited: set[str] = set()

    def matches(condition: str | None) -> bool:
        if condition is None or condition == runtime_type.name:
            return True
        cond_type = schema.get_type(condition)
        if not isinstance(cond_type, GraphQLInterfaceType | GraphQLUnionType):
            return False
        return schema.is_sub_type(cond_type, runtime_type)

    def walk(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if not isinstance(selection, FieldNode | InlineFragmentNode | FragmentSpreadNode):
                continue
            if not _included(selection, variables):
                continue
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                cond = selection.type_condition.name.value if selection.type_condition else None
                if matches(cond):
                    walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if name in visited or fragment is None:
                    continue
                visited.add(name)
                if matches(fragment.type_condition.name.value):
                    walk(fragment.selection_set)

    for selection_set in selection_sets:
        walk(selection_set)
    return fields


def _runtime_type(
    schema: GraphQLSchema, type_: GraphQLOutputType, value: Mapping[str, Any]
) -> GraphQLObjectType | None:
    named = get_named_type(type_)
    if isinstance(named, GraphQLObjectType):
        return named
    if isinstance(named, GraphQLAbstractType):
        found = schema.get_type(str(value.get("__typename", "")))
        if isinstance(found, GraphQLObjectType) and schema.is_sub_type(named, found):
            return found
    return None


def _sub_selections(nodes: Sequence[FieldNode]) -> list[SelectionSetNode]:
    return [n.selection_set for n in nodes if n.selection_set is not None]


def published_payload(
    schema: GraphQLSchema,
    value: Any,
    field_nodes: Sequence[FieldNode],
    type_: GraphQLOutputType,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> Any:
    """What AppSync publishes of the mutation's response value: only what the mutation
    selected, under the mutation's response keys (an aliased field under its alias)."""
    if value is None:
        return None
    if isinstance(type_, GraphQLNonNull):
        return published_payload(schema, value, field_nodes, type_.of_type, fragments, variables)
    if isinstance(type_, GraphQLList):
        if not isinstance(value, list):
            return value
        return [published_payload(schema, v, field_nodes, type_.of_type, fragments, variables) for v in value]
    if is_leaf_type(type_) or not isinstance(value, dict):
        return value
    runtime = _runtime_type(schema, type_, value)
    if runtime is None:
        return value
    out: dict[str, Any] = {}
    fields = collect_fields(schema, runtime, _sub_selections(field_nodes), fragments, variables)
    for key, nodes in fields.items():
        name = nodes[0].name.value
        if key not in value:
            continue
        if name == "__typename":
            out[key] = value[key]
            continue
        field = runtime.fields.get(name)
        if field is None:
            continue
        out[key] = published_payload(schema, value[key], nodes, field.type, fragments, variables)
    if is_abstract_type(get_named_type(type_)):
        out.setdefault("__typename", runtime.name)
    return out


def project(
    schema: GraphQLSchema,
    payload: Any,
    field_nodes: Sequence[FieldNode],
    field_type: GraphQLOutputType,
    parent_type: str,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> tuple[Any, list[dict[str, Any]]]:
    """``(value, errors)`` of the subscription field for one published ``payload``."""
    errors: list[dict[str, Any]] = []
    response_key = field_nodes[0].name.value  # AppSync ignores a subscription field's alias

    def null_error(type_: GraphQLOutputType, parent: str, path: list[str | int]) -> None:
        shown = "/" + "/".join(str(p) for p in path)
        errors.append(
            {
                "message": (
                    f"Cannot return null for non-nullable type: '{get_named_type(type_).name}' "
                    f"within parent '{parent}' ({shown})"
                ),
                "path": list(path),
            }
        )

    def complete(
        type_: GraphQLOutputType, value: Any, nodes: Sequence[FieldNode], path: list[str | int], parent: str
    ) -> Any:
        if isinstance(type_, GraphQLNonNull):
            result = complete_inner(type_.of_type, value, nodes, path, parent)
            if result is None:
                null_error(type_.of_type, parent, path)
                raise NullInNonNull
            return result
        try:
            return complete_inner(type_, value, nodes, path, parent)
        except NullInNonNull:
            return None

    def complete_inner(
        type_: GraphQLOutputType, value: Any, nodes: Sequence[FieldNode], path: list[str | int], parent: str
    ) -> Any:
        if value is None:
            return None
        if isinstance(type_, GraphQLList):
            items = value if isinstance(value, list) else [value]
            out_list: list[Any] = []
            failed = False
            for index, item in enumerate(items):
                try:
                    out_list.append(complete(type_.of_type, item, nodes, [*path, index], parent))
                except NullInNonNull:
                    failed = True
            if failed:
                raise NullInNonNull
            return out_list
        if is_leaf_type(type_):
            return value
        if not isinstance(value, dict):
            return None
        runtime = _runtime_type(schema, type_, value)
        if runtime is None:
            return None
        out: dict[str, Any] = {}
        failed = False
        fields = collect_fields(schema, runtime, _sub_selections(nodes), fragments, variables)
        for key, sub_nodes in fields.items():
            name = sub_nodes[0].name.value
            if name == "__typename":
                out[key] = runtime.name
                continue
            field = runtime.fields.get(name)
            if field is None:
                continue
            try:
                out[key] = complete(field.type, value.get(name), sub_nodes, [*path, key], runtime.name)
            except NullInNonNull:
                failed = True
        if failed:
            raise NullInNonNull
        return out

    try:
        data = complete(field_type, payload, field_nodes, [response_key], parent_type)
    except NullInNonNull:
        data = None
    return data, errors
