"""Notifications: muting a conversation, and registering a device for mobile push."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cloudchat import ids, validation
from cloudchat.errors import AccountDeleted, BadRequest, Forbidden
from cloudchat.models import Caller
from cloudchat.services._base import NOT_MEMBER, ServiceBase, iso

if TYPE_CHECKING:
    from types_boto3_sns import SNSClient


class NotificationsService(ServiceBase):
    """Muting and push devices."""

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
