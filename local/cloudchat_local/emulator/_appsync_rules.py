"""What AppSync's schema parser refuses although the GraphQL spec (and graphql-core) allow it.

AppSync creates a schema with its own, older parser. A schema that graphql-core builds may
still fail ``StartSchemaCreation`` ("Failed to parse schema document - ensure it's a valid
SDL-formatted document."), and CloudFormation then rolls the whole stack back. The
emulator refuses to start on such a schema, naming the line, the column and the reason.

Each rule cites where the behaviour is documented or publicly reported; where reports
differ, the strictest reading is enforced:

* a description on an enum value: only the whole enum may carry one
  (aws/aws-appsync-community#55, answered by AWS; serverless-appsync-plugin#453);
* any ``#`` comment inside an enum body: comments before enum values are read as
  descriptions, and one containing ``null``/``true``/``false`` fails schema creation
  (aws/aws-appsync-community#410, #55; serverless-appsync-plugin#340 strips them);
* declaring an AppSync scalar (``scalar AWSDateTime``) or directive
  (``directive @aws_iam ...``): AppSync predefines them, and declaring one again fails
  with "Schema contains duplicate type names" (serverless-appsync-plugin#480);
* any other scalar: AppSync has no custom scalars (aws/aws-appsync-community#26, an open
  feature request; serverless-appsync-plugin#149);
* any other directive definition: "Directive definitions are not supported."
  (awslabs/graphql-schema-utilities#25; aws-amplify/docs#5044), and ``@oneOf`` input
  objects (aws/aws-appsync-community#342, an open feature request);
* an interface implementing interfaces (aws/aws-appsync-community#387);
* type and schema extensions (``extend type ...``): AppSync does not support them
  (serverless-appsync-plugin#468, which merges them before upload for that reason);
* a schema document over 1 MB (quota "Schema document size",
  https://docs.aws.amazon.com/general/latest/gr/appsync.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from graphql import (
    ConstDirectiveNode,
    DirectiveDefinitionNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    Node,
    ScalarTypeDefinitionNode,
    SchemaExtensionNode,
    Token,
    TokenKind,
    TypeDefinitionNode,
    TypeExtensionNode,
)

from ._scalars import APPSYNC_SCALARS

#: AppSync's quota "Schema document size" (not adjustable).
MAX_SCHEMA_BYTES: Final = 1024 * 1024

#: The directives AppSync defines itself (all are named ``aws_*``).
APPSYNC_DIRECTIVE_PREFIX: Final = "aws_"


@dataclass(frozen=True)
class Violation:
    """One construct AppSync refuses, at 1-based ``line``/``column``."""

    line: int
    column: int
    reason: str

    def render(self, source_name: str) -> str:
        return f"{source_name}:{self.line}:{self.column}: {self.reason}"


def _at(node: Node, reason: str) -> Violation:
    token = node.loc.start_token if node.loc is not None else None
    if token is None:
        return Violation(1, 1, reason)
    return Violation(token.line, token.column, reason)


def _tokens(node: Node) -> list[Token]:
    """The node's tokens, comments included (graphql-core links them in)."""
    out: list[Token] = []
    if node.loc is None:
        return out
    token: Token | None = node.loc.start_token
    while token is not None:
        out.append(token)
        if token is node.loc.end_token:
            break
        token = token.next
    return out


def _applied(directives: tuple[ConstDirectiveNode, ...] | None, name: str) -> list[ConstDirectiveNode]:
    return [d for d in directives or () if d.name.value == name]


def _enum_rules(node: EnumTypeDefinitionNode) -> list[Violation]:
    name = node.name.value
    out = []
    for value in node.values or ():
        if value.description is not None:
            out.append(_at(value.description,
                           f"description on enum value {name}.{value.name.value}: AppSync "
                           f"accepts a description on the whole enum only; move it into the "
                           f"description of enum {name} (aws/aws-appsync-community#55)"))
    inside = False
    for token in _tokens(node):
        if token.kind == TokenKind.BRACE_L:
            inside = True
        elif token.kind == TokenKind.COMMENT and inside:
            out.append(Violation(token.line, token.column,
                                 f"comment inside enum {name}: AppSync reads comments in an "
                                 f"enum body as value descriptions and may fail to parse the "
                                 f"schema; put it in the enum's description "
                                 f"(aws/aws-appsync-community#410, #55)"))
    return out


def appsync_violations(sdl: str, document: DocumentNode) -> list[Violation]:
    """Everything in ``sdl`` (parsed as ``document``) that AppSync's parser refuses."""
    out: list[Violation] = []
    size = len(sdl.encode("utf-8"))
    if size > MAX_SCHEMA_BYTES:
        out.append(Violation(1, 1, f"the schema document is {size} bytes; AppSync's limit is "
                                   f"{MAX_SCHEMA_BYTES} bytes (quota: Schema document size)"))
    for definition in document.definitions:
        if isinstance(definition, TypeExtensionNode | SchemaExtensionNode):
            shown = getattr(getattr(definition, "name", None), "value", "schema")
            out.append(_at(definition,
                           f"extension of {shown}: AppSync does not support type or schema "
                           f"extensions; merge the fields into the definition "
                           f"(sid88in/serverless-appsync-plugin#468)"))
            continue
        if isinstance(definition, TypeDefinitionNode) and definition.name.value in APPSYNC_SCALARS:
            out.append(_at(definition,
                           f"{definition.name.value} is an AppSync scalar; AppSync defines it, "
                           f"and declaring it again fails schema creation with \"Schema "
                           f"contains duplicate type names\" (sid88in/serverless-appsync-plugin#480)"))
        elif isinstance(definition, ScalarTypeDefinitionNode):
            out.append(_at(definition,
                           f"custom scalar {definition.name.value}: AppSync supports only the "
                           f"GraphQL and AWS scalars (aws/aws-appsync-community#26); use "
                           f"String or an AWS scalar such as AWSJSON"))
        if isinstance(definition, DirectiveDefinitionNode):
            name = definition.name.value
            if name.startswith(APPSYNC_DIRECTIVE_PREFIX):
                out.append(_at(definition,
                               f"@{name} is reserved for AppSync's own directives; AppSync "
                               f"defines them, and declaring one fails schema creation "
                               f"(sid88in/serverless-appsync-plugin#480)"))
            else:
                out.append(_at(definition,
                               f"directive definition @{name}: AppSync refuses directive "
                               f"definitions (\"Directive definitions are not supported.\", "
                               f"awslabs/graphql-schema-utilities#25) and supports only its own "
                               f"directives"))
        if isinstance(definition, InputObjectTypeDefinitionNode):
            out.extend(_at(d, f"@oneOf on input {definition.name.value}: AppSync does not support "
                              f"OneOf input objects (aws/aws-appsync-community#342)")
                       for d in _applied(definition.directives, "oneOf"))
        if isinstance(definition, InterfaceTypeDefinitionNode) and definition.interfaces:
            out.append(_at(definition,
                           f"interface {definition.name.value} implements other interfaces: "
                           f"AppSync refuses interface inheritance (\"Failed to parse schema "
                           f"document\", aws/aws-appsync-community#387); let the object types "
                           f"implement each interface instead"))
        if isinstance(definition, EnumTypeDefinitionNode):
            out.extend(_enum_rules(definition))
    return sorted(out, key=lambda v: (v.line, v.column))
