"""The engine: the served schema, its resolvers, and running one GraphQL request.

Wired fields run their Lambda handler in a worker thread (never on the event loop) with the
event a Direct Lambda resolver builds; NONE fields resolve to their arguments; every other
field resolves by property from its parent. Every field is authorized first (see
:mod:`._authz`), AppSync's quotas apply (:mod:`._quotas`), and an aliased mutation root field
publishes nothing. Errors are rendered as AppSync renders them::

    {"path": [...], "data": null, "errorType": "Forbidden", "errorInfo": null,
     "locations": [{"line": 2, "column": 3, "sourceName": null}], "message": "..."}
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_named_type,
    parse,
    validate,
)
from graphql.utilities import get_operation_ast

from cloudchat_local.errors import ConfigError, ResolverError

from . import _quotas as quotas
from ._auth import Authenticator, Principal
from ._authz import Authorizer
from ._config import EmulatorConfig, Invocation, LambdaResolver, NoneDataSource, normalize_resolver
from ._events import (
    LAMBDA_UNHANDLED,
    FieldError,
    FieldValue,
    LambdaContext,
    build_event,
    invoke_handler,
    lambda_outcome,
)
from ._messages import VALIDATION_ERROR, request_error, syntax_error, validation_errors, variable_error
from ._pubsub import Broker
from ._schema import load_schema
from ._selection import collect_fields, fragments_of, published_payload

log = logging.getLogger("cloudchat_local.emulator")

UNAUTHORIZED: Final = "Unauthorized"


@dataclass
class RequestContext:
    """Per-request state handed to resolvers as ``info.context``."""

    principal: Principal
    source_ip: str
    headers: dict[str, str]
    variables: dict[str, Any]
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: wired fields (resolvers) run so far, for the API's resolver count limit
    resolvers_run: int = 0
    #: the request's ``extensions.invalidateSubscriptions`` calls (AppSync allows five)
    invalidations: quotas.InvalidationBudget = field(
        default_factory=lambda: quotas.InvalidationBudget(quotas.INVALIDATIONS_PER_REQUEST)
    )

    @property
    def identity(self) -> dict[str, Any]:
        return self.principal.identity_for(self.source_ip)


_NON_NULL: Final = re.compile(r"^Cannot return null for non-nullable field (?P<p>\w+)\.(?P<f>\w+)\.$")


class _AuthMiddleware:
    """Authorizes every field, and applies the API's query depth limit."""

    def __init__(self, authorizer: Authorizer, depth_limit: int = 0) -> None:
        self._authorizer = authorizer
        self._depth_limit = depth_limit

    def resolve(self, next_: Callable[..., Any], root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        ctx: RequestContext = info.context
        principal = ctx.principal
        denial = self._authorizer.denial(
            info.parent_type.name, info.field_name, principal.mode, principal.groups
        )
        if denial is not None:
            raise ResolverError(denial, UNAUTHORIZED)
        if self._depth_limit and quotas.query_depth(info.path) > self._depth_limit:
            raise ResolverError(quotas.depth_limit_message(self._depth_limit), quotas.LIMIT_EXCEEDED)
        return next_(root, info, **args)


def invocation_outcome(
    invocation: Invocation, event: dict[str, Any], context: LambdaContext
) -> FieldValue | FieldError:
    """invoke.js's ``response()`` for an invocation made elsewhere: a failed invocation (the
    function's unhandled error, a timeout, a crash) is ``Lambda:Unhandled`` with Lambda's
    errorMessage, as :func:`invoke_handler` reports an exception raised in-process."""
    error = invocation.error
    if error is None:
        return lambda_outcome(result=invocation.result)
    info = event.get("info") or {}
    log.error("%s failed for %s.%s (request %s): %s: %s", context.function_name,
              info.get("parentTypeName"), info.get("fieldName"), context.aws_request_id,
              error.get("errorType"), error.get("errorMessage"))
    message = error.get("errorMessage") or error.get("errorType") or "Unknown error"
    return lambda_outcome(error={"message": message, "type": LAMBDA_UNHANDLED})


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: dict[str, Any]
    publish: list[tuple[str, Any]] = field(default_factory=list)


class Engine:
    """Everything shared by the HTTP and real-time endpoints of one emulator."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.schema = load_schema(config.schema_path)
        # Clients send the same few documents over and over: parse and validate each once.
        self.check = functools.lru_cache(maxsize=1024)(self._check)
        self.authorizer = Authorizer(self.schema)
        self.authenticator = Authenticator(config.cognito, config.iam)
        self.broker = Broker(self.schema, payload_limit=config.subscription_payload_limit_bytes)
        self.resolvers: dict[tuple[str, str], LambdaResolver | NoneDataSource] = {}
        self._executor = ThreadPoolExecutor(max_workers=config.handler_workers, thread_name_prefix="lambda")
        self._middleware = [_AuthMiddleware(self.authorizer, config.query_depth_limit)]
        self._resolver_limit = config.resolver_count_limit or quotas.RESOLVER_COUNT_DEFAULT
        for key, resolver in config.resolvers.items():
            self._wire(key, normalize_resolver(key, resolver))

    # -- wiring ---------------------------------------------------------------------------

    def _wire(self, key: tuple[str, str], resolver: LambdaResolver | NoneDataSource) -> None:
        type_name, field_name = key
        type_ = self.schema.get_type(type_name)
        if not isinstance(type_, GraphQLObjectType) or field_name not in type_.fields:
            raise ConfigError(f"wired field {type_name}.{field_name} is not in the schema")
        self.resolvers[key] = resolver
        if type_ is self.schema.subscription_type:
            return  # subscription resolvers run at start time (see _realtime)
        field_def = type_.fields[field_name]
        if isinstance(resolver, NoneDataSource):
            only_input = list(field_def.args) == ["input"]

            def resolve_none(*positional: Any, **args: Any) -> Any:
                self._count_resolver(positional[1].context)
                return args.get("input") if only_input else args

            field_def.resolve = resolve_none
        else:
            field_def.resolve = self._lambda_resolver(resolver)

    def _lambda_resolver(self, resolver: LambdaResolver) -> Callable[..., Awaitable[Any]]:
        async def resolve(*positional: Any, **args: Any) -> Any:
            source, info = positional
            ctx: RequestContext = info.context
            self._count_resolver(ctx)
            is_root = info.parent_type in (
                self.schema.query_type,
                self.schema.mutation_type,
                self.schema.subscription_type,
            )
            event = build_event(
                arguments=args,
                identity=ctx.identity,
                source=None if is_root else source,
                field_name=info.field_name,
                parent_type_name=info.parent_type.name,
                field_nodes=info.field_nodes,
                fragments=info.fragments,
                variables=ctx.variables,
                headers=ctx.headers,
            )
            outcome = await self.invoke(resolver, event)
            if isinstance(outcome, FieldError):
                raise ResolverError(outcome.message, outcome.error_type, outcome.data, outcome.error_info)
            limit = self.config.resolver_result_limit_bytes
            if limit and quotas.payload_bytes(outcome.value) > limit:
                raise ResolverError(quotas.TRANSFORMATION_TOO_LARGE, quotas.MAPPING_TEMPLATE)
            if resolver.revokes_subscriptions:
                self._revoke(outcome.value, ctx.invalidations)
            return outcome.value

        return resolve

    def _count_resolver(self, ctx: RequestContext) -> None:
        ctx.resolvers_run += 1
        if ctx.resolvers_run > self._resolver_limit:
            raise ResolverError(quotas.resolver_limit_message(self._resolver_limit), quotas.LIMIT_EXCEEDED)

    #: appsync/revoke.js's FIELDS: the conversation subscriptions a removal closes.
    REVOKED_FIELDS = ("onMessage", "onReceipt", "onTyping", "onMembershipChange")
    #: appsync/revoke.js's EVERYONE: the userId a deleted conversation's invalidations carry.
    EVERYONE = "*"

    def _revoke(self, change: Any, budget: quotas.InvalidationBudget) -> int:
        """appsync/revoke.js: members REMOVED from (or who LEFT) a conversation lose their open
        subscriptions on it, and every member those on a DELETED one, through each
        subscription's invalidation filter. A request may
        make five unique invalidateSubscriptions calls: past that, the field errors (its write
        already made) and invalidates nothing."""
        if not isinstance(change, dict) or change.get("action") not in ("REMOVED", "LEFT", "DELETED"):
            return 0
        user_ids = change.get("userIds")
        if change["action"] == "DELETED":  # every member's: revoke.js's EVERYONE
            user_ids = [self.EVERYONE] if change.get("conversationId") else None
        if not isinstance(user_ids, list):
            return 0
        calls = [
            (name, {"conversationId": change.get("conversationId"), "userId": user})
            for user in user_ids
            for name in self.REVOKED_FIELDS
        ]
        refusal = budget.admit(calls)
        if refusal is not None:
            raise ResolverError(refusal, quotas.INVALIDATION_LIMIT_EXCEEDED)
        return sum(self.broker.invalidate(name, payload) for name, payload in calls)

    async def invoke(self, resolver: LambdaResolver, event: dict[str, Any]) -> FieldValue | FieldError:
        """Runs the handler in a worker thread, as a Lambda invocation, within its timeout
        (a timed-out handler's thread cannot be stopped; its result is dropped); or calls
        the resolver's invoker (which enforces the timeout itself) in a worker thread."""
        context = LambdaContext(
            function_name=resolver.function_name,
            memory_limit_in_mb=resolver.memory_limit_in_mb,
            timeout_s=resolver.timeout_s,
        )
        loop = asyncio.get_running_loop()
        if resolver.invoker is not None:
            invocation = await loop.run_in_executor(self._executor, resolver.invoker, event, context)
            return invocation_outcome(invocation, event, context)
        future = loop.run_in_executor(self._executor, invoke_handler, resolver.handler, event, context)
        try:
            return await asyncio.wait_for(future, timeout=resolver.timeout_s)
        except TimeoutError:
            log.error(
                "%s timed out after %.2f s (request %s)",
                resolver.function_name,
                resolver.timeout_s,
                context.aws_request_id,
            )
            message = f"Task timed out after {resolver.timeout_s:.2f} seconds"
            return FieldError(message, LAMBDA_UNHANDLED)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- requests ---------------------------------------------------------------------------

    def _check(self, query: str) -> tuple[Any, GraphQLError | None, list[GraphQLError]]:
        """(document, syntax error, validation errors) of a query (cached per text)."""
        try:
            document = parse(query)
        except GraphQLError as exc:
            return None, exc, []
        return document, None, list(validate(self.schema, document))

    async def run_http(
        self,
        payload: Mapping[str, Any],
        *,
        principal: Principal,
        source_ip: str,
        headers: dict[str, str],
    ) -> HttpResult:
        """One POST /graphql body (already shape-checked) for an authenticated caller."""
        query = payload["query"]
        variables = payload.get("variables") or {}
        operation_name = payload.get("operationName")
        document, syntax, errors = self.check(query)
        if syntax is not None:
            return HttpResult(200, {"data": None, "errors": [syntax_error(syntax, query)]})
        assert document is not None
        if errors:
            return HttpResult(200, {"data": None, "errors": validation_errors(self.schema, document, errors)})
        operation = get_operation_ast(document, operation_name)
        if operation is not None and operation.operation == OperationType.SUBSCRIPTION:
            error = request_error("Subscriptions are served by the real-time endpoint "
                                  "(/graphql/realtime).", None, "UnsupportedOperation")
            return HttpResult(200, {"data": None, "errors": [error]})
        ctx = RequestContext(
            principal=principal, source_ip=source_ip, headers=headers, variables=dict(variables),
            invalidations=quotas.InvalidationBudget(self.config.max_invalidations_per_request),
        )
        try:
            result = await asyncio.wait_for(
                self.execute(document, ctx, variables, operation_name), self.config.request_timeout_s
            )
        except TimeoutError:
            log.error("request %s timed out after %.2f s", ctx.request_id, self.config.request_timeout_s)
            error = request_error(quotas.EXECUTION_TIMEOUT_MESSAGE, None, quotas.EXECUTION_TIMEOUT)
            return HttpResult(200, {"data": None, "errors": [error]})
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            if result.data is None and all(e.path is None for e in result.errors):
                body["errors"] = [self._request_error(e) for e in result.errors]
            else:
                body["errors"] = [self.format_error(e) for e in result.errors]
        publish = []
        if operation is not None and operation.operation == OperationType.MUTATION and result.data:
            publish = self._publications(document, operation, result.data, variables)
        return HttpResult(200, body, publish)

    async def execute(
        self,
        document: DocumentNode,
        ctx: RequestContext,
        variables: Mapping[str, Any] | None,
        operation_name: str | None,
    ) -> ExecutionResult:
        result = execute(
            self.schema,
            document,
            context_value=ctx,
            variable_values=dict(variables or {}),
            operation_name=operation_name,
            middleware=self._middleware,
        )
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        return result

    def _request_error(self, error: GraphQLError) -> dict[str, Any]:
        if error.message.startswith("Variable '$"):
            return variable_error(error)
        locations = (
            [{"line": loc.line, "column": loc.column, "sourceName": None} for loc in error.locations]
            if error.locations
            else None
        )
        return request_error(error.message, locations, VALIDATION_ERROR)

    def format_error(self, error: GraphQLError) -> dict[str, Any]:
        """An execution error as AppSync renders it."""
        original: BaseException | None = error.original_error
        while original is not None and not isinstance(original, ResolverError):
            original = getattr(original, "original_error", None)
        message = error.message
        error_type: Any = None
        error_info: Any = None
        data: Any = None
        if isinstance(original, ResolverError):
            message, error_type = original.message, original.error_type
            data, error_info = original.data, original.error_info
        else:
            match = _NON_NULL.match(message)
            if match:
                message = self._non_null_message(match["p"], match["f"], error.path or [])
        return {
            "path": list(error.path) if error.path is not None else None,
            "data": data,
            "errorType": error_type,
            "errorInfo": error_info,
            "locations": (
                [{"line": loc.line, "column": loc.column, "sourceName": None} for loc in error.locations]
                if error.locations
                else None
            ),
            "message": message,
        }

    def _non_null_message(self, parent: str, field_name: str, path: Any) -> str:
        type_name = field_name
        parent_type = self.schema.get_type(parent)
        if isinstance(parent_type, GraphQLObjectType) and field_name in parent_type.fields:
            type_name = get_named_type(parent_type.fields[field_name].type).name
        shown = "/" + "/".join(str(p) for p in path)
        return f"Cannot return null for non-nullable type: '{type_name}' within parent '{parent}' ({shown})"

    def _publications(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        data: Mapping[str, Any],
        variables: Mapping[str, Any],
    ) -> list[tuple[str, Any]]:
        mutation_type = self.schema.mutation_type
        assert mutation_type is not None
        fragments = fragments_of(document)
        out = []
        fields = collect_fields(self.schema, mutation_type, [operation.selection_set], fragments, variables)
        for key, nodes in fields.items():
            name = nodes[0].name.value
            if nodes[0].alias is not None:
                # Publicly reported: an aliased mutation root field triggers no subscription
                # (dillonkearns/elm-graphql#106, aws-amplify/amplify-js#3213). It still runs
                # and answers under its alias.
                continue
            if data.get(key) is None or not self.broker.publishes(name):
                continue
            payload = published_payload(
                self.schema,
                data[key],
                nodes,
                mutation_type.fields[name].type,
                fragments,
                variables,
            )
            out.append((name, payload))
        return out

    def publish(self, publications: list[tuple[str, Any]]) -> int:
        return sum(self.broker.publish(name, payload) for name, payload in publications)
