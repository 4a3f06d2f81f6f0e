"""The emulator refuses, with the line, the column and the reason, what AppSync's schema
parser refuses (see cloudchat_local.emulator._appsync_rules for the sources)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudchat_local.emulator import EmulatorConfig, Engine, SchemaError, build_appsync_schema, load_schema
from cloudchat_local.emulator._appsync_rules import MAX_SCHEMA_BYTES

REPO = Path(__file__).resolve().parents[2]
QUERY = "type Query { x: String }\n"


def _refusal(sdl: str) -> str:
    with pytest.raises(SchemaError) as caught:
        build_appsync_schema(sdl)
    return str(caught.value)


def test_the_project_schema_passes() -> None:
    schema = load_schema(REPO / "schema.graphql")
    assert schema.get_type("UserEventType") is not None


def test_an_engine_does_not_start_on_a_refused_schema(tmp_path: Path) -> None:
    path = tmp_path / "schema.graphql"
    path.write_text(QUERY + 'enum E {\n  A\n  "no"\n  B\n}\n')
    with pytest.raises(SchemaError, match=r"schema\.graphql:4:3: description on enum value E\.B"):
        Engine(EmulatorConfig(schema_path=path))


def test_description_on_an_enum_value() -> None:
    message = _refusal(QUERY + 'enum Kind {\n  A\n  "The second one."\n  B\n}\n')
    assert message == (
        "schema.graphql:4:3: description on enum value Kind.B: AppSync accepts a description "
        "on the whole enum only; move it into the description of enum Kind "
        "(aws/aws-appsync-community#55)"
    )


def test_a_block_description_on_an_enum_value() -> None:
    message = _refusal(QUERY + 'enum Kind {\n  """\n  First.\n  """\n  A\n}\n')
    assert message.startswith("schema.graphql:3:3: description on enum value Kind.A:")


def test_a_description_on_the_whole_enum_is_accepted() -> None:
    schema = build_appsync_schema(QUERY + '"A: first, B: second."\nenum Kind {\n  A\n  B\n}\n')
    assert schema.get_type("Kind") is not None


@pytest.mark.parametrize("comment", ["# null", "# the first one", "# returns true"])
def test_a_comment_inside_an_enum(comment: str) -> None:
    message = _refusal(QUERY + f"enum Kind {{\n  A\n  {comment}\n  B\n}}\n")
    assert message == (
        "schema.graphql:4:3: comment inside enum Kind: AppSync reads comments in an enum body "
        "as value descriptions and may fail to parse the schema; put it in the enum's "
        "description (aws/aws-appsync-community#410, #55)"
    )


def test_a_comment_on_the_enum_line_and_after_the_last_value() -> None:
    message = _refusal(QUERY + "enum Kind { # values\n  A\n  B # last\n}\n")
    lines = message.splitlines()
    assert [line.split(": ")[0] for line in lines] == ["schema.graphql:2:13", "schema.graphql:4:5"]


def test_comments_outside_enums_are_accepted() -> None:
    sdl = "# the root\ntype Query {\n  # null\n  x: Kind\n}\n# before\nenum Kind {\n  A\n}\n# after\n"
    assert build_appsync_schema(sdl).get_type("Kind") is not None


@pytest.mark.parametrize(
    "name",
    ["AWSDate", "AWSTime", "AWSDateTime", "AWSTimestamp", "AWSEmail", "AWSJSON", "AWSURL",
     "AWSPhone", "AWSIPAddress"],
)
def test_declaring_an_appsync_scalar(name: str) -> None:
    message = _refusal(f"scalar {name}\n" + QUERY)
    assert message == (
        f"schema.graphql:1:1: {name} is an AppSync scalar; AppSync defines it, and declaring it "
        f"again fails schema creation with \"Schema contains duplicate type names\" "
        f"(sid88in/serverless-appsync-plugin#480)"
    )


@pytest.mark.parametrize("directive", ["aws_iam", "aws_subscribe", "aws_cognito_user_pools", "aws_custom"])
def test_declaring_an_appsync_directive(directive: str) -> None:
    message = _refusal(QUERY + f"directive @{directive} on FIELD_DEFINITION\n")
    assert message == (
        f"schema.graphql:2:1: @{directive} is reserved for AppSync's own directives; AppSync "
        f"defines them, and declaring one fails schema creation "
        f"(sid88in/serverless-appsync-plugin#480)"
    )


def test_a_custom_scalar() -> None:
    assert _refusal(QUERY + "scalar Decimal\n") == (
        "schema.graphql:2:1: custom scalar Decimal: AppSync supports only the GraphQL and AWS "
        "scalars (aws/aws-appsync-community#26); use String or an AWS scalar such as AWSJSON"
    )


def test_a_directive_definition() -> None:
    sdl = "directive @cached(ttl: Int) repeatable on FIELD_DEFINITION\ntype Query { x: String @cached }\n"
    assert _refusal(sdl) == (
        "schema.graphql:1:1: directive definition @cached: AppSync refuses directive definitions "
        "(\"Directive definitions are not supported.\", awslabs/graphql-schema-utilities#25) and "
        "supports only its own directives"
    )


def test_an_unknown_directive_is_refused() -> None:
    with pytest.raises(SchemaError, match="Unknown directive '@cached'"):
        build_appsync_schema("type Query { x: String @cached }\n")


def test_a_one_of_input() -> None:
    sdl = QUERY + "input By @oneOf {\n  id: ID\n  name: String\n}\ntype Mutation { m(by: By): String }\n"
    assert _refusal(sdl) == (
        "schema.graphql:2:10: @oneOf on input By: AppSync does not support OneOf input objects "
        "(aws/aws-appsync-community#342)"
    )


def test_an_interface_implementing_an_interface() -> None:
    sdl = (QUERY + "interface Node { id: ID! }\ninterface Character implements Node { id: ID! }\n"
           "type Human implements Character & Node { id: ID! }\n")
    assert _refusal(sdl).startswith(
        "schema.graphql:3:1: interface Character implements other interfaces: AppSync refuses "
        "interface inheritance"
    )


def test_a_type_implementing_several_interfaces_is_accepted() -> None:
    sdl = QUERY + "interface A { id: ID! }\ninterface B { id: ID! }\ntype C implements A & B { id: ID! }\n"
    assert build_appsync_schema(sdl).get_type("C") is not None


@pytest.mark.parametrize(
    ("extension", "shown"),
    [("extend type Query { y: String }", "Query"), ("extend schema @aws_iam", "schema")],
)
def test_extensions(extension: str, shown: str) -> None:
    assert _refusal(QUERY + extension + "\n").startswith(
        f"schema.graphql:2:1: extension of {shown}: AppSync does not support type or schema extensions"
    )


def test_a_schema_over_one_megabyte() -> None:
    padding = "# " + "x" * 100 + "\n"
    sdl = QUERY + padding * (MAX_SCHEMA_BYTES // len(padding) + 1)
    assert _refusal(sdl).startswith(
        f"schema.graphql:1:1: the schema document is {len(sdl)} bytes; AppSync's limit is 1048576 bytes"
    )


def test_every_violation_is_reported_in_order() -> None:
    sdl = 'scalar AWSJSON\ntype Query { x: E }\nenum E {\n  "d"\n  A\n}\n'
    lines = _refusal(sdl).splitlines()
    assert [line.split(": ")[0] for line in lines] == ["schema.graphql:1:1", "schema.graphql:4:3"]


def test_the_file_name_is_the_one_loaded(tmp_path: Path) -> None:
    path = tmp_path / "api.graphql"
    path.write_text("scalar AWSURL\n" + QUERY)
    with pytest.raises(SchemaError, match=rf"^{path}:1:1: AWSURL is an AppSync scalar"):
        load_schema(path)
