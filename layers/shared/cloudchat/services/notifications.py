"""Notifications: muting a conversation, registering a device for mobile push, and each
user's notification settings (push and e-mail notices on or off)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cloudchat import ids, validation
from cloudchat.errors import AccountDeleted, BadRequest, ConfigurationError, Forbidden, NotFound
from cloudchat.models import Caller, NotificationSettings, User
from cloudchat.services._base import NOT_MEMBER, ServiceBase, iso

if TYPE_CHECKING:
    from types_boto3_cognito_idp import CognitoIdentityProviderClient
    from types_boto3_sns import SNSClient


class NotificationsService(ServiceBase):
    """Muting, push devices and notification settings."""

    def mute(self, caller: Caller, conversation_id: object, until: object) -> dict[str, object]:
        """Mute a conversation until a time (null: unmute). Muted: no notification at all."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        when = None
        if until is not None:
            when = iso(validation.date_time(until, "until"))
        if not self.store.set_muted(cid, caller.user_id, when):
            raise Forbidden(NOT_MEMBER)
        return {"conversationId": cid, "mutedUntil": when}

    PLATFORMS = ("APNS", "APNS_SANDBOX", "GCM")

    def register_device(self, caller: Caller, platform: object, token: object,
                        sns: Callable[[], SNSClient]) -> dict[str, object]:
        """A mobile push endpoint for the caller (when a platform application is set up)."""
        if platform not in self.PLATFORMS:
            raise BadRequest("platform must be APNS, APNS_SANDBOX or GCM")
        if not isinstance(token, str) or not 8 <= len(token) <= 4096 or not token.isprintable():
            raise BadRequest("token must be a device token of 8 to 4096 printable characters")
        apps = dict(p.split("=", 1) for p in self.settings.push_platform_applications.split(",")
                    if "=" in p)
        arn = apps.get(str(platform))
        if not arn:
            raise BadRequest(f"push notifications for {platform} are not configured here")
        endpoint = sns().create_platform_endpoint(PlatformApplicationArn=arn, Token=token,
                                                  CustomUserData=caller.user_id)["EndpointArn"]
        if not self.store.put_device(caller.user_id, endpoint, str(platform), iso(self.clock())):
            sns().delete_endpoint(EndpointArn=endpoint)  # (a deleted account's token)
            raise AccountDeleted
        return {"platform": platform, "registered": True}

    # ------------------------------------------------------------ notification settings
    def me_with_settings(self, caller: Caller) -> tuple[User | None, NotificationSettings]:
        """The caller's profile (None before its first use: ``me`` creates it) and
        notification settings, in one BatchGetItem (``me`` selecting ``notificationSettings``).
        A deleted account's marker is refused (AccountDeleted), as ``me`` refuses it."""
        user, settings = self.store.profile_and_settings(caller.user_id)
        if user is not None and user.deleted_at is not None:
            raise AccountDeleted
        return user, settings

    def update_notification_settings(
        self, caller: Caller, email: object, push: object,
        cognito: Callable[[], CognitoIdentityProviderClient],
    ) -> NotificationSettings:
        """Turns the caller's push and/or e-mail notices on or off (null: unchanged). E-mail
        goes only to the caller's Cognito address, and only once it is verified
        (``email_verified``): turning e-mail on reads it from the user pool (AdminGetUser)
        and records it. Bad input changes nothing."""
        for name, value in (("email", email), ("push", push)):
            if value is not None and not isinstance(value, bool):
                raise BadRequest(f"{name} must be true, false or null")
        if email is None and push is None:
            raise BadRequest("nothing to update: give email and/or push")
        address = None
        if email:
            if not self.settings.notice_sender:
                raise BadRequest("e-mail notices are not set up on this deployment "
                                 "(its NoticeSender parameter is empty)",
                                 info={"reason": "EMAIL_NOT_CONFIGURED"})
            address = self._verified_email(caller, cognito)
        return self.store.put_notification_settings(
            caller.user_id, email=email, push=push, address=address,  # type: ignore[arg-type]
            at=iso(self.clock()))

    def _verified_email(self, caller: Caller,
                        cognito: Callable[[], CognitoIdentityProviderClient]) -> str:
        """The caller's e-mail address from the user pool, if Cognito has verified it."""
        from botocore.exceptions import ClientError

        pool = self.settings.user_pool_id
        if not pool:
            raise ConfigurationError("USER_POOL_ID is not set")
        try:
            user = cognito().admin_get_user(UserPoolId=pool,
                                            Username=caller.username or caller.user_id)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "UserNotFoundException":
                raise NotFound("your user no longer exists") from exc
            raise
        attributes = {a["Name"]: a.get("Value", "") for a in user.get("UserAttributes", [])}
        address = attributes.get("email", "")
        if not address or attributes.get("email_verified") != "true":
            raise BadRequest("verify your e-mail address first: notices go only to a verified "
                             "address", info={"reason": "EMAIL_NOT_VERIFIED"})
        return address
