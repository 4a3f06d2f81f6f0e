"""verify's temporary users: strong random passwords, and a cleanup that deletes every user it
created and names those it could not delete (a fake Cognito admin client; no network)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloudchat_cli.verify_users import TempUsers, new_password, run_prefix
from cloudchat_client import Endpoint

ENDPOINT = Endpoint(graphql_url="https://x.appsync-api.eu-west-1.amazonaws.com/graphql",
                    realtime_url="wss://x.appsync-realtime-api.eu-west-1.amazonaws.com/graphql",
                    user_pool_id="eu-west-1_Pool", client_id="client", region="eu-west-1")


class FakeAdmin:
    def __init__(self, refuse_delete: frozenset[str] = frozenset(), fail_password: bool = False) -> None:
        self.users: dict[str, str | None] = {}
        self.refuse_delete = refuse_delete
        self.fail_password = fail_password

    def admin_create_user(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["MessageAction"] == "SUPPRESS"
        assert {"Name": "email_verified", "Value": "true"} in kwargs["UserAttributes"]
        self.users[kwargs["Username"]] = None
        return {"User": {"Username": kwargs["Username"]}}

    def admin_set_user_password(self, **kwargs: Any) -> None:
        if self.fail_password:
            raise ClientError({"Error": {"Code": "InvalidPasswordException", "Message": "no"}},
                              "AdminSetUserPassword")
        assert kwargs["Permanent"] is True
        self.users[kwargs["Username"]] = kwargs["Password"]

    def admin_delete_user(self, **kwargs: Any) -> None:
        name = kwargs["Username"]
        if name in self.refuse_delete:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "AdminDeleteUser")
        if name not in self.users:
            raise ClientError({"Error": {"Code": "UserNotFoundException", "Message": "gone"}}, "AdminDeleteUser")
        del self.users[name]


def test_passwords_are_random_and_meet_any_cognito_policy() -> None:
    passwords = {new_password() for _ in range(200)}
    assert len(passwords) == 200
    for p in passwords:
        assert len(p) >= 12 and re.search("[A-Z]", p) and re.search("[a-z]", p) and re.search("[0-9]", p)
        assert re.search(r"[^A-Za-z0-9]", p)


def test_the_run_prefix_is_unique_and_sortable() -> None:
    a, b = run_prefix(), run_prefix()
    assert a != b and re.fullmatch(r"ccverify-\d{14}-[0-9a-f]{6}", a)


def test_every_created_user_is_deleted() -> None:
    admin = FakeAdmin()
    users = TempUsers(ENDPOINT, "ccverify-x", admin=lambda: admin)
    for label in "abc":
        users.create(label)
    assert sorted(admin.users) == [f"ccverify-x-{label}@example.com" for label in "abc"]
    assert users.delete() == [] and admin.users == {}


def test_a_user_whose_password_could_not_be_set_is_still_deleted() -> None:
    admin = FakeAdmin(fail_password=True)
    users = TempUsers(ENDPOINT, "ccverify-x", admin=lambda: admin)
    with pytest.raises(ClientError):
        users.create("a")
    assert users.delete() == [] and admin.users == {}


def test_users_that_cannot_be_deleted_are_named() -> None:
    admin = FakeAdmin(refuse_delete=frozenset({"ccverify-x-b@example.com"}))
    users = TempUsers(ENDPOINT, "ccverify-x", admin=lambda: admin)
    for label in "abc":
        users.create(label)
    assert users.delete() == ["ccverify-x-b@example.com"]
    assert list(admin.users) == ["ccverify-x-b@example.com"]
