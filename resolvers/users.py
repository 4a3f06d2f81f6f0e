"""Users: the caller's profile."""

from typing import Any

from cloudchat import api, views
from cloudchat.errors import Forbidden

app = api.create_app()


@app.resolver(type_name="Query", field_name="me")
def me() -> dict[str, Any]:
    return views.user(api.service().me(api.caller(app)))


@app.resolver(type_name="Subscription", field_name="onUserEvent")
def on_user_event(userId: str) -> None:
    """Each user subscribes to their own channel only."""
    if userId != api.caller(app).user_id:
        raise Forbidden("you can only subscribe to your own user events")


lambda_handler = api.lambda_handler(app)
