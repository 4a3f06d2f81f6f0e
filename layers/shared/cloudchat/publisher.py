"""Server-side publishing into subscriptions: IAM-signed (SigV4) calls of the IAM-only
``publishUserEvent`` mutation, which resolves on a NONE data source and so only fans out to
``onUserEvent(userId)`` subscribers. Events are batched as aliased fields of one mutation.

The publisher keeps its HTTPS connection open between publishes (urllib3, which botocore
already brings): a new TLS connection per publish cost more than the publish itself."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cloudchat.errors import ChatError

EVENT_FIELDS = "userId type conversationId seq senderId preview unreadCount title online at"
BATCH = 25


class PublishError(ChatError):
    error_type = "InternalFailure"


class AppSyncPublisher:
    def __init__(self, url: str, region: str, timeout: float = 5.0) -> None:
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("the AppSync URL must be https (or loopback for the local stack)")
        self.url = url
        self.region = region
        self.timeout = timeout
        self._pool: Any = None

    def _http(self) -> Any:
        if self._pool is None:
            import urllib3

            # One retry when a kept-alive connection turns out closed (the request may
            # then be sent twice: user events are at-least-once, and harmless twice).
            retry = urllib3.Retry(total=1, connect=1, read=1, status=0, other=0,
                                  allowed_methods=None, raise_on_status=False)
            self._pool = urllib3.PoolManager(
                num_pools=1, maxsize=4, block=False, retries=retry,
                timeout=urllib3.Timeout(connect=2.0, read=self.timeout))
        return self._pool

    def publish_user_events(self, events: Sequence[dict[str, Any]]) -> None:
        for i in range(0, len(events), BATCH):
            self._send(events[i:i + BATCH])

    def _send(self, events: Sequence[dict[str, Any]]) -> None:
        params = ", ".join(f"$e{i}: UserEventInput!" for i in range(len(events)))
        fields = " ".join(f"e{i}: publishUserEvent(input: $e{i}) {{ {EVENT_FIELDS} }}"
                          for i in range(len(events)))
        body = json.dumps({"query": f"mutation Publish({params}) {{ {fields} }}",
                           "variables": {f"e{i}": e for i, e in enumerate(events)}}).encode()
        headers = self._sign(body)
        resp = self._http().request("POST", self.url, body=body, headers=headers)
        if resp.status >= 300:
            raise PublishError(f"publishing user events failed: HTTP {resp.status} "
                               f"{resp.data[:300]!r}")
        result = json.loads(resp.data or b"{}")
        if result.get("errors"):
            raise PublishError(f"publishing user events failed: {result['errors'][:3]}")

    def _sign(self, body: bytes) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        from cloudchat import aws

        credentials = aws.credentials()  # once per process: a new Session costs ~10 ms
        if credentials is None:
            raise PublishError("no AWS credentials to sign the publish request")
        req = AWSRequest(method="POST", url=self.url, data=body,
                         headers={"content-type": "application/json"})
        SigV4Auth(credentials.get_frozen_credentials(), "appsync", self.region).add_auth(req)
        return dict(req.headers.items())
