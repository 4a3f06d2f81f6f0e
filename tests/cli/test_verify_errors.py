"""What verify's denial checks read: the errorType of a refused subscription start. AppSync
answers a rejected ``start`` with ``{"type": "error", "payload": {"errors": [...]}}`` and gql
hands the whole payload over as one error, so the type sits one level down."""

from __future__ import annotations

from gql.transport.exceptions import TransportQueryError

from cloudchat_client._transport import api_error


def test_a_refused_subscription_start_keeps_its_error_type() -> None:
    payload = {"errors": [{"errorType": "Forbidden", "message": "you are not a member of this conversation"}]}
    error = api_error(TransportQueryError(str(payload), query_id=1, errors=[payload]))
    assert (error.error_type, error.message) == ("Forbidden", "you are not a member of this conversation")


def test_a_query_error_keeps_its_error_type() -> None:
    error = api_error(TransportQueryError("x", errors=[{"errorType": "NotFound", "message": "no such message"}]))
    assert (error.error_type, error.message) == ("NotFound", "no such message")


def test_an_error_without_a_type_is_reported_as_error() -> None:
    error = api_error(TransportQueryError("boom", errors=["boom"]))
    assert error.error_type == "Error"
