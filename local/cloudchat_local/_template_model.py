"""What :class:`cloudchat_local.template.Template` returns: resources, functions, field wiring."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["DataSourceKind", "FieldWiring", "LambdaFunction", "Resource"]

DataSourceKind = Literal["LAMBDA", "NONE"]


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
    resolver_code_path: Path | None = None

    @property
    def coordinate(self) -> str:
        """``Type.field``, as AppSync names a resolver."""
        return f"{self.type_name}.{self.field_name}"
