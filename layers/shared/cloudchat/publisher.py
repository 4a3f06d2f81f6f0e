"""Server-side publishing into subscriptions: IAM-signed (SigV4) calls of the IAM-only
``publishUserEvent`` mutation, which resolves on a NONE data source and so only fans out to
``onUserEvent(userId)`` subscribers.

One event per request, as the one root field of its mutation and never under an alias:
AppSync does not trigger subscriptions for aliased mutation fields, or delivers them under
the alias so subscribers get nulls (dillonkearns/elm-graphql#106,
aws/aws-appsync-community#160, aws-amplify/amplify-js#3213). The requests of one call go out
concurrently, at most ``CONCURRENCY`` at a time, over connections kept open between calls
(urllib3, which botocore already brings: a new TLS connection per publish cost more than the
publish itself). A user's events go one after another, in the order given; different users'
go in parallel."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudchat.errors import PublishError  # (raised here; defined with every error)

if TYPE_CHECKING:  # (imported on first use: every resolver imports this module)
    from concurrent.futures import ThreadPoolExecutor

EVENT_FIELDS = ("userId type conversationId seq senderId preview unreadCount title online at "
                "unreadMentionCount")
QUERY = ("mutation PublishUserEvent($input: UserEventInput!) "
         f"{{ publishUserEvent(input: $input) {{ {EVENT_FIELDS} }} }}")
CONCURRENCY = 16  # requests in flight per publisher (and kept-alive connections)


_ERROR_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9:._-]{0,63}$")


def _error_types(data: bytes) -> list[str]:
    """The ``errorType`` of each GraphQL error in an AppSync answer (at most 3), and
    nothing else of it; ``[]`` when the answer is not such a document."""
    try:
        errors = json.loads(data or b"{}").get("errors") or []
    except (ValueError, AttributeError):
        return []
    if not isinstance(errors, list):
        return []
    types = []
    for error in errors[:3]:
        kind = error.get("errorType") if isinstance(error, dict) else None
        types.append(kind if isinstance(kind, str) and _ERROR_TYPE.fullmatch(kind) else "?")
    return types


class AppSyncPublisher:
    def __init__(self, url: str, region: str, timeout: float = 5.0,
                 concurrency: int = CONCURRENCY) -> None:
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("the AppSync URL must be https (or loopback for the local stack)")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.url = url
        self.region = region
        self.timeout = timeout
        self.concurrency = concurrency
        self._pool: Any = None
        self._workers: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _http(self) -> Any:
        with self._lock:
            if self._pool is None:
                import urllib3

                # One retry when a kept-alive connection turns out closed (the request may
                # then be sent twice: user events are at-least-once, and harmless twice).
                retry = urllib3.Retry(total=1, connect=1, read=1, status=0, other=0,
                                      allowed_methods=None, raise_on_status=False)
                self._pool = urllib3.PoolManager(
                    num_pools=1, maxsize=self.concurrency, block=True, retries=retry,
                    timeout=urllib3.Timeout(connect=2.0, read=self.timeout))
            return self._pool

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._workers is None:
                from concurrent.futures import ThreadPoolExecutor

                self._workers = ThreadPoolExecutor(max_workers=self.concurrency,
                                                   thread_name_prefix="publish")
            return self._workers

    def publish_user_events(self, events: Sequence[dict[str, Any]]) -> None:
        """Publishes every event, one request each; returns when all are published.

        Raises the first failure once the requests already started have finished. After a
        failure no new request starts, so a failed user's later events are never sent
        before the failed one (the caller redoes the whole call: events are at-least-once).
        """
        if not events:
            return
        credentials = self._credentials()
        queues: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            queues.setdefault(str(event.get("userId")), []).append(event)
        failed = threading.Event()
        if len(queues) == 1 or self.concurrency == 1:
            for queue in queues.values():
                self._send_all(queue, credentials, failed)
            return
        pool = self._executor()
        futures = [pool.submit(self._send_all, queue, credentials, failed)
                   for queue in queues.values()]
        errors = [exc for exc in (f.exception() for f in futures) if exc is not None]
        if errors:
            raise errors[0]

    def _send_all(self, queue: list[dict[str, Any]], credentials: Any,
                  failed: threading.Event) -> None:
        """One user's events, in order; stops at the first failure (anyone's)."""
        for event in queue:
            if failed.is_set():
                return
            try:
                self._send(event, credentials)
            except BaseException:
                failed.set()
                raise

    def _send(self, event: dict[str, Any], credentials: Any) -> None:
        body = json.dumps({"query": QUERY, "variables": {"input": event}}).encode()
        headers = self._sign(body, credentials)
        resp = self._http().request("POST", self.url, body=body, headers=headers)
        if resp.status >= 300:
            raise PublishError(f"publishing a user event failed: HTTP {resp.status}, "
                               f"error types {_error_types(resp.data)}")
        result = json.loads(resp.data or b"{}")
        if result.get("errors"):
            raise PublishError(f"publishing a user event failed: error types "
                               f"{_error_types(resp.data)}")

    @staticmethod
    def _credentials() -> Any:
        from cloudchat import aws

        credentials = aws.credentials()  # once per process: a new Session costs ~10 ms
        if credentials is None:
            raise PublishError("no AWS credentials to sign the publish request")
        return credentials.get_frozen_credentials()  # (refreshed when near expiry)

    def _sign(self, body: bytes, credentials: Any) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        req = AWSRequest(method="POST", url=self.url, data=body,
                         headers={"content-type": "application/json"})
        SigV4Auth(credentials, "appsync", self.region).add_auth(req)
        return dict(req.headers.items())
