"""What every resolver module shares: the Powertools app factory, the error mapping, the
caller's identity and the process-wide service.

A resolver module stays thin (Powertools' AppSync example style, same decorator API)::

    app = api.create_app()

    @app.resolver(type_name="Query", field_name="me")
    def me() -> dict:
        return views.user(api.service().me(api.caller(app)))

    lambda_handler = api.lambda_handler(app)

Domain errors (:class:`~cloudchat.errors.ChatError`) come back as ``{"error": {type, message}}``,
which appsync/invoke.js (and the local stack) turn into a GraphQL error with that
``errorType``. Anything else, the internal errors among it (:class:`~cloudchat.errors.InternalError`:
configuration, publishing), is logged with its stack and the request id and masked as
InternalFailure: its text never reaches the client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths

from cloudchat import aws
from cloudchat.config import get_settings
from cloudchat.crypto import KeyRing
from cloudchat.errors import INTERNAL_FAILURE, BadRequest, ChatError, RateLimited, Unauthorized
from cloudchat.models import Caller
from cloudchat.services import ChatService
from cloudchat.store import Store
from cloudchat.tokens import TokenCodec

if TYPE_CHECKING:  # (imported by the factories below: only the stream consumer makes them)
    from cloudchat.notifier import SnsNotifier
    from cloudchat.publisher import AppSyncPublisher

logger = Logger()
metrics = Metrics()
# No Powertools Tracer: the X-Ray SDK builds a sampling client at import (~200 ms of
# cold start, over the 1.3x budget). Invocations are still traced: the functions run
# with Tracing: Active and AppSync has X-Ray on; only per-AWS-call subsegments are lost.


class Resolver:
    """Routes AppSync direct-resolver events to functions, with Powertools' decorator API
    (``@app.resolver(type_name=..., field_name=...)``; arguments become keyword arguments).

    Why not Powertools' ``AppSyncResolver``: importing ``aws_lambda_powertools.event_handler``
    loads every event handler it has (API Gateway, ALB, Bedrock, ...), 30-40 ms of each cold
    start, which alone breaks the 1.3x ``import boto3`` budget (bench/cold_start.py).
    """

    def __init__(self) -> None:
        self.routes: dict[str, Callable[..., Any]] = {}
        # Per thread: the local stack runs handlers concurrently in worker threads.
        self._local = threading.local()

    @property
    def current_event(self) -> dict[str, Any] | None:
        return getattr(self._local, "event", None)

    def resolver(self, type_name: str, field_name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.routes[f"{type_name}.{field_name}"] = fn
            return fn

        return register

    def resolve(self, event: dict[str, Any], context: Any) -> Any:
        """The field's result, or ``{"error": {type, message}}`` (see appsync/invoke.js)."""
        self._local.event = event
        info = event.get("info") or {}
        route = f"{info.get('parentTypeName')}.{info.get('fieldName')}"
        try:
            fn = self.routes.get(route)
            if fn is None:
                raise LookupError(f"no resolver for {route}")
            return fn(**(event.get("arguments") or {}))
        except ChatError as exc:
            logger.info("domain error", extra={"errorType": exc.error_type, "error": exc.message})
            return exc.to_response()
        except Exception as exc:
            if _throttled(exc):  # AWS throttled us even after the SDK's retries: slow down
                logger.warning("throttled", extra={"field": route, "error": str(exc)})
                return RateLimited("the service is busy right now (throttled); retry in a moment",
                                   info={"retryAfterSeconds": 1}).to_response()
            request_id = getattr(context, "aws_request_id", "unknown")
            logger.exception("unexpected error", extra={"request_id": request_id, "field": route})
            return {"error": {"type": INTERNAL_FAILURE,
                              "message": f"Internal failure (request {request_id})"}}
        finally:
            self._local.event = None


_THROTTLING = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException",
                         "Throttling", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown"})


def _throttled(exc: Exception) -> bool:
    """A botocore ClientError for AWS throttling (DynamoDB, KMS, S3, SNS)."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    return isinstance(error, dict) and error.get("Code") in _THROTTLING


def create_app() -> Resolver:
    return Resolver()


def lambda_handler(app: Resolver) -> Callable[[dict[str, Any], Any], Any]:
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.APPSYNC_RESOLVER)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> Any:
        if isinstance(event, dict) and _ill_formed(event.get("arguments")):
            return BadRequest("text arguments must be valid Unicode (an unpaired surrogate "
                              "is not a character)").to_response()
        return app.resolve(event, context)

    return handler


def _ill_formed(value: Any) -> bool:
    """Whether any string in the arguments holds an unpaired surrogate: JSON can carry one
    (``"\\ud800"``), but it cannot be encrypted, stored or sent on as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_ill_formed(k) or _ill_formed(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_ill_formed(v) for v in value)
    return False


def caller(app: Resolver) -> Caller:
    """The Cognito user behind the current event; Unauthorized if there is none."""
    identity = (app.current_event or {}).get("identity") or {}
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
    from cloudchat.publisher import AppSyncPublisher

    s = get_settings()
    if not s.appsync_url:
        logger.warning("APPSYNC_URL is not set: user events are not published")
        return None
    return AppSyncPublisher(s.appsync_url, s.region)


@lru_cache(maxsize=1)
def notifier() -> SnsNotifier | None:
    """SNS notifications and SES e-mail notices; None when neither NOTIFICATIONS_TOPIC_ARN
    nor NOTICE_SENDER is set."""
    from cloudchat.notifier import SnsNotifier

    s = get_settings()
    if not s.notifications_topic_arn and not s.notice_sender:
        return None
    return SnsNotifier(s.notifications_topic_arn, aws.sns, s.notice_sender,
                       (lambda: aws.client("ses")) if s.notice_sender else None)


def reset() -> None:
    """Forget the process-wide service, settings and clients (tests)."""
    service.cache_clear()
    publisher.cache_clear()
    notifier.cache_clear()
    get_settings.cache_clear()
    aws.reset()
