"""operations.graphql: one valid operation per root field, the library's methods, the web's import
(no network)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import GraphQLSchema, OperationDefinitionNode, build_schema, parse, validate

import cloudchat_client
from cloudchat_client import CloudChat, document, documents, fragment_fields
from cloudchat_client._documents import operations_text

ROOT = Path(__file__).resolve().parents[2]
#: AppSync's scalars and directives, which schema.graphql uses without declaring.
APPSYNC = """
scalar AWSDateTime
scalar AWSEmail
scalar AWSJSON
scalar AWSURL
directive @aws_subscribe(mutations: [String]) on FIELD_DEFINITION
directive @aws_cognito_user_pools(cognito_groups: [String]) on FIELD_DEFINITION | OBJECT
directive @aws_iam on FIELD_DEFINITION | OBJECT
"""


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(APPSYNC + (ROOT / "schema.graphql").read_text())


def root_fields(schema: GraphQLSchema) -> dict[str, list[str]]:
    roots = {"query": schema.query_type, "mutation": schema.mutation_type,
             "subscription": schema.subscription_type}
    return {kind: sorted(t.fields) for kind, t in roots.items() if t is not None}


def operations() -> list[OperationDefinitionNode]:
    return [d for d in parse(operations_text()).definitions if isinstance(d, OperationDefinitionNode)]


def test_every_root_field_has_one_operation_named_after_it(schema: GraphQLSchema) -> None:
    found: dict[str, list[str]] = {}
    for op in operations():
        field = op.selection_set.selections[0]
        name = getattr(field, "name").value  # noqa: B009
        assert op.name is not None and op.name.value == name[0].upper() + name[1:], op.name
        assert len(op.selection_set.selections) == 1, f"{name}: one root field per operation"
        found.setdefault(op.operation.value, []).append(name)
    assert {k: sorted(v) for k, v in found.items()} == root_fields(schema)


def test_every_document_validates_against_the_schema(schema: GraphQLSchema) -> None:
    docs = documents()
    assert len(docs) == 2 * len(operations())  # by field and by operation name
    for name, text in docs.items():
        errors = validate(schema, parse(text))
        assert not errors, f"{name}: {errors}"


def test_an_operations_variables_are_its_fields_arguments(schema: GraphQLSchema) -> None:
    for op in operations():
        field = op.selection_set.selections[0]
        args = {a.name.value: a.value for a in getattr(field, "arguments") or ()}  # noqa: B009
        assert all(getattr(v, "name", None) and v.name.value == k for k, v in args.items()), op.name
        assert {v.variable.name.value for v in op.variable_definitions or ()} == set(args), op.name


def test_every_query_and_mutation_is_a_typed_method(schema: GraphQLSchema) -> None:
    fields = root_fields(schema)
    for name in fields["query"] + fields["mutation"]:
        method = getattr(CloudChat, re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower(), None)
        assert callable(method), name
        assert "return" in method.__annotations__, name


def test_document_takes_a_name_or_text_and_refuses_an_unknown_name() -> None:
    assert document("SendMessage") == document("sendMessage")
    assert "fragment MessageFields on Message" in document("sendMessage")
    assert "fragment ConversationFields" not in document("sendMessage")  # only what it spreads
    text = "query { me { id } }"
    assert document(text) == text
    with pytest.raises(KeyError):
        document("sendMesage")


def test_fragment_fields_inline_nested_fragments() -> None:
    fields = fragment_fields("ConversationFields")
    assert "..." not in fields
    assert "lastMessage { id conversationId seq" in fields
    assert fragment_fields("MessageFields") == cloudchat_client.MESSAGE_FIELDS


def test_the_web_client_imports_the_same_file() -> None:
    api = (ROOT / "web/src/api.js").read_text()
    assert re.search(r"import \w+ from '[./]*clients/cloudchat_client/operations\.graphql\?raw'", api)
    assert "fragment MessageFields" not in api  # no second copy


def test_the_operations_file_ships_as_package_data() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'cloudchat_client = ["operations.graphql", "py.typed"]' in pyproject
