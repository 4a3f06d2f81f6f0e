"""Users: the caller's profile."""

from typing import Any

from cloudchat import api, views

app = api.create_app()


@app.resolver(type_name="Query", field_name="me")
def me() -> dict[str, Any]:
    return views.user(api.service().me(api.caller(app)))


lambda_handler = api.lambda_handler(app)
