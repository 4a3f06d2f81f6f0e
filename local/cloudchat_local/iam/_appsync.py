"""``appsync:GraphQL`` for template functions calling the emulator with SigV4.

AppSync authorizes an IAM-signed request per root field, on
``arn:aws:appsync:<region>:<account>:apis/<apiId>/types/<Type>/fields/<field>``; when the
caller's policies do not allow one of them it refuses the whole request with HTTP 401
``{"errorType": "UnauthorizedException", "message": "Permission denied"}`` (publicly reported:
aws-amplify/amplify-cli#6595, #13712). :func:`appsync_credentials` gives the emulator one
:class:`~cloudchat_local.emulator.IamCredential` per function, whose ``authorize`` does that
check on the signed body (the GraphQL request).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._policy import AuthzRequest, evaluate
from ._template import FunctionPolicy, PolicyMap
from ._usage import UsageRecorder

__all__ = ["appsync_credentials", "authorize_graphql", "root_fields"]

log = logging.getLogger("cloudchat_local.iam")

_ROOT_TYPES = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}


def root_fields(body: bytes) -> list[tuple[str, str]] | None:
    """``[(Type, field), ...]`` the GraphQL request in ``body`` selects at its root (the
    operation named by ``operationName``, fragments followed; ``__typename`` left out).
    None when the body is not a GraphQL request that parses."""
    from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, OperationDefinitionNode, parse
    from graphql.error import GraphQLError
    from graphql.language import FragmentDefinitionNode, SelectionSetNode

    try:
        request = json.loads(body or b"{}")
        document = parse(str(request["query"]))
    except (ValueError, KeyError, TypeError, GraphQLError):
        return None
    name = request.get("operationName")
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    chosen = [o for o in operations if name is None or (o.name and o.name.value == name)]
    if len(chosen) != 1:
        return None
    operation = chosen[0]
    type_name = _ROOT_TYPES[operation.operation.value]
    fields: list[tuple[str, str]] = []

    def walk(selection_set: SelectionSetNode, seen: frozenset[str]) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if not selection.name.value.startswith("__"):
                    fields.append((type_name, selection.name.value))
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None and fragment.name.value not in seen:
                    walk(fragment.selection_set, seen | {fragment.name.value})

    walk(operation.selection_set, frozenset())
    return list(dict.fromkeys(fields))


def authorize_graphql(function: FunctionPolicy, api_arn: str, type_name: str, field: str,
                      usage: UsageRecorder | None = None) -> bool:
    """May ``function`` call ``Type.field`` of the API ``api_arn`` (``.../apis/<id>``)?"""
    check = AuthzRequest("appsync:GraphQL", f"{api_arn}/types/{type_name}/fields/{field}",
                         {"aws:securetransport": "false"})
    decision = evaluate(function.statements, check)
    if not decision.allowed:
        log.warning("AccessDenied (%s): %s may not appsync:GraphQL on %s", function.logical_id,
                    function.principal_arn, check.resource)
        return False
    if usage is not None:
        for sid in decision.allowed_by:
            usage.record(function.logical_id, sid, check.action)
    return True


def _authorizer(function: FunctionPolicy, api_arn: str, usage: UsageRecorder | None
                ) -> Callable[[bytes], bool]:
    def authorize(body: bytes) -> bool:
        fields = root_fields(body)
        if fields is None:  # not a GraphQL request (the real-time handshake): nothing to check
            return True
        return all(authorize_graphql(function, api_arn, t, f, usage) for t, f in fields)

    return authorize


def appsync_credentials(policies: PolicyMap, usage_path: Path | None = None) -> tuple[Any, ...]:
    """An emulator ``IamCredential`` per template function (its access key, its role session
    as ``userArn``, and the ``appsync:GraphQL`` check on the template's GraphQL API).
    Allowed calls are recorded in ``usage_path`` (see :mod:`._usage`)."""
    from cloudchat_local.emulator import IamCredential

    api_arn = policies.appsync_api_arn or (
        f"arn:aws:appsync:{policies.region}:{policies.account_id}:apis/local")
    usage = UsageRecorder(usage_path)

    return tuple(
        IamCredential(
            f.access_key_id, f.secret_access_key, account_id=f.account_id,
            user_arn=f.principal_arn, username=f"{f.role_name}:{f.function_name}",
            authorize=_authorizer(f, api_arn, usage),
        )
        for f in policies.functions.values()
    )
