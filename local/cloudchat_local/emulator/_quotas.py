"""AppSync's quotas, enforced locally so that what passes here does not fail on AWS.

Values are AppSync's (https://docs.aws.amazon.com/general/latest/gr/appsync.html, "Service
quotas"); :class:`~._config.EmulatorConfig` carries them as defaults:

* "Request execution time for mutations, queries, and subscriptions": 30 s, not adjustable.
  A request still running then answers ``Execution timed out.`` (the handler may still
  finish and commit its write, as on AWS: nothing is published).
* "Subscription payload size": 240 KB. A mutation's published payload over it reaches no
  subscriber and the mutation still succeeds: AppSync counts it as an ``InboundMessageError``
  and tells nobody (aws/aws-appsync-community#33, #175).
* "Evaluated resolver template size": 5 MB. A resolver result (what invoke.js's response
  handler evaluates to: the Lambda's result) over it is the field error AppSync reports
  as ``MappingTemplate`` / ``Transformation too large``
  (awslabs/aws-mobile-appsync-sdk-js#124, from when the limit was 1 MB).
* "Subscriptions per connection": 100; a ``start`` past it is refused with AppSync's
  ``MaxSubscriptionsReachedError`` (aws-amplify/amplify-cli#7427, #3547).
* The API's ``QueryDepthLimit`` (0: none; 1 to 75) and ``ResolverCountLimit`` (0: the
  quota "Resolvers executed in a single request", 10,000; 1 to 10,000): "This field will
  produce a limit error if the operation falls out of bounds", and a non-null field's error
  goes up to the first nullable one (AppSync API reference, CreateGraphqlApi). SAM's
  ``AWS::Serverless::GraphQLApi`` cannot set them, so they are emulator settings.
* At most five unique ``extensions.invalidateSubscriptions()`` calls in one request
  (https://docs.aws.amazon.com/appsync/latest/devguide/extensions.html): more is a GraphQL
  error on the field whose resolver made them, after its data source ran (the write is
  committed) and without the invalidations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from graphql.pyutils import Path

REQUEST_EXECUTION_TIMEOUT_S: Final = 30.0
SUBSCRIPTION_PAYLOAD_BYTES: Final = 240 * 1024
RESOLVER_RESULT_BYTES: Final = 5 * 1024 * 1024
SUBSCRIPTIONS_PER_CONNECTION: Final = 100
INVALIDATIONS_PER_REQUEST: Final = 5
QUERY_DEPTH_LIMIT_MAX: Final = 75
RESOLVER_COUNT_DEFAULT: Final = 10_000

EXECUTION_TIMEOUT: Final = "ExecutionTimeout"
EXECUTION_TIMEOUT_MESSAGE: Final = "Execution timed out."
MAX_SUBSCRIPTIONS_REACHED: Final = "MaxSubscriptionsReachedError"
INVALIDATION_LIMIT_EXCEEDED: Final = "InvalidationLimitExceeded"
MAPPING_TEMPLATE: Final = "MappingTemplate"
TRANSFORMATION_TOO_LARGE: Final = "Transformation too large"
#: the errorType of the depth and resolver-count limit errors (AppSync's wording is not
#: documented; this one is the emulator's)
LIMIT_EXCEEDED: Final = "LimitExceededError"


def query_depth(path: Path | None) -> int:
    """How deep a field is: 1 for a root field (list indices do not count)."""
    depth = 0
    while path is not None:
        if isinstance(path.key, str):
            depth += 1
        path = path.prev
    return depth


def depth_limit_message(limit: int) -> str:
    return f"The query exceeds the API's maximum depth of {limit}."


def resolver_limit_message(limit: int) -> str:
    return f"The request exceeds the API's limit of {limit} resolvers."


def payload_bytes(payload: Any) -> int:
    """The size of a payload as JSON on the wire (UTF-8, compact)."""
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def max_subscriptions_message(limit: int) -> str:
    return f"Max number of {limit} subscriptions reached"


class InvalidationBudget:
    """The unique ``invalidateSubscriptions`` calls one request has made so far."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._calls: set[str] = set()

    def __len__(self) -> int:
        return len(self._calls)

    def admit(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str | None:
        """Records ``calls`` (subscription field, payload) and returns None, or, when they
        would take the request past the limit, records nothing and returns the error."""
        keys = {json.dumps([name, dict(payload)], sort_keys=True, default=str) for name, payload in calls}
        total = len(self._calls | keys)
        if total > self.limit:
            return (
                f"A request may make at most {self.limit} unique invalidateSubscriptions "
                f"calls; this one would make {total}."
            )
        self._calls |= keys
        return None
