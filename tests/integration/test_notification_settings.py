"""Notification settings (me.notificationSettings, updateNotificationSettings) and e-mail
notices: who gets a mail through SES (moto), and the requests each costs."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from cloudchat import api
from resolvers import conversations, users
from tests.integration.conftest import USERS, Stack, error_type
from tests.integration.test_fanout import STREAMED, Stream, consume
from tests.integration.test_messages import new_conversation, send

SENDER = "notices@cloudchat.example.com"
BOB, CAROL = USERS["bob"], USERS["carol"]
UPDATE = "Mutation.updateNotificationSettings.ok"
ME = "Query.me.with-notification-settings"
#: carol's address is not verified (Cognito email_verified false)
VERIFIED = {"alice": True, "bob": True, "carol": False, "mallory": True}


@pytest.fixture
def mail(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A user pool with the test users (carol unverified), a verified SES sender, and the
    functions configured with both."""
    idp = boto3.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="cloudchat-test")["UserPool"]["Id"]
    for who, verified in VERIFIED.items():
        idp.admin_create_user(UserPoolId=pool, Username=USERS[who], MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": f"{who}@example.com"},
                                              {"Name": "email_verified",
                                               "Value": "true" if verified else "false"}])
    boto3.client("ses").verify_email_identity(EmailAddress=SENDER)
    monkeypatch.setenv("USER_POOL_ID", pool)
    monkeypatch.setenv("NOTICE_SENDER", SENDER)
    api.reset()
    yield
    api.reset()


def update(stack: Stack, who: str, **args: Any) -> Any:
    return stack.invoke(users, UPDATE, who, args, replace_args=True)


def mails() -> list[tuple[list[str], str, str]]:
    from moto.ses.models import ses_backends

    backend = ses_backends["123456789012"]["us-east-1"]
    return [(m.destinations["ToAddresses"], m.subject, m.body) for m in backend.sent_messages]


def test_settings_round_trip_and_defaults(stack: Stack, mail: None) -> None:
    me = stack.invoke(users, ME, "bob")
    assert me["notificationSettings"] == {
        "email": False, "push": True, "emailAddress": None, "emailAvailable": True,
        "emailIncludesText": False, "updatedAt": None}
    on = update(stack, "bob", email=True)
    assert (on["email"], on["push"], on["emailAddress"]) == (True, True, "bob@example.com")
    assert on["updatedAt"]
    push_off = update(stack, "bob", push=False)
    assert push_off == {**on, "push": False, "updatedAt": push_off["updatedAt"]}  # email kept
    assert stack.invoke(users, ME, "bob")["notificationSettings"] == push_off
    off = update(stack, "bob", email=False, push=True)
    assert (off["email"], off["push"], off["emailAddress"]) == (False, True, None)
    # only your own: alice sees her defaults, never bob's
    assert stack.invoke(users, ME, "alice")["notificationSettings"]["email"] is False
    # other users' profiles carry no settings
    listed = stack.invoke(users, "Query.usersByIds.ok", "alice", {"ids": [BOB]}, replace_args=True)
    assert "notificationSettings" not in listed[0] or listed[0]["notificationSettings"] is None


def test_bad_input_changes_nothing(stack: Stack, mail: None) -> None:
    before = stack.raw_items()
    for args in ({}, {"email": None, "push": None}, {"email": "yes"}, {"push": 1},
                 {"email": [True]}):
        assert error_type(update(stack, "alice", **args)) == "BadRequest", args
    # an unverified address gets no mail: refused, nothing written
    refused = update(stack, "carol", email=True, push=False)
    assert error_type(refused) == "BadRequest"
    assert refused["error"]["info"] == {"reason": "EMAIL_NOT_VERIFIED"}
    assert stack.raw_items() == before
    assert error_type(stack.invoke(users, UPDATE, "", {"email": True}, replace_args=True)) \
        == "Unauthorized"


def test_email_needs_a_configured_sender(stack: Stack, mail: None,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTICE_SENDER")
    api.reset()
    before = stack.raw_items()
    refused = update(stack, "bob", email=True)
    assert error_type(refused) == "BadRequest"
    assert refused["error"]["info"] == {"reason": "EMAIL_NOT_CONFIGURED"}
    assert stack.raw_items() == before
    assert update(stack, "bob", push=False)["emailAvailable"] is False  # push still works


def test_update_budget(stack: Stack, mail: None) -> None:
    """push only: one UpdateItem. e-mail on: AdminGetUser (is the address verified?) and one
    UpdateItem. me (with its settings, selected or not): one BatchGetItem."""
    stack.invoke(users, ME, "bob")  # (the profile exists; a warm container)
    counter = stack.counter()
    idp = []
    api.aws.client("cognito-idp").meta.events.register(
        "before-call.cognito-identity-provider", lambda model, **_: idp.append(model.name))
    update(stack, "bob", push=False)
    assert (counter.ops, idp) == (["dynamodb.UpdateItem"], [])
    counter.reset()
    update(stack, "bob", email=True)
    assert (counter.ops, idp) == (["dynamodb.UpdateItem"], ["AdminGetUser"])
    counter.reset()
    stack.invoke(users, ME, "bob")
    assert counter.ops == ["dynamodb.BatchGetItem"]
    counter.reset()
    assert stack.invoke(users, "Query.me.ok", "bob")["notificationSettings"]["email"] is True
    assert counter.ops == ["dynamodb.BatchGetItem"]


def _mute(stack: Stack, who: str, cid: str) -> None:
    stack.invoke(conversations, "Mutation.muteConversation.ok", who,
                 {"conversationId": cid, "until": "2999-01-01T00:00:00Z"}, replace_args=True)


@STREAMED
def test_offline_member_with_email_on_gets_a_notice_without_the_text(
        stack: Stack, mail: None) -> None:
    s = Stream()
    update(stack, "bob", email=True)
    cid = new_conversation(stack, members=[BOB, CAROL], title="launch")
    send(stack, cid, "the secret plan", "cmid-mail-0001")
    send(stack, cid, "second", "cmid-mail-0002")  # within the window: one notice
    consume(s.read())
    sent = mails()
    assert [(to, subject) for to, subject, _ in sent] == [
        (["bob@example.com"], "Alice sent a message in launch")]
    body = sent[0][2]
    assert "Alice" in body and "launch" in body and "secret" not in body
    assert "cloudchat notifications --email off" in body


@STREAMED
def test_who_gets_mail(stack: Stack, mail: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Email off: none. Muted: none. Online: none. The text only when configured."""
    s = Stream()
    update(stack, "bob", email=True)
    a = new_conversation(stack, members=[BOB], title="muted")
    _mute(stack, "bob", a)
    send(stack, a, "psst", "cmid-mail-0101")
    consume(s.read())
    assert mails() == []  # muted
    update(stack, "bob", email=False)
    b = new_conversation(stack, members=[BOB], title="off")
    send(stack, b, "hello", "cmid-mail-0102")
    consume(s.read())
    assert mails() == []  # e-mail off
    update(stack, "bob", email=True)
    stack.invoke(users, "Mutation.heartbeat.ok", "bob")  # online
    c = new_conversation(stack, members=[BOB], title="online")
    send(stack, c, "hi", "cmid-mail-0103")
    consume(s.read())
    assert mails() == []


@STREAMED
def test_the_text_is_quoted_only_when_the_deployment_says_so(
        stack: Stack, mail: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTICE_INCLUDES_TEXT", "true")
    api.reset()
    s = Stream()
    update(stack, "bob", email=True)
    cid = new_conversation(stack, members=[BOB])
    send(stack, cid, "lunch at noon?", "cmid-mail-0201")
    consume(s.read())
    [(to, subject, body)] = mails()
    assert (to, subject) == (["bob@example.com"], "Alice sent you a message")
    assert "lunch at noon?" in body


@STREAMED
def test_a_mail_ses_refuses_is_skipped_not_retried(stack: Stack, mail: None,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """SES refusing one message for good (MessageRejected: here the sender's verification was
    withdrawn) is logged and skipped: the batch succeeds, and the push/topic path is unharmed."""
    s = Stream()
    update(stack, "bob", email=True)
    boto3.client("ses").delete_identity(Identity=SENDER)
    cid = new_conversation(stack, members=[BOB], title="refused")
    send(stack, cid, "hello", "cmid-mail-0301")
    assert consume(s.read()) == {"batchItemFailures": []}
    assert mails() == []
    assert any("refused by SES (MessageRejected)" in r.getMessage() for r in caplog.records)


class Recorder:
    """A notifier that records who was notified, on which devices, and to which address."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], str | None]] = []

    def notify(self, user_id: str, subject: str, text: str, data: dict[str, Any],
               devices: list[str], email: Any = None) -> None:
        self.calls.append((user_id, devices, email.to if email else None))


@STREAMED
def test_each_channel_follows_its_setting(stack: Stack, mail: None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from resolvers import stream

    recorder = Recorder()
    monkeypatch.setattr(stream, "_notifier", lambda: recorder)
    device = "arn:aws:sns:us-east-1:123456789012:endpoint/APNS/cloudchat/bob"
    api.service().store.put_device(BOB, device, "APNS", "2026-01-01T00:00:00.000Z")
    s = Stream()

    def notified(title: str) -> list[tuple[str, list[str], str | None]]:
        recorder.calls.clear()
        cid = new_conversation(stack, members=[BOB], title=title)
        send(stack, cid, "hi", f"cmid-chan-{title}")
        consume(s.read())
        return recorder.calls

    assert notified("defaults") == [(BOB, [device], None)]  # push on, e-mail off
    update(stack, "bob", email=True, push=False)
    assert notified("mail-only") == [(BOB, [], "bob@example.com")]
    update(stack, "bob", email=False)
    assert notified("nothing") == []  # no channel: not even claimed


def _mention(stack: Stack, cid: str, body: str, cmid: str) -> None:
    from resolvers import messages

    sent = stack.invoke(messages, "Mutation.sendMessage.ok", "alice", {"input": {
        "conversationId": cid, "body": body, "clientMessageId": cmid, "mentions": [BOB]}})
    assert sent["mentions"] == [BOB], sent


@STREAMED
def test_a_mention_reaches_a_muted_member_by_mail_and_only_by_the_channels_they_chose(
        stack: Stack, mail: None) -> None:
    """A mention overrides the mute (issue 14) on the channels the member turned on: with
    e-mail on, a muted, offline member mentioned gets a mention notice by mail (no text);
    with e-mail off, none."""
    s = Stream()
    update(stack, "bob", email=True)
    cid = new_conversation(stack, members=[BOB, CAROL], title="ops")
    _mute(stack, "bob", cid)
    _mention(stack, cid, "the secret rollout", "cmid-mail-0301")
    consume(s.read())
    sent = mails()
    assert [(to, subject) for to, subject, _ in sent] == [
        (["bob@example.com"], "Alice mentioned you in ops")]
    assert "secret" not in sent[0][2]
    update(stack, "bob", email=False)
    _mention(stack, cid, "again", "cmid-mail-0302")
    consume(s.read())
    assert len(mails()) == 1  # e-mail off: no new mail
