"""The error tree and its wire shape."""

from cloudchat import errors


def test_every_domain_error_has_a_stable_type_and_response_shape() -> None:
    for cls in (errors.BadRequest, errors.Unauthorized, errors.Forbidden, errors.NotFound,
                errors.Conflict, errors.RateLimited, errors.IntegrityError):
        exc = cls("nope", info={"k": 1})
        assert isinstance(exc, errors.ChatError)
        assert exc.to_response() == {"error": {"type": cls.error_type, "message": "nope", "info": {"k": 1}}}
        assert cls.error_type in errors.ERROR_TYPES
    assert errors.Forbidden("x").to_response() == {"error": {"type": "Forbidden", "message": "x"}}
