"""cloudchat.notices: the notifier's one decision (channels) and the e-mail notice's text."""

from __future__ import annotations

from cloudchat.models import Member, MessageKind, NotificationSettings, Role, StoredMessage
from cloudchat.notices import NOTHING, Channels, channels, email_notice, may_notify

NOW = "2026-06-01T12:00:00.000Z"
MESSAGE = StoredMessage(conversation_id="c", seq=2, id="m", sender_id="alice", kind=MessageKind.TEXT,
                        created_at=NOW, sealed=None)


def member(muted_until: str | None = None) -> Member:
    return Member(conversation_id="c", user_id="bob", role=Role.MEMBER, joined_at=NOW,
                  muted_until=muted_until)


def test_defaults_are_push_only() -> None:
    assert channels(MESSAGE, member(), NotificationSettings(), now=NOW, email_enabled=True) == \
        Channels(push=True, email=None)


def test_email_goes_to_the_recorded_address_only_when_on_and_the_deployment_sends_mail() -> None:
    on = NotificationSettings(email=True, push=False, email_address="bob@example.com")
    assert channels(MESSAGE, member(), on, now=NOW, email_enabled=True) == \
        Channels(push=False, email="bob@example.com")
    assert channels(MESSAGE, member(), on, now=NOW, email_enabled=False) == NOTHING
    assert not channels(MESSAGE, member(), NotificationSettings(email=True, push=False),
                        now=NOW, email_enabled=True)  # on, but no verified address recorded


def test_a_mute_silences_every_channel_until_it_runs_out() -> None:
    on = NotificationSettings(email=True, push=True, email_address="bob@example.com")
    assert channels(MESSAGE, member("2999-01-01T00:00:00.000Z"), on, now=NOW,
                    email_enabled=True) == NOTHING
    assert channels(MESSAGE, member("2026-01-01T00:00:00.000Z"), on, now=NOW, email_enabled=True)
    # the part that needs nothing read, applied before presence and settings are
    assert not may_notify(MESSAGE, member("2999-01-01T00:00:00.000Z"), now=NOW)
    assert may_notify(MESSAGE, member(), now=NOW)


def test_the_notice_names_who_and_where_never_what_unless_asked() -> None:
    subject, body = email_notice("Alice", "Launch", "the code is 4711", include_text=False)
    assert subject == "Alice sent a message in Launch" and "4711" not in body
    assert "Launch" in body and "--email off" in body
    _, quoted = email_notice("Alice", None, "the code is 4711", include_text=True)
    assert "the code is 4711" in quoted and "sent you a new message" in quoted


def test_names_and_titles_cannot_break_the_subject_line() -> None:
    subject, _ = email_notice("Eve\r\nBcc: x@example.com", "t\u0000itle", None, include_text=False)
    assert "\r" not in subject and "\n" not in subject and "\u0000" not in subject
    assert subject == "Eve Bcc: x@example.com sent a message in t itle"
