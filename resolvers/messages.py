"""Messages: send, page newest first, catch up by seq, and the onMessage subscription check."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cloudchat import api, views

app = api.create_app()


@app.resolver(type_name="Mutation", field_name="sendMessage")
def send_message(input: dict[str, Any]) -> dict[str, Any]:
    msg = api.service().send_message(api.caller(app), input.get("conversationId"),
                                     input.get("body"), input.get("clientMessageId"))
    api.metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    return views.message(msg)


@app.resolver(type_name="Query", field_name="messages")
def messages(conversationId: str, limit: int | None = None,
             nextToken: str | None = None) -> dict[str, Any]:
    page = api.service().messages(api.caller(app), conversationId, limit, nextToken)
    return views.page(page, views.message)


@app.resolver(type_name="Query", field_name="messagesSince")
def messages_since(conversationId: str, afterSeq: int,
                   limit: int | None = None) -> dict[str, Any]:
    page = api.service().messages_since(api.caller(app), conversationId, afterSeq, limit)
    return views.page(page, views.message)


@app.resolver(type_name="Subscription", field_name="onMessage")
def on_message(conversationId: str) -> None:
    """Runs at subscribe time: members only. A rejected subscriber gets an error, not silence."""
    api.service().authorize_subscription(api.caller(app), conversationId)


lambda_handler = api.lambda_handler(app)
