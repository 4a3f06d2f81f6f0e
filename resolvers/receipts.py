"""Read/delivery receipts and typing indicators (typing is never stored)."""

from typing import Any

from cloudchat import api, views

app = api.create_app()


@app.resolver(type_name="Mutation", field_name="markRead")
def mark_read(conversationId: str, seq: int) -> dict[str, Any]:
    return views.receipt(api.service().mark(api.caller(app), conversationId, seq, "READ"))


@app.resolver(type_name="Mutation", field_name="markDelivered")
def mark_delivered(conversationId: str, seq: int) -> dict[str, Any]:
    return views.receipt(api.service().mark(api.caller(app), conversationId, seq, "DELIVERED"))


@app.resolver(type_name="Query", field_name="readReceipts")
def read_receipts(conversationId: str) -> list[dict[str, Any]]:
    return [views.member_receipt(m)
            for m in api.service().read_receipts(api.caller(app), conversationId)]


@app.resolver(type_name="Mutation", field_name="sendTyping")
def send_typing(conversationId: str, typing: bool) -> dict[str, Any]:
    return views.typing(api.service().send_typing(api.caller(app), conversationId, typing))


@app.resolver(type_name="Subscription", field_name="onReceipt")
def on_receipt(conversationId: str) -> dict[str, Any]:
    """Members only; their removal closes the subscription (appsync/subscribe.js)."""
    return api.service().subscription_rules(api.caller(app), conversationId)


@app.resolver(type_name="Subscription", field_name="onTyping")
def on_typing(conversationId: str) -> dict[str, Any]:
    """Members only; their removal closes the subscription (appsync/subscribe.js)."""
    return api.service().subscription_rules(api.caller(app), conversationId)


lambda_handler = api.lambda_handler(app)
