"""What every resolver module shares: the Powertools app factory, the error mapping, the
caller's identity and the process-wide service.

A resolver module stays thin (Powertools' AppSync example style)::

    app = api.create_app()

    @app.resolver(type_name="Query", field_name="me")
    def me() -> dict:
        return views.user(api.service().me(api.caller(app)))

    lambda_handler = api.lambda_handler(app)

Domain errors (:class:`~cloudchat.errors.ChatError`) come back as ``{"error": {type, message}}``,
which appsync/invoke.js (and the local stack) turn into a GraphQL error with that
``errorType``. Anything else is logged with the request id and masked as InternalFailure.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import AppSyncResolver
from aws_lambda_powertools.logging import correlation_paths

from cloudchat import aws
from cloudchat.config import get_settings
from cloudchat.crypto import KeyRing
from cloudchat.errors import INTERNAL_FAILURE, ChatError, Unauthorized
from cloudchat.models import Caller
from cloudchat.notifier import SnsNotifier
from cloudchat.publisher import AppSyncPublisher
from cloudchat.services import ChatService
from cloudchat.store import Store
from cloudchat.tokens import TokenCodec

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def create_app() -> AppSyncResolver:
    app = AppSyncResolver()

    @app.exception_handler(ChatError)
    def _domain_error(exc: ChatError) -> dict[str, Any]:
        logger.info("domain error", extra={"errorType": exc.error_type, "error": exc.message})
        return exc.to_response()

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> dict[str, Any]:
        ctx = app.lambda_context
        request_id = getattr(ctx, "aws_request_id", "unknown")
        logger.exception("unexpected error", extra={"request_id": request_id})
        return {"error": {"type": INTERNAL_FAILURE,
                          "message": f"Internal failure (request {request_id})"}}

    return app


def lambda_handler(app: AppSyncResolver) -> Callable[[dict[str, Any], Any], Any]:
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.APPSYNC_RESOLVER)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> Any:
        return app.resolve(event, context)

    return handler


def caller(app: AppSyncResolver) -> Caller:
    """The Cognito user behind the current event; Unauthorized if there is none."""
    event = app.current_event
    identity = (event.raw_event.get("identity") if event is not None else None) or {}
    sub = identity.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Unauthorized("this operation needs a signed-in user")
    claims = identity.get("claims") or {}
    groups = identity.get("groups") or claims.get("cognito:groups") or []
    username = identity.get("username") or claims.get("cognito:username") or sub
    return Caller(user_id=sub, username=str(username), groups=frozenset(groups), claims=claims)


@lru_cache(maxsize=1)
def service() -> ChatService:
    """The process-wide service (caches live as long as the Lambda container)."""
    s = get_settings()
    keys = KeyRing(aws.kms, s.kms_key_id, max_age_seconds=s.data_key_max_age_seconds,
                   max_uses=s.data_key_max_uses)
    return ChatService(Store(s.table_name, aws.dynamodb), keys, TokenCodec(s.token_secret), s,
                       s3=aws.s3 if s.attachments_bucket else None)


@lru_cache(maxsize=1)
def publisher() -> AppSyncPublisher | None:
    """Publishes server-side events into subscriptions; None when APPSYNC_URL is unset."""
    s = get_settings()
    if not s.appsync_url:
        logger.warning("APPSYNC_URL is not set: user events are not published")
        return None
    return AppSyncPublisher(s.appsync_url, s.region)


@lru_cache(maxsize=1)
def notifier() -> SnsNotifier | None:
    """SNS notifications; None when NOTIFICATIONS_TOPIC_ARN is unset."""
    s = get_settings()
    return SnsNotifier(s.notifications_topic_arn, aws.sns) if s.notifications_topic_arn else None


def reset() -> None:
    """Forget the process-wide service, settings and clients (tests)."""
    service.cache_clear()
    publisher.cache_clear()
    notifier.cache_clear()
    get_settings.cache_clear()
    aws.reset()
