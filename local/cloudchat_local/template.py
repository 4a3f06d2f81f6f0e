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

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cloudchat_local._cfn_yaml import load_yaml
from cloudchat_local._intrinsics import Intrinsics, iter_intrinsics, to_str
from cloudchat_local._template_model import DataSourceKind, FieldWiring, LambdaFunction, Resource
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


# --------------------------------------------------------------------------- template


class Template(Intrinsics):
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
    # (``parameters`` and the intrinsics: ``evaluate``, ``condition``, are Intrinsics')

    @property
    def outputs(self) -> Mapping[str, Mapping[str, Any]]:
        return dict(self.document.get("Outputs") or {})

    @property
    def function_globals(self) -> Mapping[str, Any]:
        """``Globals.Function`` (SAM), or empty."""
        return dict((self.document.get("Globals") or {}).get("Function") or {})

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
        return {name: to_str(value) for name, value in resolved.items()}

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
