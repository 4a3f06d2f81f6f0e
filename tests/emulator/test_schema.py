"""Serving schema files unchanged, AppSync scalars, directive semantics, wiring checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphql import DocumentNode, GraphQLScalarType, parse, print_ast

from cloudchat_local.emulator import (
    ConfigError,
    EmulatorConfig,
    Engine,
    SchemaError,
    build_appsync_schema,
    load_schema,
    print_schema_sdl,
)
from cloudchat_local.emulator._authz import COGNITO, IAM, Authorizer
from cloudchat_local.emulator._scalars import APPSYNC_SCALARS
from cloudchat_local.emulator._schema import APPSYNC_DIRECTIVES, subscription_sources

from .conftest import FIXTURE_SCHEMA

REPO = Path(__file__).resolve().parents[2]


def _definitions(document: DocumentNode) -> dict[str, str]:
    out = {}
    for definition in document.definitions:
        name = getattr(definition, "name", None)
        out[name.value if name else "schema"] = print_ast(definition)
    return out


@pytest.mark.parametrize("path", [REPO / "schema.graphql", FIXTURE_SCHEMA], ids=["project", "fixture"])
def test_printed_schema_equals_the_file(path: Path) -> None:
    served = print_schema_sdl(load_schema(path))
    printed = _definitions(parse(served))
    original = _definitions(parse(path.read_text()))
    assert printed == original
    for builtin in (*APPSYNC_SCALARS, *APPSYNC_DIRECTIVES):
        assert builtin not in printed


def test_project_schema_subscriptions() -> None:
    schema = load_schema(REPO / "schema.graphql")
    sources = subscription_sources(schema)
    assert "sendMessage" in sources["onMessage"]
    assert schema.mutation_type is not None
    for mutations in sources.values():
        assert set(mutations) <= set(schema.mutation_type.fields)


@pytest.mark.parametrize(
    "sdl",
    [
        "type Query { x: Nope }",
        "type Query { x: String @aws_unknown }",
        "type Mutation { m: String }",
        'type Query { x: String }\ntype Subscription { s: String @aws_subscribe(mutations: ["nope"]) }',
        "type Query {",
    ],
)
def test_bad_schemas(sdl: str) -> None:
    with pytest.raises(SchemaError):
        build_appsync_schema(sdl)


SCALAR_CASES: list[tuple[str, Any, bool]] = [
    ("AWSDateTime", "2024-01-01T00:00:00Z", True),
    ("AWSDateTime", "2024-01-01T00:00:00.123456789+05:30", True),
    ("AWSDateTime", "2024-01-01T00:00Z", True),
    ("AWSDateTime", "2024-01-01T00:00:00+05:30:15", True),
    ("AWSDateTime", "2024-01-01T00:00:00", False),
    ("AWSDateTime", "2024-02-30T00:00:00Z", False),
    ("AWSDateTime", "2024-01-01T25:00:00Z", False),
    ("AWSDateTime", 1700000000, False),
    ("AWSDate", "2024-01-01", True),
    ("AWSDate", "2024-01-01Z", True),
    ("AWSDate", "2024-1-1", False),
    ("AWSTime", "12:30", True),
    ("AWSTime", "12:30:59.5-07:00", True),
    ("AWSTime", "24:00:00", False),
    ("AWSTimestamp", 1700000000, True),
    ("AWSTimestamp", "1700000000", False),
    ("AWSTimestamp", True, False),
    ("AWSEmail", "a@example.com", True),
    ("AWSEmail", "not-an-email", False),
    ("AWSJSON", '{"a": [1, 2]}', True),
    ("AWSJSON", "[1, 2", False),
    ("AWSJSON", {"a": 1}, False),
    ("AWSURL", "https://example.com/a/b?c=d", True),
    ("AWSURL", "mailto:someone@example.com", True),
    ("AWSURL", "example.com", False),
    ("AWSURL", "https://example.com//double", False),
    ("AWSPhone", "+1 (555) 010-9999", True),
    ("AWSPhone", "call me", False),
    ("AWSIPAddress", "127.0.0.1", True),
    ("AWSIPAddress", "10.0.0.0/8", True),
    ("AWSIPAddress", "::1", True),
    ("AWSIPAddress", "999.1.1.1", False),
]


def _scalar(name: str) -> GraphQLScalarType:
    scalar = build_appsync_schema(f"type Query {{ x: {name} }}").type_map[name]
    assert isinstance(scalar, GraphQLScalarType)
    return scalar


@pytest.mark.parametrize(("name", "value", "ok"), SCALAR_CASES)
def test_scalar_input_validation(name: str, value: Any, ok: bool) -> None:
    scalar = _scalar(name)
    if ok:
        scalar.coerce_input_value(value)
    else:
        with pytest.raises(Exception, match="Unable to parse"):
            scalar.coerce_input_value(value)


def test_awsjson_round_trip() -> None:
    scalar = _scalar("AWSJSON")
    assert scalar.coerce_input_value('{"a":1}') == {"a": 1}
    assert scalar.coerce_output_value({"a": [1, None]}) == '{"a":[1,null]}'
    assert scalar.coerce_output_value('{"kept": "as is"}') == '{"kept": "as is"}'


def test_authorization_rules() -> None:
    authz = Authorizer(load_schema(FIXTURE_SCHEMA))
    none: frozenset[str] = frozenset()
    admins = frozenset({"admins"})
    # No directive anywhere: Cognito (default) only.
    assert authz.allows("Query", "echo", COGNITO, none)
    assert not authz.allows("Query", "echo", IAM, none)
    # Field-level directives.
    assert authz.allows("Query", "iamOnly", IAM, none)
    assert not authz.allows("Query", "iamOnly", COGNITO, admins)
    assert authz.allows("Query", "both", IAM, none) and authz.allows("Query", "both", COGNITO, none)
    assert authz.allows("Query", "reportCount", COGNITO, admins)
    assert authz.allows("Query", "reportCount", COGNITO, frozenset({"auditors"}))
    assert not authz.allows("Query", "reportCount", COGNITO, none)
    # Type-level directives apply to fields without their own.
    assert authz.allows("AdminReport", "count", COGNITO, admins)
    assert not authz.allows("AdminReport", "count", COGNITO, none)
    assert not authz.allows("AdminReport", "count", IAM, none)
    assert authz.allows("Event", "kind", IAM, none) and authz.allows("Event", "kind", COGNITO, none)
    # A field is also denied when its returned type excludes the caller.
    assert authz.denial("Query", "adminReport", COGNITO, none) == (
        "Not Authorized to access adminReport on type AdminReport"
    )
    assert authz.denial("Query", "adminReport", COGNITO, admins) is None
    # Introspection is always allowed.
    assert authz.allows("Query", "__typename", IAM, none)


def test_wiring_must_exist_in_the_schema() -> None:
    def handler(event: Any, context: Any) -> None:
        return None

    with pytest.raises(ConfigError, match=r"Query\.nope"):
        Engine(EmulatorConfig(schema_path=FIXTURE_SCHEMA, resolvers={("Query", "nope"): handler}))


def test_missing_schema_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="cannot read"):
        load_schema(tmp_path / "missing.graphql")
