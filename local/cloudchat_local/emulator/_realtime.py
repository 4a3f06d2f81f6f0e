"""AppSync's real-time protocol at ``/graphql/realtime`` (WebSocket subprotocol ``graphql-ws``).

Handshake auth comes from the ``header`` query parameter (standard base64 of
``{"Authorization", "host"}``, read from the raw query string as gql sends it) or from a
``header-<base64url>`` subprotocol (as Amplify v6 sends it). A bad handshake is answered, on
the client's first frame, with ``connection_error`` (``UnauthorizedException``, errorCode
401) and the socket is closed.

Frames::

    connection_init            -> connection_ack {connectionTimeoutMs}, then "ka" periodically
    start {id, payload: {data: "<json {query, variables}>",
                         extensions: {authorization: {...}}}}
                               -> start_ack {id} | error {id, payload: {errors: [...]}}
    (matching mutation)        -> data {id, payload: {data: {<field>: ...}}}
    stop {id}                  -> complete {id}

Each ``start`` is authorized on its own ``extensions.authorization``; a subscription field
wired to a resolver runs it with the subscriber's identity and arguments, and an error result
rejects the start. Bad frames get an error frame; the connection and its other subscriptions
carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Final

from graphql import (
    GraphQLError,
    OperationType,
    get_argument_values,
    get_variable_values,
)
from graphql.utilities import get_operation_ast
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from cloudchat_local.errors import AuthError, StartRejected

from ._auth import CaseInsensitiveHeaders, Principal, decode_header_blob, raw_query_param
from ._config import LambdaResolver
from ._events import FieldError, build_event
from ._execute import UNAUTHORIZED, Engine
from ._messages import syntax_error, validation_errors, variable_error
from ._pubsub import ActiveSubscription, Outbox, check_filter
from ._quotas import (
    EXECUTION_TIMEOUT,
    EXECUTION_TIMEOUT_MESSAGE,
    MAX_SUBSCRIPTIONS_REACHED,
    max_subscriptions_message,
)
from ._selection import collect_fields, fragments_of

log = logging.getLogger("cloudchat_local.emulator.realtime")

SUBPROTOCOL: Final = "graphql-ws"
HEADER_SUBPROTOCOL_PREFIX: Final = "header-"
NOT_AUTHORIZED: Final = "You are not authorized to make this call."


def _error(error_type: str, message: str) -> dict[str, Any]:
    return {"errorType": error_type, "message": message}


def _error_frame(sub_id: str | None, errors: list[dict[str, Any]]) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "payload": {"errors": errors}}
    if sub_id is not None:
        frame["id"] = sub_id
    return frame


def _slim(error: dict[str, Any]) -> dict[str, Any]:
    """A request error reduced to what error frames carry."""
    return _error(error.get("errorType") or "ValidationError", error["message"])


def handshake_auth(websocket: WebSocket) -> dict[str, Any] | None:
    """The handshake's auth headers: a ``header-`` subprotocol, else the ``header`` param."""
    for offered in websocket.scope.get("subprotocols") or ():
        if offered.startswith(HEADER_SUBPROTOCOL_PREFIX):
            decoded = decode_header_blob(offered[len(HEADER_SUBPROTOCOL_PREFIX) :])
            if decoded is not None:
                return decoded
    blob = raw_query_param(websocket.scope.get("query_string", b""), "header")
    return decode_header_blob(blob) if blob else None


class RealtimeConnection:
    """One client WebSocket."""

    def __init__(self, engine: Engine, websocket: WebSocket) -> None:
        self.engine = engine
        self.ws = websocket
        self.outbox = Outbox(engine.config.subscriber_queue_size)
        self.source_ip = websocket.client.host if websocket.client else "127.0.0.1"
        self.pending: dict[str, asyncio.Task[None]] = {}
        self.active: set[str] = set()
        self._keepalive: asyncio.Task[None] | None = None

    async def run(self) -> None:
        offered = self.ws.scope.get("subprotocols") or []
        auth = handshake_auth(self.ws)
        await self.ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        try:
            if auth is None:
                raise AuthError(401, "UnauthorizedException", NOT_AUTHORIZED)
            await self.engine.authenticator.authenticate(auth, path="/graphql/connect", body=b"{}")
        except AuthError as exc:
            log.info("real-time handshake refused: %s", exc.message)
            await self._refuse()
            return
        writer = asyncio.create_task(self._write())
        try:
            await self._read()
        finally:
            await self._cleanup(writer)

    async def _refuse(self) -> None:
        """AppSync answers a bad handshake with connection_error, then closes."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, TimeoutError):
            message = await asyncio.wait_for(
                self.ws.receive(), timeout=self.engine.config.connection_init_timeout_s
            )
            if message["type"] == "websocket.disconnect":
                return
        frame = {
            "type": "connection_error",
            "payload": {
                "errors": [
                    {"errorType": "UnauthorizedException", "message": NOT_AUTHORIZED, "errorCode": 401}
                ]
            },
        }
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.ws.send_text(json.dumps(frame))
            await self.ws.close(code=1000)

    async def _write(self) -> None:
        while True:
            frame = await self.outbox.next()
            if frame is None:
                return
            try:
                await self.ws.send_text(json.dumps(frame, separators=(",", ":")))
            except (WebSocketDisconnect, RuntimeError, OSError):
                return

    async def _read(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self.outbox.control(
                    _error_frame(None, [_error("BadRequestException", "Binary frames are not supported.")])
                )
                continue
            self._handle(text)

    def _handle(self, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            self.outbox.control(
                _error_frame(None, [_error("BadRequestException", "Unable to parse the message as JSON.")])
            )
            return
        kind = frame.get("type")
        sub_id = frame.get("id") if isinstance(frame.get("id"), str) else None
        if kind == "connection_init":
            self._ack()
        elif kind == "start":
            self._start(sub_id, frame.get("payload"))
        elif kind == "stop":
            self._stop(sub_id)
        else:
            shown = kind if isinstance(kind, str) and kind else "unknown"
            self.outbox.control(
                _error_frame(
                    sub_id,
                    [_error("UnsupportedOperation", f"{shown} not supported through the realtime channel")],
                )
            )

    def _ack(self) -> None:
        self.outbox.control(
            {
                "type": "connection_ack",
                "payload": {"connectionTimeoutMs": self.engine.config.connection_timeout_ms},
            }
        )
        if self._keepalive is None:
            self._keepalive = asyncio.create_task(self._send_keepalives())

    async def _send_keepalives(self) -> None:
        interval = self.engine.config.keepalive_interval_s
        while True:
            self.outbox.control({"type": "ka"})
            await asyncio.sleep(interval)

    def _start(self, sub_id: str | None, payload: Any) -> None:
        if not sub_id:
            self.outbox.control(
                _error_frame(None, [_error("BadRequestException", "A start message needs a string id.")])
            )
            return
        if sub_id in self.pending or sub_id in self.active:
            self.outbox.control(
                _error_frame(
                    sub_id,
                    [_error("DuplicatedOperationError", f"Duplicated operation with id {sub_id}")],
                )
            )
            return
        limit = self.engine.config.max_subscriptions_per_connection
        if limit and len(self.pending) + len(self.active) >= limit:
            # AppSync's "Subscriptions per connection" quota (aws-amplify/amplify-cli#7427).
            self.outbox.control(
                _error_frame(sub_id, [_error(MAX_SUBSCRIPTIONS_REACHED, max_subscriptions_message(limit))])
            )
            return
        self.pending[sub_id] = asyncio.create_task(self._run_start(sub_id, payload))

    def _stop(self, sub_id: str | None) -> None:
        if not sub_id:
            self.outbox.control(
                _error_frame(None, [_error("BadRequestException", "A stop message needs a string id.")])
            )
            return
        task = self.pending.pop(sub_id, None)
        if task is not None:
            task.cancel()
        if sub_id in self.active:
            self.active.discard(sub_id)
            self.engine.broker.remove(self.outbox, sub_id)
        self.outbox.control({"type": "complete", "id": sub_id})

    async def _run_start(self, sub_id: str, payload: Any) -> None:
        try:
            subscription = await asyncio.wait_for(
                self._prepare(sub_id, payload), self.engine.config.request_timeout_s
            )
        except StartRejected as rejected:
            if self.pending.pop(sub_id, None) is not None:
                self.outbox.control(_error_frame(sub_id, rejected.errors))
            return
        except TimeoutError:  # AppSync's request execution time covers subscriptions too
            if self.pending.pop(sub_id, None) is not None:
                timed_out = _error(EXECUTION_TIMEOUT, EXECUTION_TIMEOUT_MESSAGE)
                self.outbox.control(_error_frame(sub_id, [timed_out]))
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("start %s failed", sub_id)
            if self.pending.pop(sub_id, None) is not None:
                self.outbox.control(
                    _error_frame(sub_id, [_error("InternalFailure", "An internal failure occurred.")])
                )
            return
        if self.pending.pop(sub_id, None) is None:
            return  # stopped while starting
        self.engine.broker.add(subscription)
        self.active.add(sub_id)
        self.outbox.control({"type": "start_ack", "id": sub_id})

    async def _prepare(self, sub_id: str, payload: Any) -> ActiveSubscription:
        engine = self.engine
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), str):
            raise StartRejected(_error("BadRequestException", "The start payload needs a data string."))
        data_text: str = payload["data"]
        try:
            request = json.loads(data_text)
        except ValueError:
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            raise StartRejected(_error("BadRequestException", "Unable to parse GraphQL query."))
        variables = request.get("variables") or {}
        if not isinstance(variables, dict):
            raise StartRejected(_error("BadRequestException", "Variables must be a JSON object."))
        extensions = payload.get("extensions")
        auth = extensions.get("authorization") if isinstance(extensions, dict) else None
        if not isinstance(auth, dict):
            raise StartRejected(_error("UnauthorizedException", "Valid authorization header not provided."))
        try:
            principal = await engine.authenticator.authenticate(
                auth, path="/graphql", body=data_text.encode()
            )
        except AuthError as exc:
            raise StartRejected(_error(exc.error_type, exc.message)) from exc

        query: str = request["query"]
        document, syntax, errors = engine.check(query)
        if syntax is not None:
            raise StartRejected(_slim(syntax_error(syntax, query))) from syntax
        if errors:
            raise StartRejected(*[_slim(e) for e in validation_errors(engine.schema, document, errors)])
        operation = get_operation_ast(document, request.get("operationName"))
        if operation is None:
            raise StartRejected(_error("BadRequestException", "Unknown or ambiguous operation."))
        if operation.operation != OperationType.SUBSCRIPTION:
            raise StartRejected(
                _error(
                    "UnsupportedOperation",
                    f"{operation.operation.value} not supported through the realtime channel",
                )
            )
        subscription_type = engine.schema.subscription_type
        assert subscription_type is not None
        coerced = get_variable_values(engine.schema, operation.variable_definitions or (), variables)
        if isinstance(coerced, list):
            raise StartRejected(*[_slim(variable_error(e)) for e in coerced])
        fragments = fragments_of(document)
        fields = collect_fields(
            engine.schema,
            subscription_type,
            [operation.selection_set],
            fragments,
            coerced.coerced,
        )
        if len(fields) != 1:
            raise StartRejected(_error("ValidationError", "A subscription must select exactly one field."))
        field_nodes = next(iter(fields.values()))
        field_name = field_nodes[0].name.value
        denial = engine.authorizer.denial(
            subscription_type.name, field_name, principal.mode, principal.groups
        )
        if denial is not None:
            raise StartRejected(_error(UNAUTHORIZED, denial))
        field_def = subscription_type.fields[field_name]
        try:
            arguments = get_argument_values(field_def, field_nodes[0], coerced)
        except GraphQLError as exc:
            raise StartRejected(_error("ValidationError", exc.message)) from exc
        resolver = engine.resolvers.get((subscription_type.name, field_name))
        rules: dict[str, dict[str, Any]] = {}
        if isinstance(resolver, LambdaResolver):
            rules = await self._authorize_with_resolver(
                resolver, principal, arguments, field_name, field_nodes, fragments, variables, auth
            )
        return ActiveSubscription(
            outbox=self.outbox,
            sub_id=sub_id,
            field_name=field_name,
            arguments=arguments,
            field_nodes=field_nodes,
            fragments=fragments,
            variables=coerced.coerced,
            filter=rules.get("filter"),
            invalidation=rules.get("invalidation"),
            on_invalidated=lambda: self.active.discard(sub_id),
        )

    async def _authorize_with_resolver(
        self,
        resolver: LambdaResolver,
        principal: Principal,
        arguments: dict[str, Any],
        field_name: str,
        field_nodes: Any,
        fragments: Any,
        variables: dict[str, Any],
        auth: dict[str, Any],
    ) -> dict[str, dict[str, Any]]:
        """Runs the field's resolver (a domain error rejects the start); returns the filters
        it set (appsync/subscribe.js: the Lambda result's ``filter`` and ``invalidation``)."""
        headers = CaseInsensitiveHeaders.of(dict(self.ws.headers))
        headers.update(CaseInsensitiveHeaders.of(auth))
        subscription_type = self.engine.schema.subscription_type
        assert subscription_type is not None
        event = build_event(
            arguments=arguments,
            identity=principal.identity_for(self.source_ip),
            source=None,
            field_name=field_name,
            parent_type_name=subscription_type.name,
            field_nodes=field_nodes,
            fragments=fragments,
            variables=variables,
            headers=headers,
        )
        outcome = await self.engine.invoke(resolver, event)
        if isinstance(outcome, FieldError):
            message = "" if outcome.message is None else str(outcome.message)
            raise StartRejected(_error(str(outcome.error_type), message))
        value = outcome.value
        if not resolver.sets_subscription_filter or not isinstance(value, dict):
            return {}
        rules = {}
        for name in ("filter", "invalidation"):
            spec = value.get(name)
            if not spec:
                continue
            try:
                check_filter(spec)
            except ValueError as exc:  # AppSync rejects the start when a filter is invalid
                raise StartRejected(
                    _error("BadRequestException", f"invalid subscription {name} filter: {exc}")
                ) from exc
            rules[name] = dict(spec)
        return rules

    async def _cleanup(self, writer: asyncio.Task[None]) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        for task in self.pending.values():
            task.cancel()
        self.pending.clear()
        self.engine.broker.remove_outbox(self.outbox)
        self.active.clear()
        self.outbox.close()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(writer, timeout=1.0)
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.ws.close()


async def realtime_endpoint(websocket: WebSocket) -> None:
    engine: Engine = websocket.app.state.engine
    await RealtimeConnection(engine, websocket).run()
