"""A 2,000-member group through the local stack (issue 15 part 1): members added 1,000 ids a
call, a send, the conversation list, member paging, receipts and a removal, with real gql
clients. The stack runs with ``--parameter MaxGroupMembers=3000`` (as ``sam deploy
--parameter-overrides`` would); the 1,997 members besides the three demo users who act are
profiles written straight into the table (what the Cognito sign-up trigger writes), the
cheapest honest way to have users the API accepts as members."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from gql.transport.exceptions import TransportQueryError

from cloudchat.models import User
from cloudchat.store import _codec as codec

from .conftest import DevStack, eventually, run, running

N = 2000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    yield from running(DevStack(tmp_path_factory.mktemp("big") / "state", "--no-seed",
                                "--parameter", "MaxGroupMembers=3000"))


def profiles(stack: DevStack, n: int) -> list[str]:
    """``n`` user profiles, written with BatchWriteItem (25 a request)."""
    ddb = boto3.client("dynamodb", endpoint_url=stack.outputs["AwsEndpointUrl"],
                       region_name=stack.outputs["Region"], aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    ids = [str(uuid.uuid4()) for _ in range(n)]
    items = [codec.to_av(codec.profile_item(User(id=u, display_name=f"member {i}",
                                                  created_at="2026-01-01T00:00:00.000Z")))
             for i, u in enumerate(ids)]
    for i in range(0, len(items), 25):
        request = {stack.outputs["TableName"]: [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    return ids


async def all_members(stack: DevStack, token: str, cid: str) -> tuple[list[dict[str, Any]], int]:
    out: list[dict[str, Any]] = []
    pages, next_token = 0, None
    while True:
        page = (await stack.execute(token, "Members", {"conversationId": cid, "limit": 100,
                                                       "nextToken": next_token}))["members"]
        pages += 1
        out += page["items"]
        next_token = page["nextToken"]
        if next_token is None:
            return out, pages


def test_a_2000_member_group_end_to_end(big: DevStack) -> None:
    started = time.monotonic()
    alice, bob, carol = (big.token(n) for n in ("alice", "bob", "carol"))
    ids = {n: big.user(n)["sub"] for n in ("alice", "bob", "carol")}
    crowd = profiles(big, N - 3)

    async def scenario() -> None:
        for token in (alice, bob, carol):
            await big.execute(token, "Me")  # their profiles, as on a first sign-in
        cid = (await big.execute(alice, "CreateConversation", {"input": {
            "memberIds": [ids["bob"], ids["carol"]], "title": "company"}}))["createConversation"]["id"]
        for chunk in (crowd[:1000], crowd[1000:]):  # addMembers takes up to 1,000 ids a call
            change = (await big.execute(alice, "AddMembers", {"conversationId": cid,
                                                              "userIds": chunk}))["addMembers"]
            assert sorted(change["userIds"]) == sorted(chunk)
            assert change["message"]["body"].endswith(f" added {len(chunk)} members")
        assert change["memberCount"] == N

        sent = (await big.execute(alice, "SendMessage", {"input": {
            "conversationId": cid, "body": "hello, all 2,000 of you", "clientMessageId": "big-0001",
            "mentions": [ids["bob"], crowd[-1]]}}))["sendMessage"]
        assert set(sent["mentions"]) == {ids["bob"], crowd[-1]}

        async def listed() -> dict[str, Any]:
            return (await big.execute(bob, "Conversations", {"limit": 10}))["conversations"]

        page = await eventually(listed, lambda p: any(c["id"] == cid and c["lastSeq"] >= sent["seq"]
                                                      for c in p["items"]))
        mine = next(c for c in page["items"] if c["id"] == cid)
        assert mine["memberCount"] == N and mine["peerId"] is None and mine["myRole"] == "MEMBER"
        assert mine["unreadCount"] >= 1 and mine["unreadMentionCount"] in (0, 1)

        members, pages = await all_members(big, carol, cid)
        assert pages == N // 100 and len({m["userId"] for m in members}) == N
        assert [m["userId"] for m in members] == sorted(m["userId"] for m in members)
        roles = {m["userId"]: m["role"] for m in members}
        assert roles[ids["alice"]] == "OWNER" and roles[crowd[0]] == "MEMBER"

        read = (await big.execute(bob, "MarkRead", {"conversationId": cid, "seq": sent["seq"]}))
        assert read["markRead"]["seq"] == sent["seq"]
        receipts = (await big.execute(alice, "ReadReceipts", {"conversationId": cid}))["readReceipts"]
        assert len(receipts) == N
        assert next(r for r in receipts if r["userId"] == ids["bob"])["readSeq"] == sent["seq"]

        removed = (await big.execute(alice, "RemoveMember", {"conversationId": cid,
                                                             "userId": ids["carol"]}))["removeMember"]
        assert removed["action"] == "REMOVED" and removed["memberCount"] == N - 1
        for query, variables in (("Messages", {"conversationId": cid, "limit": 5}),
                                 ("Members", {"conversationId": cid, "limit": 5})):
            with pytest.raises(TransportQueryError) as refused:
                await big.execute(carol, query, variables)
            assert (refused.value.errors or [{}])[0].get("errorType") == "Forbidden", query
        members, _ = await all_members(big, bob, cid)
        assert len(members) == N - 1 and ids["carol"] not in {m["userId"] for m in members}

    run(scenario(), timeout=240)
    assert time.monotonic() - started < 240
