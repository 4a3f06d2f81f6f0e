"""Render domain records as the dicts the GraphQL schema expects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudchat.models import (
    ConversationDeletion,
    ConversationView,
    DeletionJob,
    Member,
    MembershipChange,
    Message,
    MessageVersion,
    NotificationSettings,
    Page,
    ReceiptEvent,
    TypingEvent,
    User,
)


def message(m: Message, viewer: str | None = None) -> dict[str, Any]:
    out = _message(m, viewer)
    if m.matches is not None:  # searchMessages: the spans of the body that matched
        out["matches"] = [{"start": a, "end": b} for a, b in m.matches]
    return out


def _message(m: Message, viewer: str | None) -> dict[str, Any]:
    return {
        "id": m.id, "conversationId": m.conversation_id, "seq": m.seq, "senderId": m.sender_id,
        "kind": m.kind.value, "body": m.body, "createdAt": m.created_at,
        "clientMessageId": m.client_message_id, "version": m.version, "parentId": m.parent_id,
        "replyCount": m.reply_count, "lastReplyAt": m.last_reply_at,
        "replyUserIds": sorted(m.reply_users),
        "reactions": [{"emoji": e, "count": len(users), "userIds": sorted(users),
                       "reactedByMe": viewer in users}
                      for e, users in sorted(m.reactions.items(), key=lambda kv: (-len(kv[1]), kv[0]))],
        "editedAt": m.edited_at, "deletedAt": m.deleted_at, "deletedBy": m.deleted_by,
        "erased": m.erased,
        "attachments": [{"id": a.id, "name": a.name, "contentType": a.content_type,
                         "size": a.size, "url": a.url} for a in m.attachments],
        "mentions": list(m.mentions),
        "senderBlocked": m.sender_blocked,
    }


def messages_for(viewer: str) -> Callable[[Message], dict[str, Any]]:
    return lambda m: message(m, viewer)


def version(v: MessageVersion) -> dict[str, Any]:
    return {"version": v.version, "body": v.body, "at": v.at}


def receipt(r: ReceiptEvent) -> dict[str, Any]:
    return {"conversationId": r.conversation_id, "userId": r.user_id, "kind": r.kind,
            "seq": r.seq, "at": r.at}


def member(m: Member) -> dict[str, Any]:
    return {"userId": m.user_id, "role": m.role.value, "joinedAt": m.joined_at}


def member_receipt(m: Member) -> dict[str, Any]:
    return {"userId": m.user_id, "readSeq": m.read_seq,
            "deliveredSeq": max(m.read_seq, m.delivered_seq)}


def typing(t: TypingEvent) -> dict[str, Any]:
    return {"conversationId": t.conversation_id, "userId": t.user_id, "typing": t.typing,
            "expiresAt": t.expires_at}


def conversation(v: ConversationView) -> dict[str, Any]:
    c, me = v.conversation, v.member
    return {
        "id": c.id, "kind": c.kind.value, "title": c.title, "createdBy": c.created_by,
        "memberCount": c.member_count,
        "peerId": next((u for u in c.pair if u != me.user_id), None) if c.pair else None,
        "myRole": me.role.value,
        "lastMessage": message(v.last_message, me.user_id) if v.last_message else None,
        "lastSeq": c.last_seq,
        "unreadCount": max(0, c.last_seq - max(me.read_seq, me.joined_seq)),
        "mutedUntil": me.muted_until,
        "unreadMentionCount": me.unread_mentions,
        "createdAt": c.created_at, "updatedAt": c.updated_at,
    }


def user(u: User, viewer: str | None = None) -> dict[str, Any]:
    """Email addresses are shown to their owner only."""
    return {"id": u.id, "username": u.username, "displayName": u.display_name,
            "email": u.email if viewer is None or viewer == u.id else None,
            "avatarKey": u.avatar_key, "createdAt": u.created_at, "deletedAt": u.deleted_at}


def page(p: Page, render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    return {"items": [render(i) for i in p.items], "nextToken": p.next_token}


def membership(c: MembershipChange, viewer: str) -> dict[str, Any]:
    return {"conversationId": c.conversation_id, "action": c.action, "actorId": c.actor_id,
            "userIds": list(c.user_ids), "role": c.role.value if c.role else None,
            "memberCount": c.member_count, "message": message(c.message, viewer)}


def deletion(d: ConversationDeletion) -> dict[str, Any]:
    """deleteConversation's answer. ``action`` DELETED is what appsync/revoke.js reads to
    close every open subscription on the conversation."""
    return {"conversationId": d.conversation_id, "action": "DELETED", "kind": d.kind.value,
            "deletedBy": d.deleted_by, "deletedAt": d.deleted_at,
            "memberCount": d.member_count}


def notification_settings(s: NotificationSettings, *, email_available: bool,
                          includes_text: bool) -> dict[str, Any]:
    return {"email": s.email and email_available, "push": s.push,
            "emailAddress": s.email_address if s.email and email_available else None,
            "emailAvailable": email_available, "emailIncludesText": includes_text,
            "updatedAt": s.updated_at}


def account_deletion(job: DeletionJob) -> dict[str, Any]:
    return {"userId": job.user_id, "status": job.status, "eraseMessages": job.erase,
            "requestedAt": job.requested_at, "completedAt": job.completed_at}
