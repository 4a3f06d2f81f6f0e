"""Conversations through the real handlers under moto."""

from resolvers import conversations, users
from tests.integration.conftest import USERS, Stack, error_type, member_roles

BOB, CAROL, MALLORY = USERS["bob"], USERS["carol"], USERS["mallory"]


def create(stack: Stack, who: str, members: list[str], title: str | None = None) -> dict:
    args = {"input": {"memberIds": members, **({"title": title} if title else {})}}
    return stack.invoke(conversations, "Mutation.createConversation.direct", who, args,
                        replace_args=True)


def test_me_returns_and_creates_profile(stack: Stack) -> None:
    me = stack.invoke(users, "Query.me.ok", "alice")
    assert me["id"] == USERS["alice"]
    assert me["displayName"] == "Alice"


def test_me_creates_missing_profile_from_claims(stack: Stack) -> None:
    raw = [i for i in stack.raw_items() if i["PK"]["S"] == f"USER#{USERS['alice']}"]
    assert raw  # seeded
    from cloudchat import api

    api.service().store._client().delete_item(
        TableName="cloudchat-test", Key={"PK": {"S": f"USER#{USERS['alice']}"}, "SK": {"S": "PROFILE"}})
    me = stack.invoke(users, "Query.me.ok", "alice")
    assert me["displayName"] == "alice"  # from the email claim
    assert any(i["PK"]["S"] == f"USER#{USERS['alice']}" for i in stack.raw_items())


def test_direct_conversation_is_deduplicated_from_both_sides(stack: Stack) -> None:
    first = create(stack, "alice", [BOB])
    assert first["kind"] == "DIRECT"
    assert set(member_roles(stack, first["id"])) == {USERS["alice"], BOB}
    assert first["memberCount"] == 2 and first["peerId"] == BOB  # the other member
    again = create(stack, "alice", [BOB])
    reverse = create(stack, "bob", [USERS["alice"]])
    assert again["id"] == first["id"] == reverse["id"]
    metas = [i for i in stack.raw_items() if i["SK"]["S"] == "META"]
    assert len(metas) == 1


def test_titled_or_larger_conversations_are_groups(stack: Stack) -> None:
    titled = create(stack, "alice", [BOB], title="Project")
    assert titled["kind"] == "GROUP" and titled["title"] == "Project"
    group = create(stack, "alice", [BOB, CAROL])
    assert group["kind"] == "GROUP"
    assert group["peerId"] is None
    roles = member_roles(stack, group["id"])
    assert roles == {USERS["alice"]: "OWNER", BOB: "MEMBER", CAROL: "MEMBER"}
    assert group["memberCount"] == 3 and group["unreadCount"] == 0 and group["lastSeq"] == 0


def test_unknown_member_ids_are_rejected_and_nothing_is_written(stack: Stack) -> None:
    before = len(stack.raw_items())
    result = stack.invoke(conversations, "Mutation.createConversation.unknown-member", "alice")
    assert error_type(result) == "BadRequest"
    assert "99999999-9999-4999-8999-999999999999" in result["error"]["message"]
    assert len(stack.raw_items()) == before


def test_bad_create_inputs(stack: Stack) -> None:
    assert error_type(stack.invoke(conversations, "Mutation.createConversation.no-members")) == "BadRequest"
    assert error_type(create(stack, "alice", [USERS["alice"]])) == "BadRequest"  # only yourself
    assert error_type(create(stack, "alice", ["not a valid id!"])) == "BadRequest"
    assert error_type(create(stack, "alice", [BOB], title="x" * 201)) == "BadRequest"


def test_group_member_limit(stack: Stack, monkeypatch) -> None:
    from cloudchat import api

    monkeypatch.setenv("MAX_GROUP_MEMBERS", "3")
    api.reset()
    assert error_type(create(stack, "alice", [BOB, CAROL, MALLORY])) == "BadRequest"
    assert create(stack, "alice", [BOB, CAROL])["memberCount"] == 3


def test_non_member_cannot_read_a_conversation(stack: Stack) -> None:
    conv = create(stack, "alice", [BOB])
    denied = stack.invoke(conversations, "Query.conversation.non-member", "mallory", {"id": conv["id"]})
    assert error_type(denied) == "Forbidden"
    ok = stack.invoke(conversations, "Query.conversation.ok", "bob", {"id": conv["id"]})
    assert ok["id"] == conv["id"]
    # A conversation that does not exist looks the same as one you are not in.
    missing = stack.invoke(conversations, "Query.conversation.ok", "alice",
                           {"id": "01JD5Z8Q7M3V9K2X4N6P8R0T2W"})
    assert error_type(missing) == "Forbidden"
    bad = stack.invoke(conversations, "Query.conversation.ok", "alice", {"id": "nope"})
    assert error_type(bad) == "BadRequest"


def test_unauthenticated_event_is_unauthorized(stack: Stack) -> None:
    assert error_type(stack.invoke(conversations, "Query.conversations.first-page", who="")) == "Unauthorized"


def test_bad_limit(stack: Stack) -> None:
    assert error_type(stack.invoke(conversations, "Query.conversations.bad-limit")) == "BadRequest"
    assert error_type(stack.invoke(conversations, "Query.conversations.first-page", "alice",
                                   {"limit": 101})) == "BadRequest"
