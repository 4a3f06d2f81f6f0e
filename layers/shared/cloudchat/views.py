"""Render domain records as the dicts the GraphQL schema expects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudchat.models import ConversationView, Message, Page, User


def message(m: Message) -> dict[str, Any]:
    return {
        "id": m.id, "conversationId": m.conversation_id, "seq": m.seq, "senderId": m.sender_id,
        "kind": m.kind.value, "body": m.body, "createdAt": m.created_at,
        "clientMessageId": m.client_message_id, "version": m.version,
    }


def conversation(v: ConversationView) -> dict[str, Any]:
    c, me = v.conversation, v.member
    return {
        "id": c.id, "kind": c.kind.value, "title": c.title, "createdBy": c.created_by,
        "members": [{"userId": u, "role": r.value} for u, r in sorted(c.members.items())],
        "memberCount": len(c.members),
        "lastMessage": message(v.last_message) if v.last_message else None,
        "lastSeq": c.last_seq,
        "unreadCount": max(0, c.last_seq - max(me.read_seq, me.joined_seq)),
        "createdAt": c.created_at, "updatedAt": c.updated_at,
    }


def user(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "displayName": u.display_name,
            "email": u.email, "createdAt": u.created_at}


def page(p: Page, render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    return {"items": [render(i) for i in p.items], "nextToken": p.next_token}
