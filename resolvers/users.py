"""Users: profiles, the directory, presence, blocks, and the caller's own event channel."""

from typing import Any

from cloudchat import api, aws, views
from cloudchat.errors import Forbidden
from cloudchat.models import NotificationSettings

app = api.create_app()


@app.resolver(type_name="Query", field_name="me")
def me() -> dict[str, Any]:
    """The caller's profile with their notification settings: one BatchGetItem for both.
    (Always read, at no extra request: AppSync names an aliased field by its alias in
    selectionSetList, so it does not say reliably whether notificationSettings was asked for.)"""
    svc, who = api.service(), api.caller(app)
    user, settings = svc.me_with_settings(who)
    return {**views.user(user or svc.me(who)), "notificationSettings": _settings(settings)}


def _settings(settings: NotificationSettings) -> dict[str, Any]:
    s = api.service().settings
    return views.notification_settings(settings, email_available=bool(s.notice_sender),
                                       includes_text=s.notice_includes_text)


@app.resolver(type_name="Mutation", field_name="updateNotificationSettings")
def update_notification_settings(email: bool | None = None,
                                 push: bool | None = None) -> dict[str, Any]:
    return _settings(api.service().update_notification_settings(
        api.caller(app), email, push, lambda: aws.client("cognito-idp")))


@app.resolver(type_name="Mutation", field_name="updateProfile")
def update_profile(displayName: str | None = None,
                   avatarKey: str | None = None) -> dict[str, Any]:
    return views.user(api.service().update_profile(api.caller(app), displayName, avatarKey))


@app.resolver(type_name="Query", field_name="users")
def users(query: str | None = None, limit: int | None = None,
          nextToken: str | None = None) -> dict[str, Any]:
    who = api.caller(app)
    items, token = api.service().users(who, query, limit, nextToken)
    return {"items": [views.user(u, who.user_id) for u in items], "nextToken": token}


@app.resolver(type_name="Query", field_name="usersByIds")
def users_by_ids(ids: list[str]) -> list[dict[str, Any]]:
    who = api.caller(app)
    return [views.user(u, who.user_id) for u in api.service().users_by_ids(who, ids)]


@app.resolver(type_name="Mutation", field_name="heartbeat")
def heartbeat() -> dict[str, Any]:
    return api.service().heartbeat(api.caller(app))


@app.resolver(type_name="Query", field_name="presence")
def presence(userIds: list[str]) -> list[dict[str, Any]]:
    return api.service().presence(api.caller(app), userIds)


@app.resolver(type_name="Mutation", field_name="adminCreateUser")
def admin_create_user(email: str, displayName: str | None = None) -> dict[str, Any]:
    svc = api.service()
    user = svc.admin_create_user(api.caller(app), email, displayName,
                                 lambda: aws.client("cognito-idp"), svc.settings.user_pool_id)
    return views.user(user)


@app.resolver(type_name="Mutation", field_name="deleteAccount")
def delete_account(eraseMessages: bool | None = None) -> dict[str, Any]:
    svc = api.service()
    job = svc.delete_account(api.caller(app), eraseMessages, lambda: aws.client("cognito-idp"),
                             aws.sns, svc.settings.user_pool_id)
    return views.account_deletion(job)


@app.resolver(type_name="Mutation", field_name="adminDeleteUser")
def admin_delete_user(userId: str, eraseMessages: bool | None = None) -> dict[str, Any]:
    svc = api.service()
    job = svc.admin_delete_user(api.caller(app), userId, eraseMessages,
                                lambda: aws.client("cognito-idp"), aws.sns,
                                svc.settings.user_pool_id)
    return views.account_deletion(job)


@app.resolver(type_name="Mutation", field_name="registerDevice")
def register_device(platform: str, token: str) -> dict[str, Any]:
    return api.service().register_device(api.caller(app), platform, token, aws.sns)


@app.resolver(type_name="Mutation", field_name="blockUser")
def block_user(userId: str) -> dict[str, Any]:
    return api.service().block_user(api.caller(app), userId)


@app.resolver(type_name="Mutation", field_name="unblockUser")
def unblock_user(userId: str) -> dict[str, Any]:
    return api.service().unblock_user(api.caller(app), userId)


@app.resolver(type_name="Query", field_name="blockedUsers")
def blocked_users() -> list[dict[str, Any]]:
    return api.service().blocked_users(api.caller(app))


@app.resolver(type_name="Subscription", field_name="onUserEvent")
def on_user_event(userId: str) -> None:
    """Each user subscribes to their own channel only."""
    if userId != api.caller(app).user_id:
        raise Forbidden("you can only subscribe to your own user events")


lambda_handler = api.lambda_handler(app)
