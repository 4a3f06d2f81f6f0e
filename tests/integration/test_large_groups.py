"""Large groups (issue 15 part 1): members only in their own items, the paged member list,
addMembers of up to 1,000 ids by the resumable chunk rule, and the rules that used to read
the member map (last owner, mentions, deletion) at constant conversation-item size."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloudchat import api
from cloudchat.models import User
from resolvers import conversations
from tests.integration.conftest import USERS, Stack, error_type, member_roles
from tests.integration.test_messages import new_conversation, since

ALICE, BOB, CAROL = USERS["alice"], USERS["bob"], USERS["carol"]


def crowd(n: int, start: int = 0) -> list[str]:
    """``n`` users with profiles (the cheapest honest way: their profile items)."""
    store = api.service().store
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(start, start + n)]
    for u in ids:
        store.put_profile_if_absent(User(id=u, display_name=f"user {u[-4:]}",
                                         created_at="2026-01-01T00:00:00.000Z"))
    return ids


def call(stack: Stack, event: str, who: str, **args: object) -> Any:
    return stack.invoke(conversations, event, who, args, replace_args=True)


def add(stack: Stack, cid: str, users: list[str], who: str = "alice") -> Any:
    return call(stack, "Mutation.addMembers.ok", who, conversationId=cid, userIds=users)


def members_page(stack: Stack, cid: str, who: str = "alice", limit: int | None = None,
                 token: str | None = None) -> Any:
    return call(stack, "Query.members.ok", who, conversationId=cid, limit=limit, nextToken=token)


def conv_items(stack: Stack, cid: str) -> dict[str, dict[str, Any]]:
    return {i["SK"]["S"]: i for i in stack.raw_items() if i["PK"]["S"] == f"CONV#{cid}"}


def system_messages(stack: Stack, cid: str) -> list[str]:
    return [m["body"] for m in since(stack, cid, 0, "alice", 100)["items"] if m["kind"] == "SYSTEM"]


@pytest.fixture
def big(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_GROUP_MEMBERS", "2000")
    monkeypatch.setenv("WRITE_RATE_PER_MINUTE", "1000")
    api.reset()


# ---------------------------------------------------------------- the conversation item
def test_the_conversation_item_keeps_counts_never_the_member_map(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL], title="team")
    meta = conv_items(stack, cid)["META"]
    assert "members" not in meta
    assert (meta["memberCount"]["N"], meta["ownerCount"]["N"]) == ("3", "1")
    direct = new_conversation(stack, members=[BOB])
    assert sorted(v["S"] for v in conv_items(stack, direct)["META"]["pair"]["L"]) == sorted([ALICE, BOB])


def test_a_conversation_written_with_the_old_member_map_still_works_and_loses_it(
        stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB, CAROL], title="legacy")
    ddb = api.service().store._client()
    table = api.service().store.table_name
    key = {"PK": {"S": f"CONV#{cid}"}, "SK": {"S": "META"}}
    ddb.update_item(TableName=table, Key=key, UpdateExpression="SET members = :m REMOVE ownerCount",
                    ExpressionAttributeValues={":m": {"M": {ALICE: {"S": "OWNER"}, BOB: {"S": "MEMBER"},
                                                            CAROL: {"S": "MEMBER"}}}})
    # the last-owner rule reads the owner count from the map
    assert error_type(call(stack, "Mutation.leaveConversation.ok", "alice", conversationId=cid)) == "BadRequest"
    change = call(stack, "Mutation.removeMember.ok", "alice", conversationId=cid, userId=CAROL)
    assert change["memberCount"] == 2
    meta = conv_items(stack, cid)["META"]
    assert "members" not in meta and meta["ownerCount"]["N"] == "1"


# ---------------------------------------------------------------- the paged member list
def test_members_are_paged_by_user_id_for_members_only(stack: Stack) -> None:
    others = crowd(4)
    cid = new_conversation(stack, members=[BOB, *others], title="team")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = members_page(stack, cid, "bob", 2, token)
        assert len(page["items"]) <= 2
        seen += [m["userId"] for m in page["items"]]
        pages += 1
        token = page["nextToken"]
        if token is None:
            break
    assert seen == sorted([ALICE, BOB, *others]) and pages == 3
    roles = {m["userId"]: m["role"] for m in members_page(stack, cid, "bob", 100)["items"]}
    assert roles[ALICE] == "OWNER" and roles[BOB] == "MEMBER"
    assert error_type(members_page(stack, cid, "carol")) == "Forbidden"  # not a member
    first = members_page(stack, cid, "bob", 2)
    assert error_type(members_page(stack, cid, "alice", 2, first["nextToken"])) == "BadRequest"
    other = new_conversation(stack, members=[BOB], title="other")
    assert error_type(members_page(stack, other, "bob", 2, first["nextToken"])) == "BadRequest"
    assert error_type(members_page(stack, cid, "bob", 0)) == "BadRequest"
    assert error_type(members_page(stack, cid, "bob", 101)) == "BadRequest"
    assert error_type(members_page(stack, "not-an-id", "bob")) == "BadRequest"


# ---------------------------------------------------------------- addMembers in chunks
@pytest.mark.usefixtures("big")
def test_adding_1000_ids_commits_in_chunks_with_one_system_message(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB], title="company")
    many = crowd(1000)
    counter = stack.counter()
    change = add(stack, cid, many)
    assert error_type(change) is None, change
    assert change["memberCount"] == 1002 and len(change["userIds"]) == 1000
    assert change["message"]["body"] == "Alice added 1000 members"
    # requests per 1,000 ids: the conversation + caller (1), who is a member already (10),
    # profiles (11: 1,001 keys), known blocks (10), the first chunk of 48 with the SYSTEM
    # message and 20 later chunks of up to 49 (21 transactions)
    assert counter.ops.count("dynamodb.TransactWriteItems") == 21
    assert counter.dynamodb == 53, counter.ops  # 1 + 10 + 11 + 10 + 21
    assert system_messages(stack, cid) == ["Alice added 1000 members"]
    assert len(member_roles(stack, cid)) == 1002
    meta = conv_items(stack, cid)["META"]
    assert meta["memberCount"]["N"] == "1002" and "pendingAdd" not in meta
    last = api.service().store.get_member(cid, many[-1])
    assert last is not None and last.joined_seq == change["message"]["seq"] - 1  # they read
    # from the message that announces them on
    assert error_type(add(stack, cid, many[:10])) == "BadRequest"  # all members already


@pytest.mark.usefixtures("big")
def test_a_retry_of_the_same_call_completes_the_rest_without_duplicates(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = new_conversation(stack, members=[BOB], title="company")
    many = crowd(200)
    store = api.service().store
    original = type(store).add_member_chunk
    calls = {"n": 0}

    def fail_second(self: Any, *args: Any, **kwargs: Any) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}},
                              "TransactWriteItems")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(store), "add_member_chunk", fail_second)
    with pytest.raises(ClientError):
        api.service().add_members(_caller(ALICE), cid, many)
    assert len(member_roles(stack, cid)) == 2 + 48 + 49  # the first and one later chunk
    monkeypatch.setattr(type(store), "add_member_chunk", original)
    again = add(stack, cid, list(reversed(many)))  # the same set of ids, in any order
    assert error_type(again) is None, again
    assert again["memberCount"] == 202
    assert system_messages(stack, cid) == ["Alice added 200 members"]  # no second message
    assert again["message"]["body"] == "Alice added 200 members"
    roles = member_roles(stack, cid)
    assert len(roles) == 202 and "pendingAdd" not in conv_items(stack, cid)["META"]


@pytest.mark.usefixtures("big")
def test_a_known_block_refuses_a_large_add_before_anything_is_written(stack: Stack) -> None:
    cid = new_conversation(stack, members=[BOB], title="company")
    many = crowd(120)
    store = api.service().store
    store.block(many[100], ALICE, "2026-01-01T00:00:00.000Z")  # in the third chunk
    before = sorted(map(str, stack.raw_items()))
    refused = add(stack, cid, many)
    assert error_type(refused) == "Forbidden" and refused["error"]["info"]["userIds"] == [many[100]]
    assert sorted(map(str, stack.raw_items())) == before


@pytest.mark.usefixtures("big")
def test_a_block_landing_inside_a_later_chunk_stops_the_add_there(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = new_conversation(stack, members=[BOB], title="company")
    many = crowd(120)
    store = api.service().store
    monkeypatch.setattr(type(store), "blockers_of", lambda self, users, blocked: set())
    store.block(many[100], ALICE, "2026-01-01T00:00:00.000Z")  # (the pre-check misses it)
    refused = add(stack, cid, many)
    assert error_type(refused) == "Forbidden" and refused["error"]["info"]["userIds"] == [many[100]]
    roles = member_roles(stack, cid)
    assert many[100] not in roles and len(roles) == 2 + 48 + 49  # chunks before it stay


@pytest.mark.usefixtures("big")
def test_large_adds_are_refused_as_bad_input_or_forbidden_and_change_nothing(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = new_conversation(stack, members=[BOB], title="company")
    many = crowd(150)
    before = sorted(map(str, stack.raw_items()))
    assert error_type(add(stack, cid, many, who="bob")) == "Forbidden"  # a plain member
    assert error_type(add(stack, cid, [*many, "not a user id!"])) == "BadRequest"
    assert error_type(add(stack, cid, [*many, "00000000-0000-4000-8000-999999999999"])) == "BadRequest"
    monkeypatch.setenv("MAX_GROUP_MEMBERS", "100")
    api.reset()
    over = add(stack, cid, many)
    assert error_type(over) == "BadRequest" and "at most 100 members" in over["error"]["message"]
    assert sorted(map(str, stack.raw_items())) == before
    monkeypatch.setenv("MAX_GROUP_MEMBERS", "2000")
    api.reset()
    dup = add(stack, cid, [*many, *many[:60]])  # duplicates collapse
    assert dup["memberCount"] == 152 and len(member_roles(stack, cid)) == 152


@pytest.mark.usefixtures("big")
def test_a_failed_large_create_leaves_no_member_chunks_behind(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    many = crowd(250)
    store = api.service().store
    client = store._client()
    real = client.transact_write_items
    calls = {"n": 0}

    def fail_last(**kwargs: Any) -> Any:
        calls["n"] += 1
        if any(op.get("Put", {}).get("Item", {}).get("SK", {}).get("S") == "META"
               for op in kwargs["TransactItems"]):  # the conversation item: the last one
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}},
                              "TransactWriteItems")
        return real(**kwargs)

    monkeypatch.setattr(client, "transact_write_items", fail_last)
    before = sorted(map(str, stack.raw_items()))
    with pytest.raises(ClientError):
        api.service().create_conversation(_caller(ALICE), many, "big")
    assert calls["n"] > 3  # member chunks were written, then undone
    assert not [i for i in stack.raw_items() if i["SK"]["S"].startswith("MEMBER#")
                and str(i) not in before]


def _caller(user_id: str) -> Any:
    from cloudchat.models import Caller

    return Caller(user_id=user_id, username=user_id)


@pytest.mark.usefixtures("big")
def test_another_large_add_replacing_the_mark_stops_this_one_and_its_retry_is_a_new_call(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = new_conversation(stack, members=[BOB], title="company")
    many = crowd(120)
    store = api.service().store
    original = type(store).add_member_chunk

    def overtaken(self: Any, conversation_id: str, **kwargs: Any) -> str:
        self._client().update_item(  # another large add's first chunk lands in between
            TableName=self.table_name, Key={"PK": {"S": f"CONV#{cid}"}, "SK": {"S": "META"}},
            UpdateExpression="SET pendingAdd = :p",
            ExpressionAttributeValues={":p": {"M": {"digest": {"S": "someone else"}, "seq": {"N": "9"}}}})
        return original(self, conversation_id, **kwargs)

    monkeypatch.setattr(type(store), "add_member_chunk", overtaken)
    assert error_type(add(stack, cid, many)) == "Conflict"
    assert len(member_roles(stack, cid)) == 2 + 48  # the first chunk only
    monkeypatch.setattr(type(store), "add_member_chunk", original)
    again = add(stack, cid, many)
    assert error_type(again) is None and again["memberCount"] == 122
    assert system_messages(stack, cid) == ["Alice added 120 members", "Alice added 72 members"]
