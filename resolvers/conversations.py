"""Conversations: create, read one, list by last activity, members and roles."""

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


@app.resolver(type_name="Query", field_name="members")
def members(conversationId: str, limit: int | None = None,
            nextToken: str | None = None) -> dict[str, Any]:
    page = api.service().members_page(api.caller(app), conversationId, limit, nextToken)
    return views.page(page, views.member)


def _change(change: Any) -> dict[str, Any]:
    return views.membership(change, api.caller(app).user_id)


@app.resolver(type_name="Mutation", field_name="addMembers")
def add_members(conversationId: str, userIds: list[str]) -> dict[str, Any]:
    return _change(api.service().add_members(api.caller(app), conversationId, userIds))


@app.resolver(type_name="Mutation", field_name="removeMember")
def remove_member(conversationId: str, userId: str) -> dict[str, Any]:
    return _change(api.service().remove_member(api.caller(app), conversationId, userId))


@app.resolver(type_name="Mutation", field_name="leaveConversation")
def leave_conversation(conversationId: str) -> dict[str, Any]:
    return _change(api.service().leave(api.caller(app), conversationId))


@app.resolver(type_name="Mutation", field_name="setMemberRole")
def set_member_role(conversationId: str, userId: str, role: str) -> dict[str, Any]:
    return _change(api.service().set_member_role(api.caller(app), conversationId, userId, role))


@app.resolver(type_name="Mutation", field_name="renameConversation")
def rename_conversation(conversationId: str, title: str) -> dict[str, Any]:
    return views.conversation(api.service().rename(api.caller(app), conversationId, title))


@app.resolver(type_name="Mutation", field_name="muteConversation")
def mute_conversation(conversationId: str, until: str | None = None) -> dict[str, Any]:
    return api.service().mute(api.caller(app), conversationId, until)


@app.resolver(type_name="Mutation", field_name="deleteConversation")
def delete_conversation(conversationId: str) -> dict[str, Any]:
    """Closes every open subscription on the conversation (appsync/revoke.js)."""
    return views.deletion(api.service().delete_conversation(api.caller(app), conversationId))


@app.resolver(type_name="Subscription", field_name="onMembershipChange")
def on_membership_change(conversationId: str) -> dict[str, Any]:
    """Members only; their removal closes the subscription (appsync/subscribe.js)."""
    return api.service().subscription_rules(api.caller(app), conversationId)


lambda_handler = api.lambda_handler(app)
