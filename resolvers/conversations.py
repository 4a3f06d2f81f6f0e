"""Conversations: create, read one, list by last activity."""

from typing import Any

from cloudchat import api, views

app = api.create_app()


@app.resolver(type_name="Mutation", field_name="createConversation")
def create_conversation(input: dict[str, Any]) -> dict[str, Any]:
    svc, who = api.service(), api.caller(app)
    svc.ensure_profile(who)
    return views.conversation(
        svc.create_conversation(who, input.get("memberIds"), input.get("title")))


@app.resolver(type_name="Query", field_name="conversation")
def conversation(id: str) -> dict[str, Any]:
    return views.conversation(api.service().conversation(api.caller(app), id))


@app.resolver(type_name="Query", field_name="conversations")
def conversations(limit: int | None = None, nextToken: str | None = None) -> dict[str, Any]:
    page = api.service().conversations(api.caller(app), limit, nextToken)
    return views.page(page, views.conversation)


lambda_handler = api.lambda_handler(app)
