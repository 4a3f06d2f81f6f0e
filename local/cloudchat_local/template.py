"""The one reader of ``template.yaml``.

Integration tests build their table from it, the local stack provisions moto and wires the
GraphQL fields to resolver modules from it, and the template tests check it. Nothing else in
the project parses the template, so nothing else can drift from it.

* :func:`load_yaml` parses CloudFormation YAML: the short-form tags (``!Ref``, ``!GetAtt``,
  ``!Sub``, ``!If`` ...) become their long-form dicts (``{"Ref": ...}``,
  ``{"Fn::GetAtt": [...]}``), and dates stay strings, as CloudFormation reads them.
* :func:`load_template` returns a :class:`Template`: typed accessors for the table, the
  Cognito and KMS resources, buckets and topics, the Lambda functions, the AppSync field
  wiring (:class:`FieldWiring`), and :meth:`Template.evaluate`, which resolves intrinsic
  functions against values the caller supplies (the local stack's physical ids).

Resolution mapping (``resolve``), used by :meth:`Template.evaluate` and
:meth:`Template.function_environment`:

====================================  =====================================================
``{"Ref": "X"}``                      ``resolve["X"]``; for a parameter, its ``Default``
                                      unless ``resolve`` overrides it (a list for
                                      ``CommaDelimitedList``/``List<...>`` parameters)
``{"Fn::GetAtt": ["X", "Attr"]}``     ``resolve["X.Attr"]``
``${X}`` / ``${X.Attr}`` in ``!Sub``  as above; ``${!Literal}`` is kept as ``${Literal}``
``AWS::Region``, ``AWS::AccountId``,  ``resolve["AWS::Region"]`` ...; ``AWS::Partition``
``AWS::StackName`` ...                and ``AWS::URLSuffix`` default to ``aws`` and
                                      ``amazonaws.com``
``{{resolve:secretsmanager:${X}:``    ``resolve["X.SecretString"]`` (the secret's value)
``SecretString}}`` in ``!Sub``
any other ``{{resolve:...}}``         ``resolve[<the whole reference>]``
====================================  =====================================================

Anything that cannot be resolved raises :class:`UnresolvedReference`, naming the key.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from cloudchat_local.errors import TemplateError, UnresolvedReference

__all__ = [
    "DEFAULT_TEMPLATE_PATH",
    "FieldWiring",
    "LambdaFunction",
    "Resource",
    "Template",
    "TemplateError",
    "UnresolvedReference",
    "iter_intrinsics",
    "load_template",
    "load_yaml",
]

#: The repository's template.yaml (this file is ``<repo>/local/cloudchat_local/template.py``).
DEFAULT_TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_GRAPHQL_API = "AWS::Serverless::GraphQLApi"

DataSourceKind = Literal["LAMBDA", "NONE"]


# --------------------------------------------------------------------------- YAML


class CfnYamlLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's short-form tags and keeps dates as strings."""


# CloudFormation reads `2012-10-17` as a string; YAML 1.1 would make it a date.
CfnYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_SHORT_FORMS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "And", "Base64", "Cidr", "Equals", "FindInMap", "GetAtt", "GetAZs", "If",
            "ImportValue", "Join", "Length", "Not", "Or", "Select", "Split", "Sub",
            "ToJsonString", "Transform",
        )
    },
}


def _make_constructor(long_name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if long_name == "Fn::GetAtt" and isinstance(value, str):
                logical_id, _, attribute = value.partition(".")
                value = [logical_id, attribute]
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            assert isinstance(node, yaml.MappingNode)
            value = loader.construct_mapping(node, deep=True)
        return {long_name: value}

    return construct


for _short, _long in _SHORT_FORMS.items():
    CfnYamlLoader.add_constructor(f"!{_short}", _make_constructor(_long))


def load_yaml(text: str) -> Any:
    """Parses CloudFormation YAML; short-form tags become long-form intrinsic dicts."""
    return yaml.load(text, Loader=CfnYamlLoader)  # noqa: S506 - SafeLoader subclass


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Resource:
    """One entry of ``Resources``. ``properties`` are raw: intrinsics are not resolved."""

    logical_id: str
    type: str
    properties: Mapping[str, Any]
    definition: Mapping[str, Any]

    @property
    def metadata(self) -> Mapping[str, Any]:
        return dict(self.definition.get("Metadata") or {})


@dataclass(frozen=True)
class LambdaFunction:
    """An ``AWS::Serverless::Function`` with Globals merged in, and how to import it locally.

    ``module`` is the handler's module as this repository imports it: the function's
    ``CodeUri`` (relative to the template) as a package (``resolvers/`` -> ``resolvers``)
    plus the module part of ``Handler`` (``messages.lambda_handler`` -> ``messages``).
    """

    logical_id: str
    code_uri: str
    handler: str
    module: str
    handler_attr: str
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class FieldWiring:
    """How AppSync resolves one GraphQL field, as template.yaml declares it.

    A Lambda-backed field has ``data_source_kind == "LAMBDA"`` and names its function
    (``function_logical_id``) and handler (``module`` + ``handler_attr``); a field on a NONE
    data source has those set to None. ``code_path`` is the APPSYNC_JS function's code
    (``appsync/invoke.js``), ``resolver_code_path`` the resolver's own code, or None when SAM
    generates its default (request ``{}``, response ``ctx.prev.result``).
    """

    type_name: str
    field_name: str
    function_logical_id: str | None
    data_source_kind: DataSourceKind
    module: str | None
    handler_attr: str | None
    code_path: Path | None
    appsync_function: str
    data_source: str
    resolver_code_path: Path | None = None

    @property
    def coordinate(self) -> str:
        """``Type.field``, as AppSync names a resolver."""
        return f"{self.type_name}.{self.field_name}"


# --------------------------------------------------------------------------- template


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SECRET_REFERENCE = re.compile(
    r"\{\{resolve:secretsmanager:\$\{([A-Za-z0-9]+)\}:SecretString\}\}"
)
_DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:[^}]+\}\}")
_NO_VALUE = object()
_PSEUDO_DEFAULTS = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


class Template:
    """A parsed template.yaml. Relative paths in it resolve against its directory."""

    def __init__(self, document: Mapping[str, Any], path: Path) -> None:
        if not isinstance(document, Mapping) or not isinstance(
            document.get("Resources"), Mapping
        ):
            raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
        self.document: Mapping[str, Any] = document
        self.path = path
        self.root = path.parent

    # ------------------------------------------------------------------ sections

    @property
    def parameters(self) -> Mapping[str, Mapping[str, Any]]:
        return dict(self.document.get("Parameters") or {})

    @property
    def outputs(self) -> Mapping[str, Mapping[str, Any]]:
        return dict(self.document.get("Outputs") or {})

    @property
    def function_globals(self) -> Mapping[str, Any]:
        """``Globals.Function`` (SAM), or empty."""
        return dict((self.document.get("Globals") or {}).get("Function") or {})

    def parameter_defaults(self) -> dict[str, str]:
        """Each parameter's ``Default`` as a string (parameters without one are left out)."""
        return {
            name: _to_str(spec["Default"])
            for name, spec in self.parameters.items()
            if isinstance(spec, Mapping) and "Default" in spec
        }

    # ------------------------------------------------------------------ resources

    def resource(self, logical_id: str) -> Resource:
        definition = self.document["Resources"].get(logical_id)
        if not isinstance(definition, Mapping):
            raise TemplateError(f"no resource {logical_id!r} in {self.path.name}")
        return Resource(
            logical_id=logical_id,
            type=str(definition.get("Type")),
            properties=dict(definition.get("Properties") or {}),
            definition=definition,
        )

    def resources(self, type_name: str) -> list[Resource]:
        """All resources of a type, in template order."""
        return [
            self.resource(logical_id)
            for logical_id, definition in self.document["Resources"].items()
            if isinstance(definition, Mapping) and definition.get("Type") == type_name
        ]

    def single(self, type_name: str) -> Resource:
        """The one resource of a type; TemplateError if there is none or more than one."""
        found = self.resources(type_name)
        if len(found) != 1:
            raise TemplateError(
                f"expected exactly one {type_name} in {self.path.name}, found {len(found)}"
            )
        return found[0]

    def table(self) -> Resource:
        return self.single("AWS::DynamoDB::Table")

    def user_pool(self) -> Resource:
        return self.single("AWS::Cognito::UserPool")

    def user_pool_groups(self) -> list[Resource]:
        return self.resources("AWS::Cognito::UserPoolGroup")

    def user_pool_clients(self) -> list[Resource]:
        return self.resources("AWS::Cognito::UserPoolClient")

    def user_pool_client(self) -> Resource:
        return self.single("AWS::Cognito::UserPoolClient")

    def kms_keys(self) -> list[Resource]:
        return self.resources("AWS::KMS::Key")

    def kms_key(self) -> Resource:
        return self.single("AWS::KMS::Key")

    def kms_aliases(self) -> list[Resource]:
        return self.resources("AWS::KMS::Alias")

    def secrets(self) -> list[Resource]:
        return self.resources("AWS::SecretsManager::Secret")

    def buckets(self) -> list[Resource]:
        return self.resources("AWS::S3::Bucket")

    def topics(self) -> list[Resource]:
        return self.resources("AWS::SNS::Topic")

    def graphql_api(self) -> Resource:
        return self.single(SERVERLESS_GRAPHQL_API)

    # ------------------------------------------------------------------ DynamoDB

    def table_create_kwargs(self, table_name: str) -> dict[str, Any]:
        """Keyword arguments for boto3 ``dynamodb.create_table`` that build the template's
        table: keys, attribute definitions, GSIs/LSIs, billing mode and stream. SSE, PITR and
        TTL are left out (TTL needs a separate call: :meth:`ttl_attribute`)."""
        raw = self.table().properties
        sections = (
            "BillingMode", "KeySchema", "AttributeDefinitions", "ProvisionedThroughput",
            "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification",
        )
        # Only what create_table takes: SSE (the key's ARN) etc. need no resolving here.
        props = self.evaluate({k: raw[k] for k in sections if k in raw}, {}, where="Table")
        billing = props.get("BillingMode", "PROVISIONED")
        kwargs: dict[str, Any] = {
            "TableName": table_name,
            "KeySchema": copy.deepcopy(props["KeySchema"]),
            "AttributeDefinitions": copy.deepcopy(props["AttributeDefinitions"]),
            "BillingMode": billing,
        }
        if billing == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput"))
        for section in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            indexes = []
            for index in props.get(section) or []:
                spec = {k: copy.deepcopy(index[k]) for k in ("IndexName", "KeySchema", "Projection")}
                if section == "GlobalSecondaryIndexes" and billing == "PROVISIONED":
                    spec["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"))
                indexes.append(spec)
            if indexes:
                kwargs[section] = indexes
        stream = props.get("StreamSpecification")
        if stream and stream.get("StreamViewType"):
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        return kwargs

    def ttl_attribute(self) -> str | None:
        """The table's TTL attribute, when TTL is enabled."""
        spec = self.table().properties.get("TimeToLiveSpecification") or {}
        if spec.get("Enabled") in (True, "true", "True") and spec.get("AttributeName"):
            return str(spec["AttributeName"])
        return None

    # ------------------------------------------------------------------ Lambda

    def functions(self) -> list[LambdaFunction]:
        """Every ``AWS::Serverless::Function``, Globals merged in."""
        return [self.function(r.logical_id) for r in self.resources(SERVERLESS_FUNCTION)]

    def function(self, logical_id: str) -> LambdaFunction:
        resource = self.resource(logical_id)
        if resource.type != SERVERLESS_FUNCTION:
            raise TemplateError(f"{logical_id} is a {resource.type}, not {SERVERLESS_FUNCTION}")
        merged = {**self.function_globals, **resource.properties}
        code_uri = merged.get("CodeUri")
        handler = merged.get("Handler")
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            raise TemplateError(f"{logical_id}: CodeUri and Handler must be plain strings")
        module, handler_attr = _handler_module(code_uri, handler)
        return LambdaFunction(
            logical_id=logical_id,
            code_uri=code_uri,
            handler=handler,
            module=module,
            handler_attr=handler_attr,
            properties=merged,
        )

    def function_environment(
        self, logical_id: str, resolve: Mapping[str, str]
    ) -> dict[str, str]:
        """The function's environment variables (Globals, then its own), resolved.

        Intrinsics resolve through ``resolve`` (see the module docstring), so the local stack
        fills in its own table name, key ARN, secret value ... Values become strings, as
        Lambda passes them.
        """
        self.function(logical_id)  # validates the id and the type
        variables: dict[str, Any] = {}
        for source in (self.function_globals, self.resource(logical_id).properties):
            variables.update(((source.get("Environment") or {}).get("Variables")) or {})
        resolved = self.evaluate(variables, resolve, where=f"{logical_id}.Environment")
        return {name: _to_str(value) for name, value in resolved.items()}

    # ------------------------------------------------------------------ AppSync

    def field_wiring(self) -> list[FieldWiring]:
        """Every resolver of the GraphQL API, in template order.

        Each resolver must be a pipeline of exactly one AppSync function, on a Lambda data
        source (``FunctionArn: !GetAtt <Function>.Arn``) or on ``NONE``; anything else raises
        TemplateError, since the local stack could not run it faithfully.
        """
        api = self.graphql_api()
        props = api.properties
        functions: Mapping[str, Any] = props.get("Functions") or {}
        data_sources: Mapping[str, Any] = props.get("DataSources") or {}
        lambda_sources: Mapping[str, Any] = data_sources.get("Lambda") or {}
        wiring: list[FieldWiring] = []
        for type_name, fields in (props.get("Resolvers") or {}).items():
            for relative_id, resolver in (fields or {}).items():
                field_name = str(resolver.get("FieldName") or relative_id)
                where = f"{api.logical_id}.Resolvers.{type_name}.{relative_id}"
                pipeline = resolver.get("Pipeline") or []
                if len(pipeline) != 1:
                    raise TemplateError(f"{where}: expected a Pipeline of one function")
                function_name = str(pipeline[0])
                function = functions.get(function_name)
                if not isinstance(function, Mapping):
                    raise TemplateError(f"{where}: no AppSync function {function_name!r}")
                data_source = function.get("DataSource")
                if not isinstance(data_source, str):
                    raise TemplateError(f"{where}: {function_name}.DataSource must be a name")
                function_logical_id: str | None = None
                module: str | None = None
                handler_attr: str | None = None
                kind: DataSourceKind
                if data_source.lower() == "none":
                    kind = "NONE"
                elif data_source in lambda_sources:
                    kind = "LAMBDA"
                    arn = (lambda_sources[data_source] or {}).get("FunctionArn")
                    function_logical_id = _getatt_arn_target(arn)
                    if function_logical_id is None:
                        raise TemplateError(
                            f"{where}: data source {data_source} must use "
                            "FunctionArn: !GetAtt <Function>.Arn"
                        )
                    lambda_function = self.function(function_logical_id)
                    module, handler_attr = lambda_function.module, lambda_function.handler_attr
                else:
                    raise TemplateError(
                        f"{where}: data source {data_source!r} is neither a Lambda data "
                        "source of the API nor NONE"
                    )
                wiring.append(
                    FieldWiring(
                        type_name=str(type_name),
                        field_name=field_name,
                        function_logical_id=function_logical_id,
                        data_source_kind=kind,
                        module=module,
                        handler_attr=handler_attr,
                        code_path=self._code_path(function.get("CodeUri")),
                        appsync_function=function_name,
                        data_source=data_source,
                        resolver_code_path=self._code_path(resolver.get("CodeUri")),
                    )
                )
        return wiring

    def schema_path(self) -> Path:
        """The GraphQL API's ``SchemaUri``, as a path."""
        path = self._code_path(self.graphql_api().properties.get("SchemaUri"))
        if path is None:
            raise TemplateError("the GraphQL API has no SchemaUri")
        return path

    def _code_path(self, uri: Any) -> Path | None:
        if not isinstance(uri, str) or not uri:
            return None
        return (self.root / uri).resolve()

    # ------------------------------------------------------------------ intrinsics

    def condition(self, name: str, resolve: Mapping[str, str]) -> bool:
        """Evaluates a named entry of ``Conditions``."""
        conditions = self.document.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"no condition {name!r}")
        return bool(self.evaluate(conditions[name], resolve, where=f"Conditions.{name}"))

    def evaluate(self, value: Any, resolve: Mapping[str, str], *, where: str = "") -> Any:
        """Returns ``value`` with every intrinsic function resolved (see module docstring).

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
            return _to_str(args[0]) == _to_str(args[1])
        if name == "Fn::Not":
            return not bool(args[0])
        if name == "Fn::And":
            return all(bool(a) for a in args)
        if name == "Fn::Or":
            return any(bool(a) for a in args)
        if name == "Fn::Join":
            return _to_str(args[0]).join(_to_str(a) for a in args[1])
        if name == "Fn::Select":
            return args[1][int(args[0])]
        if name == "Fn::Split":
            return _to_str(args[1]).split(_to_str(args[0]))
        if name == "Fn::Base64":
            return base64.b64encode(_to_str(args).encode()).decode()
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
                return _to_str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return self._lookup(name, resolve, where)
            return _to_str(self._ref(name, resolve, where))

        result = _SUB_VARIABLE.sub(substitute, text)
        if _DYNAMIC_REFERENCE.search(result):
            result = _DYNAMIC_REFERENCE.sub(lambda m: self._lookup(m.group(0), resolve, where), result)
        return result


def load_template(path: Path | None = None) -> Template:
    """Parses template.yaml (by default the repository's: :data:`DEFAULT_TEMPLATE_PATH`)."""
    path = Path(path) if path is not None else DEFAULT_TEMPLATE_PATH
    return Template(load_yaml(path.read_text(encoding="utf-8")), path.resolve())


# --------------------------------------------------------------------------- helpers


def _handler_module(code_uri: str, handler: str) -> tuple[str, str]:
    """``("resolvers/", "messages.lambda_handler")`` -> ``("resolvers.messages", "lambda_handler")``."""
    module_part, _, attr = handler.rpartition(".")
    if not module_part or not attr:
        raise TemplateError(f"Handler {handler!r} is not <module>.<function>")
    package = [p for p in code_uri.replace("\\", "/").strip("/").split("/") if p not in ("", ".")]
    if any(not p.isidentifier() for p in package):
        raise TemplateError(f"CodeUri {code_uri!r} is not an importable package path")
    return ".".join([*package, module_part]), attr


def _getatt_arn_target(value: Any) -> str | None:
    """``{"Fn::GetAtt": ["X", "Arn"]}`` -> ``"X"``."""
    if isinstance(value, Mapping) and set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        parts = target.split(".", 1) if isinstance(target, str) else list(target)
        if len(parts) == 2 and parts[1] == "Arn":
            return str(parts[0])
    return None


def _throughput(value: Any) -> dict[str, int]:
    value = value or {}
    return {
        "ReadCapacityUnits": int(value.get("ReadCapacityUnits", 5)),
        "WriteCapacityUnits": int(value.get("WriteCapacityUnits", 5)),
    }


def _parameter_value(spec: Any, value: Any) -> Any:
    """A parameter's value as ``Ref`` gives it: a list for ``CommaDelimitedList`` and
    ``List<...>`` parameters, a string otherwise."""
    kind = str(spec.get("Type", "")) if isinstance(spec, Mapping) else ""
    if kind == "CommaDelimitedList" or kind.startswith("List<"):
        if isinstance(value, list):
            return [_to_str(v) for v in value]
        return [part.strip() for part in _to_str(value).split(",")]
    return value if not isinstance(spec, Mapping) else _to_str(value)


def _to_str(value: Any) -> str:
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
