"""E-mail notices through the local stack, with real gql clients: settings round trip, and
the mails the stream consumer sends through SES (moto), read back from the emulator's
``GET /_emulator/mails``. alice writes; bob (offline) is the one under test; carol (offline,
e-mail on) is the witness whose mail says the consumer has handled a message, so "bob got
nothing" is checked after the fact, not after a sleep."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

from .conftest import DevStack, run

pytestmark = pytest.mark.e2e

SETTINGS = "email push emailAddress emailAvailable emailIncludesText updatedAt"
UPDATE = f"mutation($e: Boolean, $p: Boolean) {{ updateNotificationSettings(email: $e, push: $p) {{ {SETTINGS} }} }}"
MAIL_TIMEOUT_S = 20.0


def mails(stack: DevStack, to: str) -> list[dict[str, Any]]:
    base = stack.url.rsplit("/graphql", 1)[0]
    with urllib.request.urlopen(f"{base}/_emulator/mails?{urllib.parse.urlencode({'to': to})}",
                                timeout=10) as resp:
        return list(json.load(resp)["mails"])


def about(stack: DevStack, to: str, title: str) -> list[dict[str, Any]]:
    """The mails to ``to`` about the conversation titled ``title`` (the demo conversation's
    own messages notify too)."""
    return [m for m in mails(stack, to) if m["subject"].endswith(f" in {title}")]


def wait_for_mail(stack: DevStack, to: str, title: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + MAIL_TIMEOUT_S
    while True:
        got = about(stack, to, title)
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail to {to} about {title}:\n{stack.log()[-3000:]}")
        time.sleep(0.2)


def address(stack: DevStack, name: str) -> str:
    return str(stack.user(name)["username"])


def new_group(stack: DevStack, title: str) -> str:
    sub = lambda n: stack.user(n)["sub"]
    made = run(stack.execute(stack.token("alice"),
                             "mutation($i: CreateConversationInput!) { createConversation(input: $i) { id } }",
                             {"i": {"memberIds": [sub("bob"), sub("carol")], "title": title}}))
    return str(made["createConversation"]["id"])


def say(stack: DevStack, cid: str, body: str) -> None:
    run(stack.execute(stack.token("alice"),
                      "mutation($i: SendMessageInput!) { sendMessage(input: $i) { id } }",
                      {"i": {"conversationId": cid, "body": body,
                             "clientMessageId": f"notice-{time.monotonic_ns()}"}}))


def test_settings_round_trip(stack: DevStack) -> None:
    token = stack.token("carol")
    me = run(stack.execute(token, f"{{ me {{ id notificationSettings {{ {SETTINGS} }} }} }}"))
    assert me["me"]["notificationSettings"] == {
        "email": False, "push": True, "emailAddress": None, "emailAvailable": True,
        "emailIncludesText": False, "updatedAt": None}
    on = run(stack.execute(token, UPDATE, {"e": True}))["updateNotificationSettings"]
    assert (on["email"], on["push"], on["emailAddress"]) == (True, True, address(stack, "carol"))
    again = run(stack.execute(token, f"{{ me {{ notificationSettings {{ {SETTINGS} }} }} }}"))
    assert again["me"]["notificationSettings"] == on
    # aliased, and through a named fragment: the same answer
    aliased = run(stack.execute(token, "query { me { ...Mine } } fragment Mine on User "
                                       "{ mine: notificationSettings { email emailAddress } }"))
    assert aliased["me"]["mine"] == {"email": True, "emailAddress": address(stack, "carol")}


def test_offline_member_gets_a_notice_mail_without_the_text_and_none_when_off_or_muted(
        stack: DevStack) -> None:
    bob, carol = address(stack, "bob"), address(stack, "carol")
    for name in ("bob", "carol"):
        run(stack.execute(stack.token(name), UPDATE, {"e": True}))

    # e-mail on, offline: a notice, without the message text
    first = new_group(stack, "Launch plans")
    say(stack, first, "the launch code is 4711")
    [notice] = wait_for_mail(stack, bob, "Launch plans")
    assert notice["subject"].lower() == "alice sent a message in launch plans"
    assert notice["from"] == "notices@cloudchat.example.com" and notice["to"] == [bob]
    assert "4711" not in notice["body"] and "launch code" not in notice["body"]
    assert "cloudchat notifications --email off" in notice["body"]
    wait_for_mail(stack, carol, "Launch plans")

    # e-mail off: none (carol's mail says the consumer has handled the message)
    run(stack.execute(stack.token("bob"), UPDATE, {"e": False}))
    second = new_group(stack, "Second")
    say(stack, second, "anyone?")
    wait_for_mail(stack, carol, "Second")
    assert about(stack, bob, "Second") == []

    # e-mail on again, but the conversation muted: none
    run(stack.execute(stack.token("bob"), UPDATE, {"e": True}))
    third = new_group(stack, "Muted")
    run(stack.execute(stack.token("bob"),
                      "mutation($c: ID!) { muteConversation(conversationId: $c, until: \"2999-01-01T00:00:00Z\") { mutedUntil } }",
                      {"c": third}))
    say(stack, third, "psst")
    wait_for_mail(stack, carol, "Muted")
    assert about(stack, bob, "Muted") == []


def test_unverified_address_is_refused(stack: DevStack) -> None:
    """A user whose address Cognito has not verified cannot turn e-mail on."""
    import boto3

    from ._matrix import PASSWORD, sign_in

    idp = boto3.client("cognito-idp", endpoint_url=stack.outputs["CognitoEndpoint"],
                       region_name=stack.outputs["Region"], aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    pool, email = stack.outputs["UserPoolId"], f"unverified-{time.monotonic_ns()}@example.com"
    idp.admin_create_user(UserPoolId=pool, Username=email, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": email},
                                          {"Name": "email_verified", "Value": "false"}])
    idp.admin_set_user_password(UserPoolId=pool, Username=email, Password=PASSWORD,
                                Permanent=True)
    token = sign_in(stack, email)
    from gql.transport.exceptions import TransportQueryError

    with pytest.raises(TransportQueryError) as refused:
        run(stack.execute(token, UPDATE, {"e": True}))
    error = refused.value.errors[0] if refused.value.errors else {}
    assert error.get("errorType") == "BadRequest", refused.value
    me = run(stack.execute(token, f"{{ me {{ notificationSettings {{ {SETTINGS} }} }} }}"))
    assert me["me"]["notificationSettings"]["email"] is False


def test_the_client_librarys_typed_methods(stack: DevStack) -> None:
    from cloudchat_client import BadRequest, CloudChat

    async def go() -> None:
        async with CloudChat.from_outputs(stack.outputs_path) as chat:
            await chat.sign_in("mod", stack.user("mod")["password"])
            changed = await chat.update_notification_settings(push=False)
            assert (changed["push"], changed["email"], changed["emailAvailable"]) == (False, False, True)
            assert await chat.notification_settings() == changed
            assert (await chat.me())["notificationSettings"] == changed
            with pytest.raises(BadRequest):
                await chat.update_notification_settings()  # nothing to change
            on = await chat.update_notification_settings(email=True, push=True)
            assert (on["email"], on["push"], on["emailAddress"]) == (
                True, True, stack.user("mod")["username"])

    run(go())
