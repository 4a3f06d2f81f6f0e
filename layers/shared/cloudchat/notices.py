"""Who hears of a new message, and how: the notifier's one decision, and what an e-mail
notice says.

:func:`channels` is the single rule the stream consumer (:mod:`cloudchat.fanout`) applies to
each member it may notify of a message: a member who sees it, is not its sender, is offline
and was not notified of the conversation within the window. :func:`may_notify` is its part
that needs nothing read (the mute), which the consumer also applies first, so it reads no
presence or settings of members who will not be notified anyway. Extend these two here (a
mention that overrides a mute, a blocked sender who may not notify) and nowhere else.

An e-mail notice says who wrote and where, never what, unless the deployment opts in
(``NoticeIncludesText``): mail leaves AWS, and mailboxes are kept, forwarded and indexed.
"""

from __future__ import annotations

from cloudchat.dataclass import dataclass
from cloudchat.models import Member, NotificationSettings, StoredMessage


@dataclass(frozen=True)
class Channels:
    """Where a notification goes: mobile push (the member's devices), and e-mail (the
    verified address, or None)."""

    push: bool = False
    email: str | None = None

    def __bool__(self) -> bool:
        return self.push or self.email is not None


NOTHING = Channels()


def may_notify(message: StoredMessage, member: Member, *, now: str,
               mention: bool = False) -> bool:
    """Whether ``member`` may hear of ``message`` at all (``now``: an ISO time): not while
    they have muted the conversation, unless the message mentions them (``mention``: a
    mention reaches a muted member, :mod:`cloudchat.fanout_mentions`)."""
    del message  # (what a rule about the message itself would look at)
    return mention or not (member.muted_until and member.muted_until > now)


def channels(message: StoredMessage, member: Member, settings: NotificationSettings, *,
             now: str, email_enabled: bool, mention: bool = False) -> Channels:
    """How ``member`` hears of ``message`` (``email_enabled``: the deployment sends e-mail
    notices; ``mention``: it mentions them): nothing unless :func:`may_notify`; else each
    channel the member turned on, e-mail only to the address verified when it was turned on."""
    if not may_notify(message, member, now=now, mention=mention):
        return NOTHING
    email = settings.email_address if email_enabled and settings.email else None
    return Channels(push=settings.push, email=email or None)


def _clean(text: str) -> str:
    """One line: no control characters (a subject or a quoted name in a mail header)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def email_notice(sender: str, title: str | None, preview: str | None,
                 include_text: bool, *, mention: bool = False) -> tuple[str, str]:
    """The subject and plain-text body of an e-mail notice of a new message (``mention``:
    one that mentions the recipient)."""
    sender, where = _clean(sender) or "Someone", _clean(title or "")
    if mention:
        subject = f"{sender} mentioned you in {where}" if where else f"{sender} mentioned you"
        lines = [f"{sender} mentioned you in \u201c{where}\u201d." if where
                 else f"{sender} mentioned you in a message.", ""]
    else:
        subject = (f"{sender} sent a message in {where}" if where
                   else f"{sender} sent you a message")
        lines = [f"{sender} sent a new message in \u201c{where}\u201d." if where
                 else f"{sender} sent you a new message.", ""]
    if include_text and preview:
        lines += [f"  {preview}", ""]
    lines += ["Open CloudChat to read and reply.", "",
              "You get this because e-mail notices are on for your account. Turn them off in "
              "the app (Settings, Notifications) or with: cloudchat notifications --email off"]
    return subject[:200], "\n".join(lines)
