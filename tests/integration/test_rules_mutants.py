"""Authorization and membership rules that mutation testing (`make mutate`) found unpinned:
who reads an edit history (and from when), a forged message id, two owners, and the text
of a role change."""

import pytest

from resolvers import messages
from tests.integration.conftest import USERS, Stack, error_type, member_roles
from tests.integration.test_members import call
from tests.integration.test_messages import new_conversation, send

ALICE, BOB, CAROL = USERS["alice"], USERS["bob"], USERS["carol"]


def history(stack: Stack, who: str, cid: str, mid: str) -> dict | list:
    return stack.invoke(messages, "Query.editHistory.ok", who, {"conversationId": cid, "messageId": mid})


@pytest.fixture
def group(stack: Stack) -> str:
    return new_conversation(stack, members=[BOB], title="team")  # alice OWNER, bob MEMBER


def test_edit_history_is_for_the_author_and_owners_or_admins_only(stack: Stack, group: str) -> None:
    mine = send(stack, group, "bob's words", "cmid-rm-0001", who="bob")
    theirs = send(stack, group, "alice's words", "cmid-rm-0002")
    assert [v["body"] for v in history(stack, "bob", group, mine["id"])] == ["bob's words"]
    assert [v["version"] for v in history(stack, "alice", group, mine["id"])] == [1]  # an owner
    refused = history(stack, "bob", group, theirs["id"])
    assert error_type(refused) == "Forbidden"
    assert refused["error"]["message"] == "only the author and conversation owners or admins see edit history"


def test_edit_history_of_a_message_from_before_joining_is_not_found(stack: Stack, group: str) -> None:
    old = send(stack, group, "before carol", "cmid-rm-0003")
    call(stack, "addMembers", "alice", conversationId=group, userIds=[CAROL])
    call(stack, "setMemberRole", "alice", conversationId=group, userId=CAROL, role="ADMIN")
    answer = history(stack, "carol", group, old["id"])
    assert error_type(answer) == "NotFound"
    assert answer["error"]["message"] == "message not found in this conversation"
    later = send(stack, group, "after carol", "cmid-rm-0004")
    assert [v["body"] for v in history(stack, "carol", group, later["id"])] == ["after carol"]


def test_edit_history_refuses_a_forged_id_that_carries_a_real_seq(stack: Stack, group: str) -> None:
    m = send(stack, group, "real", "cmid-rm-0005")
    forged = m["id"][:-1] + ("A" if m["id"][-1] != "A" else "B")  # same seq bits, other random part
    assert error_type(history(stack, "alice", group, forged)) == "NotFound"


def test_one_of_two_owners_can_be_demoted_and_the_text_says_so(stack: Stack, group: str) -> None:
    made = call(stack, "setMemberRole", "alice", conversationId=group, userId=BOB, role="OWNER")
    assert made["message"]["body"] == "Alice made Bob an owner"
    back = call(stack, "setMemberRole", "bob", conversationId=group, userId=ALICE, role="MEMBER")
    assert error_type(back) is None, back
    assert back["message"]["body"] == "Bob made Alice a member"
    assert member_roles(stack, group) == {ALICE: "MEMBER", BOB: "OWNER"}


def test_remove_member_on_oneself_is_leaving_with_its_rules(stack: Stack, group: str) -> None:
    last_owner = call(stack, "removeMember", "alice", conversationId=group, userId=ALICE)
    assert error_type(last_owner) == "BadRequest"
    assert last_owner["error"]["message"] == "the last owner cannot leave: make another member an owner first"
    left = call(stack, "removeMember", "bob", conversationId=group, userId=BOB)
    assert left["action"] == "LEFT" and left["userIds"] == [BOB]
    assert set(member_roles(stack, group)) == {ALICE} and left["memberCount"] == 1
