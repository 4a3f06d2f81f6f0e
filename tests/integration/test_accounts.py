"""deleteAccount / adminDeleteUser: the request's part (Cognito, profile, directory, devices,
presence, the job) and the background part run by the stream consumer (leaving every
conversation with a SYSTEM message, the last-owner rule, tombstones with eraseMessages,
pending uploads), a deleted user's still-valid token refused, idempotency, denials, budget."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from cloudchat import api, aws
from cloudchat.services import accounts
from resolvers import conversations, messages, stream, users
from tests.integration.conftest import (
    STREAMS_SURVIVE_CANCELLED_TRANSACTIONS,
    USERS,
    Stack,
    error_type,
    member_roles,
)
from tests.integration.test_fanout import Captured, Stream, consume
from tests.integration.test_messages import new_conversation, page, send

pytestmark = pytest.mark.moto_fidelity(STREAMS_SURVIVE_CANCELLED_TRANSACTIONS)

ALICE, BOB, CAROL = USERS["alice"], USERS["bob"], USERS["carol"]


@pytest.fixture
def pool(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    """A user pool holding the test users (usernames are their ids, as in the events)."""
    cognito = boto3.client("cognito-idp")
    pool_id = cognito.create_user_pool(PoolName="p")["UserPool"]["Id"]
    for sub in USERS.values():
        cognito.admin_create_user(UserPoolId=pool_id, Username=sub, MessageAction="SUPPRESS")
    monkeypatch.setenv("USER_POOL_ID", pool_id)
    api.reset()
    return pool_id


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Captured:
    """The user events the stream consumer publishes."""
    cap = Captured()
    monkeypatch.setattr(stream, "_publisher", lambda: cap)
    return cap


def delete_account(stack: Stack, who: str = "alice", erase: Any = False) -> Any:
    return stack.invoke(users, "Mutation.deleteAccount.ok", who, {"eraseMessages": erase},
                        replace_args=True)


def admin_delete(stack: Stack, who: str, user_id: Any, erase: Any = None) -> Any:
    return stack.invoke(users, "Mutation.adminDeleteUser.admin", who,
                        {"userId": user_id, "eraseMessages": erase}, replace_args=True)


def drain(feed: Stream, limit: int = 200) -> int:
    """Runs the stream consumer until the stream is quiet; returns the records consumed.
    A failed record fails the test with the consumer's error."""
    from cloudchat.fanout import Fanout

    errors: list[Exception] = []
    original = Fanout.handle_batch

    def spy(self: Fanout, batch: Any) -> int | None:
        out = original(self, batch)
        if self.last_error is not None:
            errors.append(self.last_error)
        return out

    total = 0
    Fanout.handle_batch = spy  # type: ignore[method-assign]
    try:
        for _ in range(limit):
            records = feed.read()
            if not records:
                return total
            assert consume(records) == {"batchItemFailures": []}, errors
            total += len(records)
    finally:
        Fanout.handle_batch = original  # type: ignore[method-assign]
    raise AssertionError("the stream never went quiet")


def group(stack: Stack, members: list[str], who: str = "alice") -> str:
    return new_conversation(stack, who, members=members, title="Team")


def call(stack: Stack, field: str, who: str, **args: Any) -> Any:
    event = {"leaveConversation": "Mutation.leaveConversation.ok",
             "setMemberRole": "Mutation.setMemberRole.ok",
             "addMembers": "Mutation.addMembers.ok"}[field]
    return stack.invoke(conversations, event, who, args, replace_args=True)


def items_of(stack: Stack, pk: str) -> dict[str, dict[str, Any]]:
    return {i["SK"]["S"]: i for i in stack.raw_items() if i["PK"]["S"] == pk}


def bodies(stack: Stack, cid: str, who: str = "bob") -> list[tuple[str, str | None]]:
    return [(m["senderId"], m["body"]) for m in reversed(page(stack, cid, who)["items"])]


def test_delete_account_removes_the_user_and_leaves_every_conversation(
        stack: Stack, pool: str, events: Captured) -> None:
    feed = Stream()
    team = group(stack, [BOB, CAROL])
    direct = new_conversation(stack, members=[BOB])
    send(stack, team, "hello team", "cmid-acc-0001")
    send(stack, direct, "hi bob", "cmid-acc-0002")
    stack.invoke(users, "Mutation.heartbeat.ok", "alice")
    ticket = stack.invoke(messages, "Mutation.requestUpload.ok", "alice",
                          {"conversationId": team})
    assert "uploadId" in ticket, ticket
    drain(feed)

    job = delete_account(stack)
    assert (job["userId"], job["status"], job["eraseMessages"]) == (ALICE, "RUNNING", False)
    # the request's part: Cognito user gone, profile a marker out of the directory
    with pytest.raises(Exception, match="UserNotFoundException"):
        boto3.client("cognito-idp").admin_get_user(UserPoolId=pool, Username=ALICE)
    mine = items_of(stack, f"USER#{ALICE}")
    assert "EMAIL" not in mine and mine["PROFILE"]["displayName"]["S"] == "Deleted user"
    assert "GSI2PK" not in mine["PROFILE"] and "email" not in mine["PROFILE"]
    assert mine["PRESENCE"]["type"]["S"] == "PRESENCE_GONE"
    assert stack.invoke(users, "Query.users.prefix", "bob", {"query": "alice"})["items"] == []
    assert stack.invoke(users, "Query.users.prefix", "bob", {"query": "alice@"})["items"] == []
    named = stack.invoke(users, "Query.usersByIds.ok", "bob", {"ids": [ALICE]})
    assert [(u["displayName"], u["deletedAt"] is not None) for u in named] == [("Deleted user", True)]

    drain(feed)  # the background part
    for cid in (team, direct):
        assert f"MEMBER#{ALICE}" not in items_of(stack, f"CONV#{cid}")
        last = page(stack, cid, "bob")["items"][0]
        assert (last["kind"], last["senderId"]) == ("SYSTEM", ALICE)
    assert page(stack, team, "bob")["items"][0]["body"] == "Deleted user left; Bob is now an owner"
    assert page(stack, direct, "bob")["items"][0]["body"] == "Deleted user left"
    # messages stay (the sender shows as "Deleted user"), the pending upload is gone
    assert ("11111111-1111-4111-8111-111111111111", "hello team") in bodies(stack, team)
    assert not any(sk.startswith("UPLOAD#") for sk in items_of(stack, f"CONV#{team}"))
    roles = member_roles(stack, team, "bob")
    assert stack.invoke(conversations, "Query.conversation.ok", "bob", {"id": team})["memberCount"] == 2
    assert roles == {BOB: "OWNER", CAROL: "MEMBER"}
    assert items_of(stack, f"USER#{ALICE}")["DELETION"]["status"]["S"] == "DONE"
    assert any(e["type"] == "REMOVED_FROM_CONVERSATION" and e["userId"] == ALICE
               for e in events.events)


def test_erase_messages_destroys_their_ciphertexts(stack: Stack, pool: str, events: Captured,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    feed = Stream()
    team = group(stack, [BOB])
    for i in range(5):
        send(stack, team, f"secret {i}", f"cmid-era-{i:04d}")
        send(stack, team, f"reply {i}", f"cmid-erb-{i:04d}", who="bob")
    # a group alice left before: her messages there are erased too
    past = group(stack, [CAROL], who="bob")
    call(stack, "addMembers", "bob", conversationId=past, userIds=[ALICE])
    send(stack, past, "old secret", "cmid-era-past")
    assert call(stack, "leaveConversation", "alice", conversationId=past)["action"] == "LEFT"
    assert "LEFT#" + past in items_of(stack, f"USER#{ALICE}")
    # several pages: the job's cursor resumes within a conversation
    monkeypatch.setattr(accounts, "ERASE_PAGE", 3)
    assert delete_account(stack, erase=True)["eraseMessages"] is True
    drain(feed)
    shown = page(stack, team, "bob")["items"]
    mine = [m for m in shown if m["senderId"] == ALICE and m["kind"] != "SYSTEM"]
    assert len(mine) == 5
    assert all(m["body"] is None and m["deletedAt"] and m["erased"] is True for m in mine)
    assert sorted(m["body"] for m in shown if m["senderId"] == BOB) == [f"reply {i}" for i in range(5)]
    raw = [i for i in items_of(stack, f"CONV#{team}").values()
           if i.get("type", {}).get("S") == "MSG" and i["senderId"]["S"] == ALICE
           and i["kind"]["S"] != "SYSTEM"]
    assert raw and all("bodies" not in i for i in raw)
    assert all(i.get("type", {}).get("S") != "AUDIT" or i["actorId"]["S"] == ALICE
               for i in items_of(stack, f"CONV#{team}").values())
    old = [m for m in page(stack, past, "bob")["items"] if m["senderId"] == ALICE and m["kind"] == "TEXT"]
    assert [(m["body"], m["erased"]) for m in old] == [(None, True)]
    assert not any(sk.startswith("LEFT#") for sk in items_of(stack, f"USER#{ALICE}"))  # all done


def test_a_deleted_users_token_gets_nowhere(stack: Stack, pool: str, events: Captured) -> None:
    feed = Stream()
    team = group(stack, [BOB])
    carols = group(stack, [BOB], who="carol")
    drain(feed)
    delete_account(stack)
    # at once (before the background part): everything that is the user's own
    assert error_type(stack.invoke(users, "Query.me.ok", "alice")) == "Unauthorized"
    assert error_type(stack.invoke(users, "Mutation.updateProfile.ok", "alice",
                                   {"displayName": "Back"})) == "Unauthorized"
    assert error_type(stack.invoke(users, "Mutation.heartbeat.ok", "alice")) == "Unauthorized"
    assert error_type(stack.invoke(users, "Query.usersByIds.ok", "alice",
                                   {"ids": [BOB]})) == "Unauthorized"
    assert error_type(stack.invoke(users, "Query.users.prefix", "alice",
                                   {"query": "b"})) == "Unauthorized"
    assert error_type(stack.invoke(users, "Query.presence.ok", "alice",
                                   {"userIds": [BOB]})) == "Unauthorized"
    assert error_type(stack.invoke(conversations, "Mutation.createConversation.direct", "alice",
                                   {"input": {"memberIds": [CAROL]}}, replace_args=True)) == "Unauthorized"
    # their writes into conversations (the rate logs' markers refuse them in the same write)
    assert error_type(send(stack, team, "still here?", "cmid-tok-0000")) == "Unauthorized"
    assert error_type(stack.invoke(conversations, "Mutation.renameConversation.ok", "alice",
                                   {"conversationId": team, "title": "mine"},
                                   replace_args=True)) == "Unauthorized"
    # nobody can bring them back into a conversation
    assert error_type(call(stack, "addMembers", "carol", conversationId=carols,
                           userIds=[ALICE])) == "BadRequest"
    assert error_type(stack.invoke(conversations, "Mutation.createConversation.direct", "carol",
                                   {"input": {"memberIds": [ALICE]}}, replace_args=True)) == "BadRequest"
    drain(feed)
    # once the background part ran: every conversation is closed to them
    assert error_type(send(stack, team, "still here?", "cmid-tok-0001")) in ("Forbidden", "Unauthorized")
    assert error_type(page(stack, team, "alice")) == "Forbidden"
    assert stack.invoke(conversations, "Query.conversations.first-page", "alice",
                        {"limit": 20})["items"] == []


def test_the_job_is_idempotent_and_resumable(stack: Stack, pool: str, events: Captured,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "DEPARTURES_PER_STEP", 1)  # a step per conversation
    feed = Stream()
    team = group(stack, [BOB, CAROL])
    other = group(stack, [CAROL])
    drain(feed)
    delete_account(stack)
    records = feed.read()
    assert consume(records) == {"batchItemFailures": []}
    again = feed.read()
    assert consume(records) == {"batchItemFailures": []}  # the same records, redelivered
    assert consume(again + again) == {"batchItemFailures": []}
    drain(feed)
    for cid in (team, other):
        systems = [m for m in page(stack, cid, "carol")["items"] if m["kind"] == "SYSTEM"
                   and m["body"].startswith("Deleted user left")]
        assert len(systems) == 1, cid
    # re-running is safe: Cognito's user is gone already, the job runs (and ends) again
    rerun = delete_account(stack, erase=True)
    assert (rerun["status"], rerun["eraseMessages"]) == ("RUNNING", True)
    drain(feed)
    assert items_of(stack, f"USER#{ALICE}")["DELETION"]["status"]["S"] == "DONE"
    # and an admin resumes a job whose Cognito user is gone
    assert admin_delete(stack, "root", ALICE)["userId"] == ALICE
    drain(feed)
    assert items_of(stack, f"USER#{ALICE}")["DELETION"]["status"]["S"] == "DONE"


def test_the_last_owner_hands_over_to_the_longest_standing_admin_else_member(
        stack: Stack, pool: str, events: Captured) -> None:
    feed = Stream()
    mallory = USERS["mallory"]
    with_admin = group(stack, [BOB, CAROL, mallory])
    assert "role" in call(stack, "setMemberRole", "alice", conversationId=with_admin,
                          userId=mallory, role="ADMIN")
    members_only = group(stack, [CAROL])
    assert call(stack, "addMembers", "alice", conversationId=members_only, userIds=[BOB])["memberCount"] == 3
    two_owners = group(stack, [BOB])
    call(stack, "setMemberRole", "alice", conversationId=two_owners, userId=BOB, role="OWNER")
    alone = new_conversation(stack, members=[CAROL], title="Alone")
    call(stack, "leaveConversation", "carol", conversationId=alone)
    drain(feed)
    delete_account(stack)
    drain(feed)

    def roles(cid: str, who: str) -> dict[str, str]:
        got = member_roles(stack, cid, who)
        assert stack.invoke(conversations, "Query.conversation.ok", who,
                            {"id": cid})["memberCount"] == len(got)
        return got

    assert roles(with_admin, "bob") == {BOB: "MEMBER", CAROL: "MEMBER", mallory: "OWNER"}
    assert roles(members_only, "bob") == {BOB: "MEMBER", CAROL: "OWNER"}  # carol joined first
    assert roles(two_owners, "bob") == {BOB: "OWNER"}
    assert page(stack, two_owners, "bob")["items"][0]["body"] == "Deleted user left"
    assert f"MEMBER#{ALICE}" not in items_of(stack, f"CONV#{alone}")


def test_admin_delete_user_denials_and_bad_input(stack: Stack, pool: str) -> None:
    before = items_of(stack, f"USER#{BOB}")
    assert error_type(admin_delete(stack, "alice", BOB)) == "Forbidden"
    assert error_type(admin_delete(stack, "mod", BOB)) == "Forbidden"  # moderators cannot
    assert error_type(admin_delete(stack, "root", "not-a-user-id")) == "BadRequest"
    assert error_type(admin_delete(stack, "root", BOB, erase="yes")) == "BadRequest"
    assert error_type(admin_delete(stack, "root", "99999999-9999-4999-8999-999999999999")) == "BadRequest"
    assert error_type(delete_account(stack, "bob", erase="yes")) == "BadRequest"
    assert error_type(delete_account(stack, "bob", erase=1)) == "BadRequest"
    assert items_of(stack, f"USER#{BOB}") == before  # nothing changed
    boto3.client("cognito-idp").admin_get_user(UserPoolId=pool, Username=BOB)  # still there
    job = admin_delete(stack, "root", BOB, erase=True)
    assert (job["userId"], job["eraseMessages"], job["status"]) == (BOB, True, "RUNNING")
    with pytest.raises(Exception, match="UserNotFoundException"):
        boto3.client("cognito-idp").admin_get_user(UserPoolId=pool, Username=BOB)


def test_delete_account_budget(stack: Stack, pool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the request: 2 DynamoDB (the user's partition, one transaction), 0 KMS, 2 Cognito
    (sign out, delete), 1 SNS DeleteEndpoint per device."""
    sns = boto3.client("sns")
    app_arn = sns.create_platform_application(Name="ios", Platform="APNS",
                                              Attributes={})["PlatformApplicationArn"]
    monkeypatch.setenv("PUSH_PLATFORM_APPLICATIONS", f"APNS={app_arn}")
    api.reset()
    for token in ("a" * 64, "b" * 64):
        assert stack.invoke(users, "Mutation.registerDevice.apns", "alice",
                            {"platform": "APNS", "token": token}, replace_args=True)["registered"]
    counter = stack.counter()
    others: list[str] = []
    for service in ("cognito-idp", "sns"):
        aws.client(service).meta.events.register(
            f"before-call.{service}", lambda model, **_: others.append(
                f"{model.service_model.service_name}.{model.name}"))
    assert delete_account(stack)["status"] == "RUNNING"
    assert counter.ops == ["dynamodb.Query", "dynamodb.TransactWriteItems"], counter.ops
    assert sorted(others) == ["cognito-idp.AdminDeleteUser", "cognito-idp.AdminUserGlobalSignOut",
                              "sns.DeleteEndpoint", "sns.DeleteEndpoint"], others
    assert sns.list_endpoints_by_platform_application(PlatformApplicationArn=app_arn)["Endpoints"] == []
    assert not any(sk.startswith("DEVICE#") for sk in items_of(stack, f"USER#{ALICE}"))


def test_a_rerun_racing_a_background_step_reads_again(stack: Stack, pool: str) -> None:
    assert delete_account(stack)["status"] == "RUNNING"
    store = api.service().store
    stale = store.account_state(ALICE)
    job = store.deletion_job(ALICE)
    assert job is not None and store.advance_job(job, None)  # a background step ran meanwhile
    assert store.advance_job(job, None) is False  # (that step, repeated, does nothing)
    before = items_of(stack, f"USER#{ALICE}")
    assert store.begin_deletion(stale, True, ALICE, "2030-01-01T00:00:00.000Z", must_exist=False) == "moved"
    assert items_of(stack, f"USER#{ALICE}") == before  # refused whole
    again = delete_account(stack, erase=True)  # the service reads again and restarts the job
    assert (again["status"], again["eraseMessages"]) == ("RUNNING", True)
    assert int(items_of(stack, f"USER#{ALICE}")["DELETION"]["jobStep"]["N"]) == job.step + 2


def test_a_deleted_users_token_registers_no_device(stack: Stack, pool: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sns = boto3.client("sns")
    app_arn = sns.create_platform_application(Name="ios", Platform="APNS",
                                              Attributes={})["PlatformApplicationArn"]
    monkeypatch.setenv("PUSH_PLATFORM_APPLICATIONS", f"APNS={app_arn}")
    api.reset()
    delete_account(stack)
    got = stack.invoke(users, "Mutation.registerDevice.apns", "alice",
                       {"platform": "APNS", "token": "c" * 64}, replace_args=True)
    assert error_type(got) == "Unauthorized"
    assert sns.list_endpoints_by_platform_application(PlatformApplicationArn=app_arn)["Endpoints"] == []
    assert not any(sk.startswith("DEVICE#") for sk in items_of(stack, f"USER#{ALICE}"))
    # (a live account still registers: the check is of the deleted marker only)
    assert stack.invoke(users, "Mutation.registerDevice.apns", "bob",
                        {"platform": "APNS", "token": "d" * 64}, replace_args=True)["registered"]


def test_a_membership_the_index_does_not_list_yet_is_still_left(
        stack: Stack, pool: str, events: Captured, monkeypatch: pytest.MonkeyPatch) -> None:
    """GSI1 lags the table: a conversation joined moments before the deletion may not be
    listed when the job's first step runs. The job waits for the index (GSI_SETTLE_S since
    it began) before it concludes that no membership is left."""
    from cloudchat_local.moto import gsi_lag
    from tests.integration.test_gsi_consistency import Clock

    clock = Clock()
    gsi_lag(30.0, clock)
    try:
        feed = Stream()
        team = group(stack, [BOB])  # within the lag: the index does not list it yet
        send(stack, team, "secret", "cmid-lag-0001")
        assert not [m for m in api.service().store.memberships(ALICE, 10, None)[0]
                    if m.conversation_id == team]
        waited: list[float] = []

        def sleep(seconds: float) -> None:
            waited.append(seconds)
            clock.settle()  # the index catches up while the step waits

        monkeypatch.setattr(accounts.AccountsService, "sleep", staticmethod(sleep))
        delete_account(stack, erase=True)
        drain(feed)
        assert waited and all(0 < s <= accounts.GSI_SETTLE_S for s in waited)
        assert f"MEMBER#{ALICE}" not in items_of(stack, f"CONV#{team}")
        shown = page(stack, team, "bob")["items"]
        assert shown[0]["body"] == "Deleted user left; Bob is now an owner"
        mine = [m for m in shown if m["senderId"] == ALICE and m["kind"] == "TEXT"]
        assert [(m["body"], m["erased"]) for m in mine] == [(None, True)]
        assert items_of(stack, f"USER#{ALICE}")["DELETION"]["status"]["S"] == "DONE"
    finally:
        gsi_lag(0)
