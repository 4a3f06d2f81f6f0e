"""One typed async method per query and mutation of schema.graphql, each running the operation
of the same name in operations.graphql. The caller's token decides what is allowed: a denial
raises its typed :class:`~cloudchat_client.errors.ApiError` (Forbidden, Unauthorized, ...)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from cloudchat_client.types import (
    AccountDeletion,
    BlockedUser,
    Conversation,
    ConversationDeletion,
    ConversationPage,
    DeviceRegistration,
    Member,
    MemberPage,
    MemberReceipt,
    MemberRole,
    MembershipChange,
    Message,
    MessagePage,
    MessageVersion,
    MuteState,
    NotificationSettings,
    Presence,
    Receipt,
    Report,
    ReportPage,
    SearchPage,
    TypingEvent,
    Unblocked,
    UploadTicket,
    User,
    UserEvent,
    UserPage,
)

__all__ = ["Operations"]


def _given(**variables: Any) -> dict[str, Any]:
    """Optional arguments left out when None (the API's defaults apply)."""
    return {k: v for k, v in variables.items() if v is not None}


class Operations:
    """The API's queries and mutations; :meth:`execute` is supplied by the client."""

    async def execute(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        raise NotImplementedError

    async def _field(self, name: str, variables: Mapping[str, Any] | None = None) -> Any:
        return (await self.execute(name, variables))[name]

    # -- queries ---------------------------------------------------------------------------

    async def me(self) -> User:
        return cast(User, await self._field("me"))

    async def users(self, query: str | None = None, *, limit: int | None = None,
                    next_token: str | None = None) -> UserPage:
        return cast(UserPage, await self._field("users", _given(query=query, limit=limit,
                                                                nextToken=next_token)))

    async def users_by_ids(self, ids: Sequence[str]) -> list[User]:
        return cast(list[User], await self._field("usersByIds", {"ids": list(ids)}))

    async def presence(self, user_ids: Sequence[str]) -> list[Presence]:
        return cast(list[Presence], await self._field("presence", {"userIds": list(user_ids)}))

    async def conversation(self, conversation_id: str) -> Conversation | None:
        """None when there is no such conversation (or you are not a member of it)."""
        return cast("Conversation | None", await self._field("conversation", {"id": conversation_id}))

    async def members(self, conversation_id: str, *, limit: int | None = None,
                      next_token: str | None = None) -> MemberPage:
        """A page of the conversation's members by user id (members only)."""
        return cast(MemberPage, await self._field("members", _given(
            conversationId=conversation_id, limit=limit, nextToken=next_token)))

    async def all_members(self, conversation_id: str, *, page: int = 100) -> list[Member]:
        """Every member, through as many pages as it takes."""
        out: list[Member] = []
        token: str | None = None
        while True:
            got = await self.members(conversation_id, limit=page, next_token=token)
            out += got["items"]
            token = got["nextToken"]
            if token is None:
                return out

    async def conversations(self, *, limit: int | None = None,
                            next_token: str | None = None) -> ConversationPage:
        return cast(ConversationPage, await self._field("conversations", _given(limit=limit,
                                                                                nextToken=next_token)))

    async def messages(self, conversation_id: str, *, limit: int | None = None,
                       next_token: str | None = None) -> MessagePage:
        """Newest first."""
        return cast(MessagePage, await self._field("messages", _given(
            conversationId=conversation_id, limit=limit, nextToken=next_token)))

    async def messages_since(self, conversation_id: str, after_seq: int, *,
                             limit: int | None = None) -> MessagePage:
        """Oldest first: the messages with seq > after_seq."""
        return cast(MessagePage, await self._field("messagesSince", _given(
            conversationId=conversation_id, afterSeq=after_seq, limit=limit)))

    async def thread(self, conversation_id: str, root_id: str, *, limit: int | None = None,
                     next_token: str | None = None) -> MessagePage:
        return cast(MessagePage, await self._field("thread", _given(
            conversationId=conversation_id, rootId=root_id, limit=limit, nextToken=next_token)))

    async def edit_history(self, conversation_id: str, message_id: str) -> list[MessageVersion]:
        return cast(list[MessageVersion], await self._field("editHistory", {
            "conversationId": conversation_id, "messageId": message_id}))

    async def read_receipts(self, conversation_id: str) -> list[MemberReceipt]:
        return cast(list[MemberReceipt], await self._field("readReceipts",
                                                           {"conversationId": conversation_id}))

    async def reported_messages(self, *, limit: int | None = None,
                                next_token: str | None = None) -> ReportPage:
        """The admin and moderator groups only (others: Unauthorized)."""
        return cast(ReportPage, await self._field("reportedMessages", _given(limit=limit,
                                                                             nextToken=next_token)))

    async def search_messages(self, query: str, *, conversation_id: str | None = None,
                              limit: int | None = None,
                              next_token: str | None = None) -> SearchPage:
        """Encrypted search, newest first: in one conversation, or in the caller's most
        recently active ones when ``conversation_id`` is None. Every word must match; a
        page may be short while ``nextToken`` is set."""
        return cast(SearchPage, await self._field("searchMessages", _given(
            query=query, conversationId=conversation_id, limit=limit, nextToken=next_token)))

    # -- mutations -------------------------------------------------------------------------

    async def update_profile(self, *, display_name: str | None = None, avatar_key: str | None = None) -> User:
        return cast(User, await self._field("updateProfile", _given(displayName=display_name,
                                                                    avatarKey=avatar_key)))

    async def admin_create_user(self, email: str, display_name: str | None = None) -> User:
        """The admin group only."""
        return cast(User, await self._field("adminCreateUser", _given(email=email, displayName=display_name)))

    async def rename_conversation(self, conversation_id: str, title: str) -> Conversation:
        return cast(Conversation, await self._field("renameConversation", {
            "conversationId": conversation_id, "title": title}))

    async def register_device(self, platform: str, token: str) -> DeviceRegistration:
        return cast(DeviceRegistration, await self._field("registerDevice", {"platform": platform,
                                                                             "token": token}))

    async def mute_conversation(self, conversation_id: str, until: str | None) -> MuteState:
        """Mutes until ``until`` (an AWSDateTime); None unmutes."""
        return cast(MuteState, await self._field("muteConversation", {"conversationId": conversation_id,
                                                                      "until": until}))

    async def notification_settings(self) -> NotificationSettings:
        """Your notification settings (``me { notificationSettings }``)."""
        me = await self.me()
        return cast(NotificationSettings, me.get("notificationSettings"))

    async def update_notification_settings(self, *, email: bool | None = None,
                                           push: bool | None = None) -> NotificationSettings:
        """Turns e-mail and/or push notices on or off (None: unchanged; give at least one).
        E-mail needs a verified address: BadRequest (``info.reason`` EMAIL_NOT_VERIFIED or
        EMAIL_NOT_CONFIGURED) otherwise."""
        return cast(NotificationSettings, await self._field("updateNotificationSettings", _given(
            email=email, push=push)))

    async def heartbeat(self) -> Presence:
        return cast(Presence, await self._field("heartbeat"))

    async def create_conversation(self, member_ids: Sequence[str], title: str | None = None) -> Conversation:
        return cast(Conversation, await self._field("createConversation", {
            "input": _given(memberIds=list(member_ids), title=title)}))

    async def send_message_once(self, conversation_id: str, body: str | None, *, client_message_id: str,
                                parent_id: str | None = None,
                                attachments: Sequence[str] | None = None) -> Message:
        """One ``sendMessage`` call (``CloudChat.send_message`` retries network failures)."""
        return cast(Message, await self._field("sendMessage", {"input": _given(
            conversationId=conversation_id, body=body, clientMessageId=client_message_id,
            parentId=parent_id, attachments=None if attachments is None else list(attachments))}))

    async def edit_message(self, conversation_id: str, message_id: str, body: str, *,
                           expected_version: int) -> Message:
        return cast(Message, await self._field("editMessage", {"input": {
            "conversationId": conversation_id, "messageId": message_id, "body": body,
            "expectedVersion": expected_version}}))

    async def delete_message(self, conversation_id: str, message_id: str) -> Message:
        return cast(Message, await self._field("deleteMessage", {"conversationId": conversation_id,
                                                                 "messageId": message_id}))

    async def add_reaction(self, conversation_id: str, message_id: str, emoji: str) -> Message:
        return cast(Message, await self._field("addReaction", {"conversationId": conversation_id,
                                                               "messageId": message_id, "emoji": emoji}))

    async def remove_reaction(self, conversation_id: str, message_id: str, emoji: str) -> Message:
        return cast(Message, await self._field("removeReaction", {"conversationId": conversation_id,
                                                                  "messageId": message_id, "emoji": emoji}))

    async def add_members(self, conversation_id: str, user_ids: Sequence[str]) -> MembershipChange:
        return cast(MembershipChange, await self._field("addMembers", {"conversationId": conversation_id,
                                                                       "userIds": list(user_ids)}))

    async def remove_member(self, conversation_id: str, user_id: str) -> MembershipChange:
        return cast(MembershipChange, await self._field("removeMember", {"conversationId": conversation_id,
                                                                         "userId": user_id}))

    async def leave_conversation(self, conversation_id: str) -> MembershipChange:
        return cast(MembershipChange, await self._field("leaveConversation",
                                                        {"conversationId": conversation_id}))

    async def set_member_role(self, conversation_id: str, user_id: str, role: MemberRole) -> MembershipChange:
        return cast(MembershipChange, await self._field("setMemberRole", {
            "conversationId": conversation_id, "userId": user_id, "role": role}))

    async def delete_conversation(self, conversation_id: str) -> ConversationDeletion:
        """Deletes the conversation for every member (a GROUP's owners; either member of a
        DIRECT): its data key is destroyed at once. Cannot be undone."""
        return cast(ConversationDeletion, await self._field("deleteConversation",
                                                            {"conversationId": conversation_id}))

    async def publish_user_event(self, event: Mapping[str, Any]) -> UserEvent | None:
        """IAM only (the server's stream consumer): a Cognito caller gets Unauthorized."""
        return cast("UserEvent | None", await self._field("publishUserEvent", {"input": dict(event)}))

    async def request_upload(self, conversation_id: str, file_name: str, content_type: str,
                             size: int) -> UploadTicket:
        return cast(UploadTicket, await self._field("requestUpload", {
            "conversationId": conversation_id, "fileName": file_name, "contentType": content_type,
            "size": size}))

    async def report_message(self, conversation_id: str, message_id: str, reason: str) -> Report:
        return cast(Report, await self._field("reportMessage", {
            "conversationId": conversation_id, "messageId": message_id, "reason": reason}))

    async def mark_read(self, conversation_id: str, seq: int) -> Receipt:
        return cast(Receipt, await self._field("markRead", {"conversationId": conversation_id, "seq": seq}))

    async def mark_delivered(self, conversation_id: str, seq: int) -> Receipt:
        return cast(Receipt, await self._field("markDelivered", {"conversationId": conversation_id,
                                                                 "seq": seq}))

    async def send_typing(self, conversation_id: str, typing: bool = True) -> TypingEvent:
        return cast(TypingEvent, await self._field("sendTyping", {"conversationId": conversation_id,
                                                                  "typing": typing}))

    async def block_user(self, user_id: str) -> BlockedUser:
        """Blocks a user (a no-op when blocked already: the first ``blockedAt``)."""
        return cast(BlockedUser, await self._field("blockUser", {"userId": user_id}))

    async def unblock_user(self, user_id: str) -> Unblocked:
        """``wasBlocked`` is False when there was no block (nothing changed)."""
        return cast(Unblocked, await self._field("unblockUser", {"userId": user_id}))

    async def blocked_users(self) -> list[BlockedUser]:
        """Everyone you blocked, most recent first (at most 100)."""
        return cast(list[BlockedUser], await self._field("blockedUsers"))
    async def delete_account(self, erase_messages: bool = False) -> AccountDeletion:
        """Deletes the signed-in user's account (irreversible): the Cognito user, profile,
        devices and presence at once; memberships (and, with ``erase_messages``, their
        messages) in the background. The tokens held stop working; sign in no more."""
        return cast(AccountDeletion, await self._field("deleteAccount",
                                                       {"eraseMessages": erase_messages}))

    async def admin_delete_user(self, user_id: str, erase_messages: bool = False) -> AccountDeletion:
        """The admin group only: deletes another user's account, as delete_account does."""
        return cast(AccountDeletion, await self._field("adminDeleteUser", {
            "userId": user_id, "eraseMessages": erase_messages}))
