"""The commands. Each takes the :class:`App` and its arguments and returns an exit code;
errors are raised as :mod:`cloudchat_cli.errors` and reported by ``__main__``."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cloudchat_cli.errors import CliError
from cloudchat_cli.mentions import resolve as resolve_mentions
from cloudchat_cli.render import Renderer
from cloudchat_client import Backoff, Delivery, Endpoint, _send
from cloudchat_client._follow import Follower, Status, cancel
from cloudchat_client._send import new_client_message_id
from cloudchat_client._tokens import REFRESH_MARGIN, Authenticator, Session
from cloudchat_client._transport import Api
from cloudchat_client.errors import api_error_for

__all__ = [
    "App",
    "conversations",
    "doctor",
    "get_conversation",
    "history",
    "login",
    "logout",
    "new_client_message_id",
    "react",
    "read",
    "send",
    "send_message",
    "tail",
]

#: The operations of operations.graphql the commands run: every message selects the whole
#: ``MessageFields`` fragment, as the web client's subscription does (on AppSync a subscriber gets
#: only the fields the publishing mutation selected), and ``--json`` prints it.
CONVERSATIONS = "Conversations"
CONVERSATION = "Conversation"
MEMBERS = "Members"
USERS_BY_IDS = "UsersByIds"
MESSAGES = "Messages"
PAGE_MAX = 100  # the API's largest page
ADD_REACTION = "AddReaction"
REMOVE_REACTION = "RemoveReaction"
MARK_READ = "MarkRead"


async def send_message(api: _send.Executor, conversation_id: str, body: str, *, client_message_id: str,
                       parent_id: str | None = None, retries: int = 3, retry_delay: float = 0.25,
                       retry_rate_limited: bool = False,
                       mentions: list[str] | None = None) -> dict[str, Any]:
    """The library's idempotent send (network failures retried with the same
    ``clientMessageId``) of operations.graphql's ``SendMessage``."""
    return await _send.send_message(api, conversation_id, body, client_message_id=client_message_id,
                                    parent_id=parent_id, retries=retries, retry_delay=retry_delay,
                                    retry_rate_limited=retry_rate_limited, mentions=mentions)


class _Tokens:
    """The session's ID token for the API, refreshed when near expiry."""

    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth
        self.session: Session = auth.current()

    def __call__(self) -> str:
        if self.session.expires_within(REFRESH_MARGIN, self.auth.clock()):
            self.session = self.auth.refresh(self.session)
        return self.session.id_token


@dataclass
class App:
    endpoint: Endpoint
    auth: Authenticator
    render: Renderer

    def api(self) -> Api:
        tokens = _Tokens(self.auth)
        self.render.me = tokens.session.sub
        return Api(self.endpoint, tokens)


# --------------------------------------------------------------------------- helpers


async def get_conversation(api: Api, conversation_id: str) -> dict[str, Any]:
    data = await api.execute(CONVERSATION, {"id": conversation_id})
    conversation = data.get("conversation")
    if not conversation:
        raise api_error_for("NotFound", f"no conversation {conversation_id}")
    return dict(conversation)


async def member_ids(api: Api, conversation_id: str, *, most: int | None = None) -> list[str]:
    """The conversation's member ids, paged through ``members`` (100 a page; at most
    ``most`` of them when given)."""
    out: list[str] = []
    token: str | None = None
    while most is None or len(out) < most:
        page = (await api.execute(MEMBERS, {"conversationId": conversation_id, "limit": 100,
                                            "nextToken": token}))["members"]
        out += [m["userId"] for m in page["items"]]
        token = page["nextToken"]
        if token is None:
            break
    return out if most is None else out[:most]


async def learn_names(app: App, api: Api, user_ids: Iterable[Any]) -> None:
    """Display names for the tables (``usersByIds``, 100 at a time); --json keeps raw ids."""
    if app.render.as_json:
        return
    unknown = sorted({str(u) for u in user_ids if u} - set(app.render.names))
    for i in range(0, len(unknown), 100):
        found = (await api.execute(USERS_BY_IDS, {"ids": unknown[i:i + 100]}))["usersByIds"]
        app.render.names.update({u["id"]: u["displayName"] for u in found})


# --------------------------------------------------------------------------- commands


def login(app: App, username: str, password: str) -> int:
    session = app.auth.login(username, password)
    groups = f" (groups: {', '.join(session.groups)})" if session.groups else ""
    app.render.result(
        {"username": session.username, "sub": session.sub, "groups": list(session.groups),
         "expiresAt": int(session.expires_at), "endpoint": app.endpoint.graphql_url},
        f"logged in as {session.username}{groups} to {app.endpoint.graphql_url}",
    )
    return 0


def logout(app: App) -> int:
    removed = app.auth.logout()
    app.render.result({"loggedOut": removed, "endpoint": app.endpoint.graphql_url},
                      f"logged out of {app.endpoint.graphql_url}" if removed else "was not logged in")
    return 0


async def conversations(app: App, limit: int) -> int:
    async with app.api() as api:
        page = (await api.execute(CONVERSATIONS, {"limit": limit}))["conversations"]
        await learn_names(app, api, [(c.get("lastMessage") or {}).get("senderId") for c in page["items"]])
    app.render.conversations(page["items"], page.get("nextToken"))
    return 0


async def fetch_history(api: Any, conversation_id: str, limit: int | None) -> list[dict[str, Any]]:
    """The newest ``limit`` messages (all of them when None), paging through ``messages``
    (newest first, at most 100 a page); returned oldest first."""
    items: list[dict[str, Any]] = []
    next_token: str | None = None
    while limit is None or len(items) < limit:
        size = PAGE_MAX if limit is None else min(PAGE_MAX, limit - len(items))
        page = (await api.execute(MESSAGES, {"conversationId": conversation_id, "limit": size,
                                             "nextToken": next_token}))["messages"]
        items += page["items"]
        next_token = page.get("nextToken")
        if not next_token:
            break
    return sorted(items, key=lambda m: m["seq"])


async def history(app: App, conversation_id: str, limit: int | None) -> int:
    async with app.api() as api:
        items = await fetch_history(api, conversation_id, limit)
        await learn_names(app, api, [m.get("senderId") for m in items])
    app.render.messages(items, f"last {len(items)} message(s) of {conversation_id}")
    return 0


async def send(app: App, conversation_id: str, text: str, reply_to: str | None,
               mention: list[str] | None = None) -> int:
    """``--mention`` (id, username or display name) and ``@name`` in the text mention members:
    the conversation's members are read to resolve them only when there is one."""
    async with app.api() as api:
        mentions: list[str] = []
        if mention or "@" in text:
            members = await member_ids(api, conversation_id)
            people = [p for i in range(0, len(members), 100)
                      for p in (await api.execute(USERS_BY_IDS,
                                                  {"ids": members[i:i + 100]}))["usersByIds"]]
            mentions = resolve_mentions(text, mention or [], people)
        message = await send_message(api, conversation_id, text, client_message_id=new_client_message_id(),
                                     parent_id=reply_to, mentions=mentions)
    app.render.message(message, "sent")
    return 0


async def react(app: App, conversation_id: str, message_id: str, emoji: str, remove: bool) -> int:
    async with app.api() as api:
        data = await api.execute(REMOVE_REACTION if remove else ADD_REACTION,
                                 {"conversationId": conversation_id, "messageId": message_id, "emoji": emoji})
    message = data["removeReaction" if remove else "addReaction"]
    app.render.message(message, "reaction removed from" if remove else "reacted to")
    return 0


async def read(app: App, conversation_id: str, seq: int | None) -> int:
    async with app.api() as api:
        if seq is None:
            seq = int((await get_conversation(api, conversation_id))["lastSeq"])
        receipt = (await api.execute(MARK_READ, {"conversationId": conversation_id, "seq": seq}))["markRead"]
    app.render.result(receipt, f"read up to #{receipt['seq']} in {conversation_id}")
    return 0


async def tail(app: App, conversation_id: str, last: int, *,
               on_follower: Callable[[Follower], None] | None = None) -> int:
    """Prints the last ``last`` messages, then every new one, until interrupted."""
    render = app.render
    name = conversation_id

    def status(event: Status) -> None:
        # stderr, also with --json: stdout carries only messages
        if event.kind == "disconnected":
            render.info(f"disconnected ({event.detail})")
        elif event.kind == "event-error":
            render.info(f"a live event had errors ({event.detail}); caught up instead")
        elif event.attempt == 1:
            render.info(f"following {name} (live; Ctrl-C to stop)")
        else:
            render.info(f"reconnected; caught up {event.detail}")

    async with app.api() as api:
        conversation = await get_conversation(api, conversation_id)
        name = conversation.get("title") or conversation_id
        await learn_names(app, api, await member_ids(api, conversation_id, most=100))
        after = max(0, int(conversation["lastSeq"]) - max(0, last))
        follower = Follower(api, conversation_id, after_seq=after, on_delivery=render.delivery,
                            on_status=status)
        if on_follower is not None:
            on_follower(follower)
        await follower.run()
    return 0


# --------------------------------------------------------------------------- doctor


@dataclass
class DoctorReport:
    sent: int
    received_live: int
    recovered_by_catch_up: int
    missed: int
    duplicated: int
    out_of_order: int
    reconnections: int
    duplicates_suppressed: int
    seconds: float

    @property
    def ok(self) -> bool:
        return not (self.missed or self.duplicated or self.out_of_order)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


def evaluate(sent_seqs: set[int], deliveries: list[Delivery], *, reconnections: int,
             duplicates_suppressed: int, seconds: float) -> DoctorReport:
    """What the reader saw, against what was sent."""
    new = [d for d in deliveries if d.kind == "new"]
    counts = collections.Counter(d.seq for d in new)
    out_of_order = sum(1 for a, b in itertools.pairwise(new) if b.seq <= a.seq)
    return DoctorReport(
        sent=len(sent_seqs),
        received_live=len({d.seq for d in new if d.source == "live" and d.seq in sent_seqs}),
        recovered_by_catch_up=len({d.seq for d in new if d.source == "catch-up" and d.seq in sent_seqs}),
        missed=len(sent_seqs - set(counts)),
        duplicated=sum(n - 1 for seq, n in counts.items() if n > 1),
        out_of_order=out_of_order,
        reconnections=reconnections,
        duplicates_suppressed=duplicates_suppressed,
        seconds=round(seconds, 2),
    )


async def run_doctor(api: Api, conversation_id: str, *, count: int = 30, timeout: float = 30.0,
                     on_status: Callable[[Status], None] | None = None) -> DoctorReport:
    """Subscribes, sends ``count`` numbered messages, cuts the WebSocket after a third, keeps
    sending while disconnected (reconnection is held back), lets it reconnect for the last
    third, and waits until every sent seq has been seen or ``timeout``."""
    started = time.monotonic()
    conversation = await get_conversation(api, conversation_id)
    deliveries: list[Delivery] = []
    follower = Follower(api, conversation_id, after_seq=int(conversation["lastSeq"]),
                        on_delivery=deliveries.append, on_status=on_status,
                        backoff=Backoff(initial=0.2, maximum=2.0), max_attempts=10)
    task = asyncio.create_task(follower.run())
    try:
        await _until(lambda: follower.connected.is_set(), task, 15.0, "the subscription did not start")
        run_id = secrets.token_hex(4)
        drop_after, resume_after = max(1, count // 3), max(1, 2 * count // 3)
        sent: set[int] = set()
        for i in range(1, count + 1):
            message = await send_message(api, conversation_id, f"doctor {run_id} #{i}/{count}",
                                         client_message_id=f"doctor-{run_id}-{i:05d}",
                                         retry_rate_limited=True)
            sent.add(int(message["seq"]))
            if i == drop_after:
                follower.may_reconnect.clear()
                follower.drop()
                await _until(lambda: not follower.connected.is_set(), task, 10.0,
                             "the WebSocket did not drop")
            if i == resume_after:
                follower.may_reconnect.set()
        with contextlib.suppress(TimeoutError):
            await _until(lambda: follower.last_seq >= max(sent), task, timeout, "")
        await asyncio.sleep(0.3)  # late live duplicates would show up now
    finally:
        follower.may_reconnect.set()
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        await cancel(task)
    return evaluate(sent, deliveries, reconnections=max(0, follower.connections - 1),
                    duplicates_suppressed=follower.sequencer.stats.duplicates_dropped,
                    seconds=time.monotonic() - started)


async def _until(condition: Callable[[], bool], task: asyncio.Task[None], timeout: float,
                 what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if task.done():
            task.result()  # raises the follower's error
            raise CliError("the follower stopped")
        if time.monotonic() > deadline:
            if what:
                raise CliError(what)
            raise TimeoutError
        await asyncio.sleep(0.02)


async def doctor(app: App, conversation_id: str, count: int, timeout: float) -> int:
    def status(event: Status) -> None:
        if not app.render.as_json:
            app.render.info(f"{event.kind}: {event.detail}")

    async with app.api() as api:
        report = await run_doctor(api, conversation_id, count=count, timeout=timeout, on_status=status)
    rows: list[tuple[str, Any]] = [
        ("sent", report.sent), ("received live", report.received_live),
        ("recovered by catch-up", report.recovered_by_catch_up), ("missed", report.missed),
        ("duplicated", report.duplicated), ("out of order", report.out_of_order),
        ("reconnections", report.reconnections),
        ("duplicates suppressed (arrived twice, shown once)", report.duplicates_suppressed),
        ("seconds", report.seconds),
    ]
    verdict = "OK" if report.ok else "FAILED"
    app.render.report(rows, report.as_dict(), f"doctor: disconnect/reconnect scenario — {verdict}")
    return 0 if report.ok else 1
