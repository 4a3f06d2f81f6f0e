"""The errors tree: an answer's errorType picks its class (no network)."""

from __future__ import annotations

import pytest
from gql.transport.exceptions import TransportQueryError

from cloudchat_client import errors
from cloudchat_client._transport import api_error


@pytest.mark.parametrize("error_type", ["BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict",
                                        "RateLimited", "IntegrityError", "InternalFailure"])
def test_each_error_type_has_its_class(error_type: str) -> None:
    error = errors.api_error_for(error_type, "no")
    assert type(error).__name__ == error_type
    assert isinstance(error, errors.ApiError) and isinstance(error, errors.CloudChatError)
    assert (error.error_type, error.message, str(error)) == (error_type, "no", f"{error_type}: no")


def test_an_unknown_type_is_a_plain_api_error_and_appsyncs_own_name_is_unauthorized() -> None:
    assert type(errors.api_error_for("Lambda:Unhandled", "boom")) is errors.ApiError
    assert isinstance(errors.api_error_for("UnauthorizedException", "Token has expired."), errors.Unauthorized)


def test_rate_limited_reads_retry_after_from_error_info() -> None:
    answer = TransportQueryError("x", errors=[{"errorType": "RateLimited", "message": "slow down",
                                               "errorInfo": {"retryAfterSeconds": 3}}])
    error = api_error(answer)
    assert isinstance(error, errors.RateLimited) and error.retry_after == 3.0
    assert errors.RateLimited("RateLimited", "slow down").retry_after is None
    assert errors.RateLimited("RateLimited", "x", {"retryAfterSeconds": "soon"}).retry_after is None


def test_auth_and_network_errors_are_not_api_errors() -> None:
    assert issubclass(errors.NotLoggedIn, errors.AuthError)
    assert issubclass(errors.StackUnreachable, errors.NetworkError)
    assert not issubclass(errors.AuthError, errors.ApiError)
    assert "make dev" in str(errors.StackUnreachable("http://127.0.0.1:4000/graphql"))
