"""Loading an AppSync schema file unchanged, and printing back what is served.

AppSync predefines its scalars (``AWSDateTime``...) and directives (``@aws_subscribe``,
``@aws_iam``...), so schema files use them without declaring them (declaring one is refused,
as AppSync refuses it: see :mod:`._appsync_rules`, which :func:`build_appsync_schema` applies
first). :func:`build_appsync_schema` adds the declarations, builds the schema with graphql-core,
and gives the scalars AppSync's validation. :func:`print_schema_sdl` prints the served
schema back as SDL, applied directives included, without the AppSync built-ins, so it can
be compared with the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from graphql import (
    ConstDirectiveNode,
    DefinitionNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumValueDefinitionNode,
    FieldDefinitionNode,
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLType,
    GraphQLUnionType,
    InputObjectTypeDefinitionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    ListTypeNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    OperationType,
    OperationTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    SchemaDefinitionNode,
    StringValueNode,
    TypeNode,
    UnionTypeDefinitionNode,
    ValueNode,
    build_ast_schema,
    parse,
    print_ast,
    specified_directives,
)
from graphql.language import Node

from cloudchat_local.errors import SchemaError

from ._appsync_rules import appsync_violations
from ._scalars import APPSYNC_SCALARS, install_scalar

_AUTH_LOCATIONS = "OBJECT | FIELD_DEFINITION | INTERFACE | INPUT_OBJECT"

APPSYNC_DIRECTIVES_SDL: Final[dict[str, str]] = {
    "aws_subscribe": "directive @aws_subscribe(mutations: [String]) on FIELD_DEFINITION",
    "aws_auth": "directive @aws_auth(cognito_groups: [String]) on FIELD_DEFINITION | OBJECT",
    "aws_cognito_user_pools": (
        f"directive @aws_cognito_user_pools(cognito_groups: [String]) on {_AUTH_LOCATIONS}"
    ),
    "aws_iam": f"directive @aws_iam on {_AUTH_LOCATIONS}",
    "aws_api_key": f"directive @aws_api_key on {_AUTH_LOCATIONS}",
    "aws_oidc": f"directive @aws_oidc on {_AUTH_LOCATIONS}",
    "aws_lambda": f"directive @aws_lambda on {_AUTH_LOCATIONS}",
}
APPSYNC_DIRECTIVES: Final[tuple[str, ...]] = tuple(APPSYNC_DIRECTIVES_SDL)
_BUILTIN_NAMES: Final = frozenset(APPSYNC_SCALARS) | frozenset(APPSYNC_DIRECTIVES)


def load_schema(path: Path) -> GraphQLSchema:
    """Reads and builds an AppSync schema file (see :func:`build_appsync_schema`)."""
    try:
        sdl = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"cannot read schema file {path}: {exc}") from exc
    return build_appsync_schema(sdl, source_name=str(path))


def build_appsync_schema(sdl: str, *, source_name: str = "schema.graphql") -> GraphQLSchema:
    """Builds the schema AppSync would serve for ``sdl`` (raises :class:`SchemaError`)."""
    try:
        document = parse(sdl)
    except GraphQLError as exc:
        raise SchemaError(f"{source_name}: {exc.message} {exc.locations or ''}".strip()) from exc
    violations = appsync_violations(sdl, document)
    if violations:
        raise SchemaError("\n".join(v.render(source_name) for v in violations))
    builtins = [f"scalar {name}" for name in APPSYNC_SCALARS]
    builtin_doc = parse("\n".join([*builtins, *APPSYNC_DIRECTIVES_SDL.values()]))
    merged = DocumentNode(definitions=(*builtin_doc.definitions, *document.definitions))
    try:
        schema = build_ast_schema(merged)
    except (GraphQLError, TypeError) as exc:
        raise SchemaError(f"{source_name}: {exc}") from exc
    from graphql import validate_schema

    errors = validate_schema(schema)
    if errors:
        raise SchemaError(f"{source_name}: " + "; ".join(e.message for e in errors))
    if schema.query_type is None:
        raise SchemaError(f"{source_name}: AppSync needs a Query type")
    for name in APPSYNC_SCALARS:
        scalar = schema.type_map.get(name)
        if isinstance(scalar, GraphQLScalarType):
            install_scalar(scalar)
    _check_subscribe_directives(schema, source_name)
    return schema


def _check_subscribe_directives(schema: GraphQLSchema, source_name: str) -> None:
    for sub_field, mutations in subscription_sources(schema).items():
        for mutation in mutations:
            if schema.mutation_type is None or mutation not in schema.mutation_type.fields:
                raise SchemaError(
                    f"{source_name}: Subscription.{sub_field} subscribes to unknown mutation {mutation!r}"
                )


def applied_directives(element: Any) -> list[ConstDirectiveNode]:
    """The directives applied to a schema element in the SDL (types include extensions)."""
    nodes = [getattr(element, "ast_node", None), *getattr(element, "extension_ast_nodes", ())]
    out: list[ConstDirectiveNode] = []
    for node in nodes:
        if node is not None and getattr(node, "directives", None):
            out.extend(node.directives)
    return out


def directive_arg(directive: DirectiveNode, name: str) -> ValueNode | None:
    for arg in directive.arguments or ():
        if arg.name.value == name:
            return arg.value
    return None


def subscription_sources(schema: GraphQLSchema) -> dict[str, list[str]]:
    """``{subscription field: [mutation fields that publish to it]}`` from @aws_subscribe."""
    out: dict[str, list[str]] = {}
    if schema.subscription_type is None:
        return out
    for name, field in schema.subscription_type.fields.items():
        for directive in applied_directives(field):
            if directive.name.value != "aws_subscribe":
                continue
            value = directive_arg(directive, "mutations")
            mutations = _string_list(value)
            out.setdefault(name, []).extend(mutations)
    return out


def _string_list(value: ValueNode | None) -> list[str]:
    from graphql import ListValueNode

    if value is None:
        return []
    if isinstance(value, ListValueNode):
        return [v.value for v in value.values if isinstance(v, StringValueNode)]
    if isinstance(value, StringValueNode):
        return [value.value]
    return []


def string_list_arg(directive: DirectiveNode, name: str) -> list[str] | None:
    value = directive_arg(directive, name)
    return None if value is None else _string_list(value)


# --- printing -------------------------------------------------------------------------


def print_schema_sdl(schema: GraphQLSchema) -> str:
    """The served schema as SDL, with applied directives, minus AppSync's built-ins."""
    return print_ast(schema_to_document(schema))


def schema_to_document(schema: GraphQLSchema) -> DocumentNode:
    """The served schema as a document (definitions in source order where known)."""
    definitions: list[DefinitionNode] = [_schema_definition(schema)]
    directives = [
        d
        for d in schema.directives
        if d not in specified_directives and d.name not in _BUILTIN_NAMES and d.ast_node
    ]
    types = [
        t
        for name, t in schema.type_map.items()
        if not name.startswith("__") and name not in _BUILTIN_NAMES and t.ast_node is not None
    ]
    items: list[tuple[int, DefinitionNode]] = [
        (_pos(d.ast_node), d.ast_node) for d in directives if d.ast_node is not None
    ]
    items += [(_pos(t.ast_node), _type_definition(t)) for t in types]
    definitions += [node for _, node in sorted(items, key=lambda item: item[0])]
    return DocumentNode(definitions=tuple(definitions))


def _pos(node: Node | None) -> int:
    return node.loc.start if node is not None and node.loc is not None else 1 << 30


def _schema_definition(schema: GraphQLSchema) -> SchemaDefinitionNode:
    ops = []
    for operation, root in (
        (OperationType.QUERY, schema.query_type),
        (OperationType.MUTATION, schema.mutation_type),
        (OperationType.SUBSCRIPTION, schema.subscription_type),
    ):
        if root is not None:
            ops.append(OperationTypeDefinitionNode(operation=operation, type=_named(root.name)))
    return SchemaDefinitionNode(
        description=_description(schema.description, schema.ast_node),
        directives=tuple(applied_directives(schema)),
        operation_types=tuple(ops),
    )


def _named(name: str) -> NamedTypeNode:
    return NamedTypeNode(name=NameNode(value=name))


def _name(name: str) -> NameNode:
    return NameNode(value=name)


def _type_ref(type_: GraphQLType) -> TypeNode:
    if isinstance(type_, GraphQLNonNull):
        inner = _type_ref(type_.of_type)
        assert isinstance(inner, NamedTypeNode | ListTypeNode)
        return NonNullTypeNode(type=inner)
    if isinstance(type_, GraphQLList):
        return ListTypeNode(type=_type_ref(type_.of_type))
    assert isinstance(type_, GraphQLNamedType)
    return _named(type_.name)


def _description(text: str | None, node: Node | None) -> StringValueNode | None:
    if text is None:
        return None
    original = getattr(node, "description", None)
    block = original.block if original is not None else "\n" in text
    return StringValueNode(value=text, block=block)


def _input_value(name: str, value: GraphQLArgument | GraphQLInputField) -> InputValueDefinitionNode:
    ast = value.ast_node
    return InputValueDefinitionNode(
        name=_name(name),
        description=_description(value.description, ast),
        type=_type_ref(value.type),
        default_value=ast.default_value if ast is not None else None,
        directives=tuple(applied_directives(value)),
    )


def _field(name: str, field: GraphQLField) -> FieldDefinitionNode:
    return FieldDefinitionNode(
        name=_name(name),
        description=_description(field.description, field.ast_node),
        arguments=tuple(_input_value(n, a) for n, a in field.args.items()),
        type=_type_ref(field.type),
        directives=tuple(applied_directives(field)),
    )


def _interfaces(type_: GraphQLObjectType | GraphQLInterfaceType) -> tuple[NamedTypeNode, ...]:
    return tuple(_named(i.name) for i in type_.interfaces)


def _type_definition(type_: GraphQLNamedType) -> DefinitionNode:
    description = _description(type_.description, type_.ast_node)
    directives = tuple(applied_directives(type_))
    name = _name(type_.name)
    if isinstance(type_, GraphQLObjectType):
        return ObjectTypeDefinitionNode(
            name=name,
            description=description,
            interfaces=_interfaces(type_),
            directives=directives,
            fields=tuple(_field(n, f) for n, f in type_.fields.items()),
        )
    if isinstance(type_, GraphQLInterfaceType):
        return InterfaceTypeDefinitionNode(
            name=name,
            description=description,
            interfaces=_interfaces(type_),
            directives=directives,
            fields=tuple(_field(n, f) for n, f in type_.fields.items()),
        )
    if isinstance(type_, GraphQLUnionType):
        return UnionTypeDefinitionNode(
            name=name,
            description=description,
            directives=directives,
            types=tuple(_named(t.name) for t in type_.types),
        )
    if isinstance(type_, GraphQLEnumType):
        return EnumTypeDefinitionNode(
            name=name,
            description=description,
            directives=directives,
            values=tuple(
                EnumValueDefinitionNode(
                    name=_name(n),
                    description=_description(v.description, v.ast_node),
                    directives=tuple(applied_directives(v)),
                )
                for n, v in type_.values.items()
            ),
        )
    if isinstance(type_, GraphQLInputObjectType):
        return InputObjectTypeDefinitionNode(
            name=name,
            description=description,
            directives=directives,
            fields=tuple(_input_value(n, f) for n, f in type_.fields.items()),
        )
    assert isinstance(type_, GraphQLScalarType)
    return ScalarTypeDefinitionNode(name=name, description=description, directives=directives)
