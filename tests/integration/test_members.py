"""Members and roles: who may add, remove, re-role and leave; system messages; access ends
the moment a member is removed."""

import pytest

from resolvers import conversations, messages
from tests.integration.conftest import USERS, Stack, error_type, member_roles
from tests.integration.test_messages import new_conversation, send, since

ALICE, BOB, CAROL, MALLORY = USERS["alice"], USERS["bob"], USERS["carol"], USERS["mallory"]


def call(stack: Stack, field: str, who: str, **args) -> dict:
    event = {"addMembers": "Mutation.addMembers.ok", "removeMember": "Mutation.removeMember.ok",
             "leaveConversation": "Mutation.leaveConversation.ok",
             "setMemberRole": "Mutation.setMemberRole.ok"}[field]
    return stack.invoke(conversations, event, who, args, replace_args=True)


@pytest.fixture
def group(stack: Stack) -> str:
    return new_conversation(stack, members=[BOB], title="team")  # alice OWNER, bob MEMBER


def roles(stack: Stack, change: dict, who: str = "alice") -> dict:
    """The members after a change (Query.members), checked against its memberCount."""
    got = member_roles(stack, change["conversationId"], who)
    assert change["memberCount"] == len(got)
    return got


def test_add_members_with_a_system_message_and_history_from_joining(stack: Stack, group: str) -> None:
    send(stack, group, "before carol", "cmid-mem-0001")
    change = call(stack, "addMembers", "alice", conversationId=group, userIds=[CAROL])
    assert change["action"] == "ADDED" and change["userIds"] == [CAROL]
    assert roles(stack, change) == {ALICE: "OWNER", BOB: "MEMBER", CAROL: "MEMBER"}
    assert change["message"]["kind"] == "SYSTEM" and change["message"]["seq"] == 2
    assert change["message"]["body"] == "Alice added Carol"
    seen = since(stack, group, 0, "carol")["items"]
    assert [m["seq"] for m in seen] == [2]  # carol reads from the message announcing her
    assert [m["seq"] for m in since(stack, group, 0, "bob")["items"]] == [1, 2]
    assert send(stack, group, "hi all", "cmid-mem-0002", who="carol")["seq"] == 3


def test_add_members_rules(stack: Stack, group: str) -> None:
    before = stack.raw_items()
    assert error_type(call(stack, "addMembers", "bob", conversationId=group, userIds=[CAROL])) == "Forbidden"
    assert error_type(call(stack, "addMembers", "mallory", conversationId=group, userIds=[CAROL])) == "Forbidden"
    assert error_type(call(stack, "addMembers", "alice", conversationId=group, userIds=[BOB])) == "BadRequest"
    assert error_type(call(stack, "addMembers", "alice", conversationId=group,
                           userIds=["99999999-9999-4999-8999-999999999999"])) == "BadRequest"
    assert error_type(call(stack, "addMembers", "alice", conversationId=group, userIds=[])) == "BadRequest"
    direct = new_conversation(stack, members=[BOB])
    before = stack.raw_items()
    assert error_type(call(stack, "addMembers", "alice", conversationId=direct, userIds=[CAROL])) == "BadRequest"
    assert error_type(call(stack, "leaveConversation", "bob", conversationId=direct)) == "BadRequest"
    assert stack.raw_items() == before


def test_a_late_joiners_subscription_filters_out_older_messages(stack: Stack, group: str) -> None:
    """onMessage answers with the enhanced filter appsync/subscribe.js sets: events about
    messages at or before the member's joinedSeq (edits, reactions) do not reach them."""
    send(stack, group, "before carol", "cmid-mem-late-1")
    change = call(stack, "addMembers", "alice", conversationId=group, userIds=[CAROL])
    joined = change["message"]["seq"] - 1  # the "Alice added Carol" message is her first
    got = stack.invoke(messages, "Subscription.onMessage.member", "carol", {"conversationId": group})
    assert got == {"filter": {"conversationId": {"eq": group}, "seq": {"gt": joined}},
                   "invalidation": {"conversationId": {"eq": group}, "userId": {"in": [CAROL, "*"]}}}
    assert joined >= 1


def test_removed_member_loses_access_at_once(stack: Stack, group: str) -> None:
    call(stack, "addMembers", "alice", conversationId=group, userIds=[CAROL])
    m = send(stack, group, "still here?", "cmid-mem-0003", who="carol")
    change = call(stack, "removeMember", "alice", conversationId=group, userId=CAROL)
    assert change["action"] == "REMOVED" and CAROL not in roles(stack, change)
    assert change["message"]["body"] == "Alice removed Carol"
    assert error_type(send(stack, group, "let me back", "cmid-mem-0004", who="carol")) == "Forbidden"
    assert error_type(since(stack, group, 0, "carol")) == "Forbidden"
    assert error_type(stack.invoke(messages, "Subscription.onMessage.member", "carol",
                                   {"conversationId": group})) == "Forbidden"
    assert error_type(stack.invoke(messages, "Mutation.addReaction.ok", "carol",
                                   {"conversationId": group, "messageId": m["id"], "emoji": "👍"})) == "Forbidden"
    assert error_type(stack.invoke(messages, "Mutation.editMessage.ok", "carol", {"input": {
        "conversationId": group, "messageId": m["id"], "body": "edit", "expectedVersion": 1}})) == "Forbidden"
    listing = stack.invoke(conversations, "Query.conversations.first-page", "carol")
    assert group not in [c["id"] for c in listing["items"]]


def test_roles_decide_who_removes_whom(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL, MALLORY])
    assert error_type(call(stack, "removeMember", "bob", conversationId=cid, userId=CAROL)) == "Forbidden"
    assert error_type(call(stack, "setMemberRole", "bob", conversationId=cid, userId=CAROL, role="ADMIN")) == "Forbidden"
    made = call(stack, "setMemberRole", "alice", conversationId=cid, userId=BOB, role="ADMIN")
    assert made["action"] == "ROLE_CHANGED" and made["role"] == "ADMIN" and roles(stack, made)[BOB] == "ADMIN"
    assert made["message"]["body"] == "Alice made Bob an admin"
    assert call(stack, "removeMember", "bob", conversationId=cid, userId=MALLORY)["action"] == "REMOVED"
    call(stack, "setMemberRole", "alice", conversationId=cid, userId=CAROL, role="ADMIN")
    assert error_type(call(stack, "removeMember", "bob", conversationId=cid, userId=CAROL)) == "Forbidden"  # admin vs admin
    assert error_type(call(stack, "removeMember", "bob", conversationId=cid, userId=ALICE)) == "Forbidden"  # admin vs owner
    assert error_type(call(stack, "setMemberRole", "alice", conversationId=cid, userId=CAROL, role="KING")) == "BadRequest"
    assert error_type(call(stack, "removeMember", "alice", conversationId=cid, userId=MALLORY)) == "NotFound"


def test_last_owner_cannot_leave_or_be_demoted(stack: Stack, group: str) -> None:
    assert error_type(call(stack, "leaveConversation", "alice", conversationId=group)) == "BadRequest"
    assert error_type(call(stack, "setMemberRole", "alice", conversationId=group, userId=ALICE,
                           role="MEMBER")) == "BadRequest"
    call(stack, "setMemberRole", "alice", conversationId=group, userId=BOB, role="OWNER")
    left = call(stack, "leaveConversation", "alice", conversationId=group)
    assert left["action"] == "LEFT" and roles(stack, left, "bob") == {BOB: "OWNER"}
    assert left["message"]["body"] == "Alice left"
    assert error_type(send(stack, group, "back?", "cmid-mem-0005")) == "Forbidden"
    # leaving via removeMember on yourself works the same way
    assert call(stack, "leaveConversation", "bob", conversationId=group)["memberCount"] == 0


def test_membership_subscription_is_members_only(stack: Stack, group: str) -> None:
    ok = stack.invoke(conversations, "Subscription.onMembershipChange.member", "bob", {"conversationId": group},
                      replace_args=True)
    # members only; a removal of bob closes it (the invalidation filter appsync/subscribe.js sets)
    assert ok == {"invalidation": {"conversationId": {"eq": group}, "userId": {"in": [BOB, "*"]}}}
    denied = stack.invoke(conversations, "Subscription.onMembershipChange.member", "mallory",
                          {"conversationId": group}, replace_args=True)
    assert error_type(denied) == "Forbidden"


def test_rename_group(stack: Stack, group: str) -> None:
    rename = lambda who, title: stack.invoke(conversations, "Mutation.renameConversation.ok", who,
                                             {"conversationId": group, "title": title}, replace_args=True)
    assert error_type(rename("bob", "mine now")) == "Forbidden"
    assert error_type(rename("mallory", "x")) == "Forbidden"
    assert error_type(rename("alice", "   ")) == "BadRequest"
    conv = rename("alice", "Launch plan v2")
    assert conv["title"] == "Launch plan v2"
    last = since(stack, group, 0, "bob")["items"][-1]
    assert last["kind"] == "SYSTEM" and last["body"] == "Alice renamed the conversation to “Launch plan v2”"
    direct = new_conversation(stack, members=[CAROL])
    assert error_type(stack.invoke(conversations, "Mutation.renameConversation.ok", "alice",
                                   {"conversationId": direct, "title": "x"}, replace_args=True)) == "BadRequest"
