"""Messages: send, edit, delete, react, page newest first, catch up by seq, threads, search,
and the onMessage subscription check."""

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cloudchat import api, views

app = api.create_app()


def _message(msg: Any) -> dict[str, Any]:
    return views.message(msg, api.caller(app).user_id)


@app.resolver(type_name="Mutation", field_name="sendMessage")
def send_message(input: dict[str, Any]) -> dict[str, Any]:
    msg = api.service().send_message(api.caller(app), input.get("conversationId"),
                                     input.get("body"), input.get("clientMessageId"),
                                     input.get("parentId"), input.get("attachments"),
                                     input.get("mentions"))
    api.metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    return _message(msg)


@app.resolver(type_name="Mutation", field_name="editMessage")
def edit_message(input: dict[str, Any]) -> dict[str, Any]:
    return _message(api.service().edit_message(
        api.caller(app), input.get("conversationId"), input.get("messageId"), input.get("body"),
        input.get("expectedVersion")))


@app.resolver(type_name="Mutation", field_name="deleteMessage")
def delete_message(conversationId: str, messageId: str) -> dict[str, Any]:
    return _message(api.service().delete_message(api.caller(app), conversationId, messageId))


@app.resolver(type_name="Mutation", field_name="addReaction")
def add_reaction(conversationId: str, messageId: str, emoji: str) -> dict[str, Any]:
    return _message(api.service().react(api.caller(app), conversationId, messageId, emoji, add=True))


@app.resolver(type_name="Mutation", field_name="removeReaction")
def remove_reaction(conversationId: str, messageId: str, emoji: str) -> dict[str, Any]:
    return _message(api.service().react(api.caller(app), conversationId, messageId, emoji, add=False))


@app.resolver(type_name="Query", field_name="messages")
def messages(conversationId: str, limit: int | None = None,
             nextToken: str | None = None) -> dict[str, Any]:
    who = api.caller(app)
    page = api.service().messages(who, conversationId, limit, nextToken)
    return views.page(page, views.messages_for(who.user_id))


@app.resolver(type_name="Query", field_name="messagesSince")
def messages_since(conversationId: str, afterSeq: int,
                   limit: int | None = None) -> dict[str, Any]:
    who = api.caller(app)
    page = api.service().messages_since(who, conversationId, afterSeq, limit)
    return views.page(page, views.messages_for(who.user_id))


@app.resolver(type_name="Query", field_name="thread")
def thread(conversationId: str, rootId: str, limit: int | None = None,
           nextToken: str | None = None) -> dict[str, Any]:
    who = api.caller(app)
    page = api.service().thread(who, conversationId, rootId, limit, nextToken)
    return views.page(page, views.messages_for(who.user_id))


@app.resolver(type_name="Query", field_name="searchMessages")
def search_messages(query: str, conversationId: str | None = None, limit: int | None = None,
                    nextToken: str | None = None) -> dict[str, Any]:
    who = api.caller(app)
    page = api.service().search_messages(who, query, conversationId, limit, nextToken)
    return views.page(page, views.messages_for(who.user_id))


@app.resolver(type_name="Query", field_name="editHistory")
def edit_history(conversationId: str, messageId: str) -> list[dict[str, Any]]:
    return [views.version(v) for v in
            api.service().edit_history(api.caller(app), conversationId, messageId)]


@app.resolver(type_name="Mutation", field_name="requestUpload")
def request_upload(conversationId: str, fileName: str, contentType: str,
                   size: int) -> dict[str, Any]:
    ticket = api.service().request_upload(api.caller(app), conversationId, fileName,
                                          contentType, size)
    return {**ticket, "fields": json.dumps(ticket["fields"])}


@app.resolver(type_name="Mutation", field_name="reportMessage")
def report_message(conversationId: str, messageId: str, reason: str) -> dict[str, Any]:
    return api.service().report_message(api.caller(app), conversationId, messageId, reason)


@app.resolver(type_name="Query", field_name="reportedMessages")
def reported_messages(limit: int | None = None, nextToken: str | None = None) -> dict[str, Any]:
    who = api.caller(app)
    rows, token = api.service().reported_messages(who, limit, nextToken)
    items = [{"conversationId": r["conversationId"], "messageId": r["messageId"],
              "reporterId": r["reporterId"], "reason": r["reason"], "createdAt": r["createdAt"],
              "message": views.message(m, who.user_id) if m else None} for r, m in rows]
    return {"items": items, "nextToken": token}


@app.resolver(type_name="Subscription", field_name="onMessage")
def on_message(conversationId: str) -> dict[str, Any]:
    """Runs at subscribe time: members only (a rejected subscriber gets an error, not
    silence). Returns the rules appsync/subscribe.js sets: events about messages from before
    the caller joined are not delivered to them; their removal closes the subscription."""
    return api.service().subscription_rules(api.caller(app), conversationId, after_joining=True)


lambda_handler = api.lambda_handler(app)
