"""Users: profiles (trigger and first-request fallback), the directory, presence, and the
own-channel rule of onUserEvent."""

import json

from resolvers import cognito, users
from tests.integration.conftest import EVENTS, USERS, LambdaContext, Stack, error_type
from tests.integration.test_messages import new_conversation


def test_post_confirmation_trigger_creates_the_profile(stack: Stack) -> None:
    event = json.loads((EVENTS / "Cognito.PostConfirmation.confirm-sign-up.json").read_text())
    assert cognito.lambda_handler(event, LambdaContext()) == event
    assert cognito.lambda_handler(event, LambdaContext()) == event  # idempotent
    found = stack.invoke(users, "Query.users.prefix", "alice", {"query": "dana"})["items"]
    assert [(u["displayName"], u["email"]) for u in found] == [("Dana Scully", None)]
    by_email = stack.invoke(users, "Query.users.prefix", "alice", {"query": "dana@ex"})["items"]
    assert [u["id"] for u in by_email] == ["55f1c9a0-1111-4111-8111-999999999999"]


def test_update_profile_and_directory_order(stack: Stack) -> None:
    me = stack.invoke(users, "Mutation.updateProfile.ok", "alice", {"displayName": "  Zed   Alice "})
    assert me["displayName"] == "Zed Alice" and me["email"] == "alice@example.com"
    names = [u["displayName"] for u in
             stack.invoke(users, "Query.users.prefix", "bob", {"query": None, "limit": 50})["items"]]
    assert names == sorted(names, key=str.casefold) and "Zed Alice" in names
    assert stack.invoke(users, "Query.users.prefix", "bob", {"query": "alice"})["items"] == []
    avatar = stack.invoke(users, "Mutation.updateProfile.ok", "alice",
                          {"displayName": None, "avatarKey": f"avatars/{USERS['alice']}/me.png"})
    assert avatar["avatarKey"] == f"avatars/{USERS['alice']}/me.png"


def test_profile_rules(stack: Stack) -> None:
    before = stack.raw_items()
    for args in ({"displayName": ""}, {"displayName": "x" * 65}, {"displayName": None},
                 {"displayName": None, "avatarKey": f"avatars/{USERS['bob']}/me.png"},
                 {"displayName": None, "avatarKey": "../etc/passwd"}):
        assert error_type(stack.invoke(users, "Mutation.updateProfile.ok", "alice", args,
                                       replace_args=True)) == "BadRequest", args
    assert stack.raw_items() == before


def test_directory_paginates(stack: Stack) -> None:
    first = stack.invoke(users, "Query.users.prefix", "alice", {"query": "", "limit": 2})
    assert len(first["items"]) == 2 and first["nextToken"]
    seen = [u["id"] for u in first["items"]]
    token = first["nextToken"]
    while token:
        page = stack.invoke(users, "Query.users.prefix", "alice", {"query": "", "limit": 2, "nextToken": token})
        assert page["items"]
        seen += [u["id"] for u in page["items"]]
        token = page["nextToken"]
    assert sorted(seen) == sorted(USERS.values())
    bad = stack.invoke(users, "Query.users.prefix", "bob", {"query": "", "limit": 2,
                                                            "nextToken": first["nextToken"]})
    assert error_type(bad) == "BadRequest"
    assert error_type(stack.invoke(users, "Query.users.prefix", "bob", {"query": "x" * 65})) == "BadRequest"


def test_presence_for_contacts_only(stack: Stack) -> None:
    new_conversation(stack, members=[USERS["bob"]])
    beat = stack.invoke(users, "Mutation.heartbeat.ok", "bob")
    assert beat["online"] is True and beat["userId"] == USERS["bob"]
    got = stack.invoke(users, "Query.presence.ok", "alice", {"userIds": [USERS["bob"]]})
    assert got == [{"userId": USERS["bob"], "online": True, "lastSeen": beat["lastSeen"]}]
    quiet = stack.invoke(users, "Query.presence.ok", "bob", {"userIds": [USERS["alice"]]})
    assert quiet == [{"userId": USERS["alice"], "online": False, "lastSeen": None}]
    stranger = stack.invoke(users, "Query.presence.ok", "alice", {"userIds": [USERS["carol"]]})
    assert error_type(stranger) == "Forbidden"
    assert error_type(stack.invoke(users, "Query.presence.ok", "alice", {"userIds": []})) == "BadRequest"


def test_user_events_are_for_their_owner_only(stack: Stack) -> None:
    assert stack.invoke(users, "Subscription.onUserEvent.own", "alice",
                        {"userId": USERS["alice"]}) is None
    other = stack.invoke(users, "Subscription.onUserEvent.own", "mallory", {"userId": USERS["alice"]})
    assert error_type(other) == "Forbidden"


def test_register_device_creates_an_sns_endpoint(stack: Stack, monkeypatch) -> None:
    import boto3

    from cloudchat import api

    register = lambda **a: stack.invoke(users, "Mutation.registerDevice.apns", "alice", a,
                                        replace_args=True)
    token = "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad"
    assert error_type(register(platform="APNS", token=token)) == "BadRequest"  # not configured
    sns = boto3.client("sns")
    app_arn = sns.create_platform_application(Name="ios", Platform="APNS",
                                              Attributes={})["PlatformApplicationArn"]
    monkeypatch.setenv("PUSH_PLATFORM_APPLICATIONS", f"APNS={app_arn}")
    api.reset()
    assert register(platform="APNS", token=token) == {"platform": "APNS", "registered": True}
    endpoints = sns.list_endpoints_by_platform_application(PlatformApplicationArn=app_arn)["Endpoints"]
    assert len(endpoints) == 1 and endpoints[0]["Attributes"]["Token"] == token
    assert error_type(register(platform="WINDOWS", token=token)) == "BadRequest"
    assert error_type(register(platform="APNS", token="short")) == "BadRequest"


def test_admins_create_users(stack: Stack, monkeypatch) -> None:
    import boto3

    from cloudchat import api

    create = lambda who, **a: stack.invoke(users, "Mutation.adminCreateUser.admin", who, a,
                                           replace_args=True)
    cognito = boto3.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="p", UsernameAttributes=["email"])["UserPool"]["Id"]
    monkeypatch.setenv("USER_POOL_ID", pool)
    api.reset()
    assert error_type(create("mod", email="erin@example.com")) == "Forbidden"  # moderators cannot
    assert error_type(create("alice", email="erin@example.com")) == "Forbidden"
    erin = create("root", email="erin@example.com", displayName="Erin")
    assert erin["displayName"] == "Erin" and erin["email"] == "erin@example.com"
    listed = cognito.admin_get_user(UserPoolId=pool, Username="erin@example.com")
    assert listed["UserStatus"] == "FORCE_CHANGE_PASSWORD"  # invited
    found = stack.invoke(users, "Query.users.prefix", "alice", {"query": "erin"})["items"]
    assert [u["id"] for u in found] == [erin["id"]]
    assert error_type(create("root", email="erin@example.com")) == "Conflict"
    assert error_type(create("root", email="not-an-email")) == "BadRequest"


def test_users_by_ids_resolves_names_in_one_request(stack: Stack) -> None:
    """Clients resolve member and sender ids to names with one call (one BatchGetItem), in
    the order asked; unknown ids are left out; emails stay private to their owner."""
    ids = [USERS["bob"], USERS["alice"], "99999999-9999-4999-8999-999999999999", USERS["bob"]]
    counter = stack.counter()
    got = stack.invoke(users, "Query.usersByIds.ok", "alice", {"ids": ids})
    assert counter.ops == ["dynamodb.BatchGetItem"]
    assert [(u["id"], u["displayName"], u["email"]) for u in got] == [
        (USERS["bob"], "Bob", None), (USERS["alice"], "Alice", "alice@example.com")]


def test_users_by_ids_rules(stack: Stack) -> None:
    for ids in ([], [f"{i:08d}-9999-4999-8999-999999999999" for i in range(101)], ["not an id"], None):
        assert error_type(stack.invoke(users, "Query.usersByIds.ok", "alice", {"ids": ids})) == "BadRequest", ids
