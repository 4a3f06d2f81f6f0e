"""The Direct Lambda resolver event, a fake Lambda context, and the result rule.

:func:`build_event` builds what appsync/invoke.js sends to the function::

    {arguments, identity, source, info: {fieldName, parentTypeName, selectionSetList,
     selectionSetGraphQL, variables}, request: {headers, domainName}, prev: null, stash: {}}

:func:`lambda_outcome` is invoke.js's ``response()`` in Python: an invocation error becomes a
GraphQL error of its type (``Lambda:Unhandled`` for an exception escaping the handler); a
result ``{"error": {"type", "message"[, "info"]}}`` becomes a GraphQL error with that
errorType; anything else is the field's value. The truthiness tests follow JavaScript, so
both sides agree on every input (tests/emulator checks this against the JS file with Node).
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    print_ast,
)

LAMBDA_UNHANDLED = "Lambda:Unhandled"

log = logging.getLogger("cloudchat_local.emulator.lambda")


def selection_set_list(
    field_nodes: Sequence[FieldNode], fragments: Mapping[str, FragmentDefinitionNode]
) -> list[str]:
    """AppSync's ``info.selectionSetList``: ``["id", "members", "members/userId", ...]``.

    Aliased fields appear under their alias; fragments are expanded in place.
    """
    out: list[str] = []
    seen: set[str] = set()

    def walk(selection_set: SelectionSetNode | None, prefix: str, visiting: frozenset[str]) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = (selection.alias or selection.name).value
                path = f"{prefix}/{name}" if prefix else name
                if path not in seen:
                    seen.add(path)
                    out.append(path)
                walk(selection.selection_set, path, visiting)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set, prefix, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in visiting:
                    walk(fragment.selection_set, prefix, visiting | {name})

    for node in field_nodes:
        walk(node.selection_set, "", frozenset())
    return out


def selection_set_graphql(field_nodes: Sequence[FieldNode]) -> str:
    """AppSync's ``info.selectionSetGraphQL``: the selection set as written (spreads kept)."""
    for node in field_nodes:
        if node.selection_set is not None:
            return print_ast(node.selection_set)
    return ""


def build_event(
    *,
    arguments: Mapping[str, Any],
    identity: Mapping[str, Any] | None,
    source: Any,
    field_name: str,
    parent_type_name: str,
    field_nodes: Sequence[FieldNode],
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None,
    headers: Mapping[str, str],
    domain_name: str | None = None,
) -> dict[str, Any]:
    """The event a Direct Lambda resolver (appsync/invoke.js) gives the function.

    The result is plain JSON (deep-copied), as the function would receive it over the wire.
    """
    event = {
        "arguments": dict(arguments),
        "identity": identity,
        "source": source,
        "info": {
            "fieldName": field_name,
            "parentTypeName": parent_type_name,
            "selectionSetList": selection_set_list(field_nodes, fragments),
            "selectionSetGraphQL": selection_set_graphql(field_nodes),
            "variables": dict(variables or {}),
        },
        "request": {"headers": dict(headers), "domainName": domain_name},
        "prev": None,
        "stash": {},
    }
    return json.loads(json.dumps(event, default=str))


class LambdaContext:
    """The parts of the Python Lambda context object handlers (and Powertools) use."""

    def __init__(
        self,
        *,
        function_name: str,
        memory_limit_in_mb: int,
        timeout_s: float,
        region: str = "us-east-1",
        account_id: str = "000000000000",
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class FieldValue:
    """The function's result becomes the field's value."""

    value: Any


@dataclass(frozen=True)
class FieldError:
    """``util.error(message, errorType, data, errorInfo)`` was called."""

    message: Any
    error_type: Any
    data: Any = None
    error_info: Any = None


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness of a JSON value (``{}`` and ``[]`` are truthy, NaN is not)."""
    if value is None or value is False:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def lambda_outcome(result: Any = None, error: Mapping[str, Any] | None = None) -> FieldValue | FieldError:
    """appsync/invoke.js ``response(ctx)`` with ``ctx.result = result, ctx.error = error``."""
    if js_truthy(error):
        assert error is not None
        return FieldError(message=error.get("message"), error_type=error.get("type"))
    if isinstance(result, dict) and js_truthy(result.get("error")):
        err = result["error"]
        err_type = err.get("type") if isinstance(err, dict) else None
        if js_truthy(err_type):
            info = err.get("info")
            return FieldError(
                message=err.get("message"),
                error_type=err_type,
                data=None,
                error_info=info if js_truthy(info) else None,
            )
    return FieldValue(result)


def invoke_handler(handler: Any, event: dict[str, Any], context: LambdaContext) -> FieldValue | FieldError:
    """Runs a handler as Lambda would (blocking): exceptions and unserializable results
    become invocation errors of type ``Lambda:Unhandled``; then the result rule applies."""
    try:
        result = handler(event, context)
    except Exception as exc:
        log.exception(
            "%s raised for %s.%s (request %s)",
            context.function_name,
            event.get("info", {}).get("parentTypeName"),
            event.get("info", {}).get("fieldName"),
            context.aws_request_id,
        )
        message = str(exc) or type(exc).__name__
        return lambda_outcome(error={"message": message, "type": LAMBDA_UNHANDLED})
    try:
        wire = json.loads(json.dumps(result))
    except (TypeError, ValueError) as exc:
        return lambda_outcome(
            error={"message": f"Unable to marshal response: {exc}", "type": LAMBDA_UNHANDLED}
        )
    return lambda_outcome(result=wire)
