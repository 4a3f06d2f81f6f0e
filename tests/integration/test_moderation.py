"""Reports: members report, moderators and admins review; nobody else sees reports."""

from resolvers import messages
from tests.integration.conftest import USERS, Stack, error_type
from tests.integration.test_messages import new_conversation, send


def report(stack: Stack, cid: str, mid: str, who: str, reason: str = "spam") -> dict:
    return stack.invoke(messages, "Mutation.reportMessage.ok", who,
                        {"conversationId": cid, "messageId": mid, "reason": reason})


def review(stack: Stack, who: str, **args) -> dict:
    return stack.invoke(messages, "Query.reportedMessages.moderator", who, args, replace_args=True)


def test_members_report_and_moderators_review(stack: Stack) -> None:
    cid = new_conversation(stack, members=[USERS["bob"]])
    m = send(stack, cid, "buy cheap watches", "cmid-mod-0001", who="bob")
    r = report(stack, cid, m["id"], "alice")
    assert (r["reporterId"], r["reason"], r["messageId"]) == (USERS["alice"], "spam", m["id"])
    report(stack, cid, m["id"], "alice")  # once per reporter: repeating is a no-op
    listing = review(stack, "mod")
    assert len(listing["items"]) == 1
    assert listing["items"][0]["message"]["body"] == "buy cheap watches"
    # the moderator deletes it without being a member
    gone = stack.invoke(messages, "Mutation.deleteMessage.ok", "mod", {"conversationId": cid, "messageId": m["id"]})
    assert gone["deletedBy"] == USERS["mod"]
    assert review(stack, "mod")["items"][0]["message"]["body"] is None


def test_report_rules(stack: Stack) -> None:
    cid = new_conversation(stack, members=[USERS["bob"]])
    m = send(stack, cid, "hello", "cmid-mod-0002", who="bob")
    before = stack.raw_items()
    assert error_type(report(stack, cid, m["id"], "mallory")) == "Forbidden"
    assert error_type(report(stack, cid, m["id"], "alice", reason="")) == "BadRequest"
    assert error_type(report(stack, cid, m["id"], "alice", reason="x" * 501)) == "BadRequest"
    forged = m["id"][:-1] + ("A" if m["id"][-1] != "A" else "B")
    assert error_type(report(stack, cid, forged, "alice")) == "NotFound"
    assert stack.raw_items() == before
    assert error_type(review(stack, "alice")) == "Forbidden"  # not a moderator


def test_reports_paginate_newest_first(stack: Stack) -> None:
    cid = new_conversation(stack, members=[USERS["bob"], USERS["carol"]])
    ids = [send(stack, cid, f"m{i}", f"cmid-mod-1{i:03d}", who="bob")["id"] for i in range(3)]
    for mid in ids:
        report(stack, cid, mid, "alice")
    first = review(stack, "mod", limit=2)
    assert [r["messageId"] for r in first["items"]] == [ids[2], ids[1]] and first["nextToken"]
    rest = review(stack, "mod", limit=2, nextToken=first["nextToken"])
    assert [r["messageId"] for r in rest["items"]] == [ids[0]] and rest["nextToken"] is None
