"""The checks of ``cloudchat verify``: the API tier driven as a real client drives it.

Users A and B share a GROUP and a DIRECT conversation; C is in neither. B listens on one
AppSync real-time connection (``onMessage`` for the group and its own ``onUserEvent``) before
A writes. Reads that AWS makes eventually consistent (the conversation list is a GSI, the
per-user channel is fed by the table's stream) are polled or awaited with bounds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from cloudchat_cli.errors import ApiError, AuthError, CheckFailed, StackUnreachable
from cloudchat_cli.verify_run import Runner, describe, expect, next_event, poll
from cloudchat_cli.verify_target import Target
from cloudchat_cli.verify_users import TempUser, TempUsers
from cloudchat_client._transport import Api, Event, RealtimeConnection

__all__ = ["Scenario"]

#: The operations of operations.graphql the checks run (each selects the whole fragment, as the
#: web client does: a subscriber gets only the fields the publishing mutation selected).
SEND = "SendMessage"
CREATE = "CreateConversation"
LIST = "Conversations"
CONVERSATION = "Conversation"
MEMBERS = "Members"
MESSAGES = "Messages"
SINCE = "MessagesSince"
THREAD = "Thread"
REACT = "AddReaction"
UNREACT = "RemoveReaction"
MARK_READ = "MarkRead"
RECEIPTS = "ReadReceipts"
UPLOAD = "RequestUpload"
LEAVE = "LeaveConversation"
ME = "Me"
ON_MESSAGE = "OnMessage"
ON_USER_EVENT = "OnUserEvent"
BLOCK = "BlockUser"
UNBLOCK = "UnblockUser"
PNG = b"\x89PNG\r\n\x1a\n" + b"cloudchat verify " + secrets.token_bytes(64)


class Scenario:
    """State shared by the checks of one run."""

    def __init__(self, target: Target, users: TempUsers, runner: Runner, *,
                 channel_timeout: float) -> None:
        self.target = target
        self.endpoint = target.endpoint
        self.users = users
        self.run = runner
        self.channel_timeout = channel_timeout
        self.stack = contextlib.AsyncExitStack()
        self.a: TempUser | None = None
        self.b: TempUser | None = None
        self.c: TempUser | None = None
        self.apis: dict[str, Api] = {}
        self.group = ""
        self.direct = ""
        self.b_messages: asyncio.Queue[Event] = asyncio.Queue()
        self.b_events: asyncio.Queue[Event] = asyncio.Queue()
        self.first: dict[str, Any] = {}
        self.first_input: dict[str, Any] = {}

    def api(self, user: TempUser | None) -> Api:
        assert user is not None
        return self.apis[user.label]

    async def ex(self, user: TempUser | None, query: str, **variables: Any) -> dict[str, Any]:
        return await self.api(user).execute(query, variables)

    # -- setup -------------------------------------------------------------------------------

    async def create_users(self) -> str:
        for label in ("a", "b", "c"):
            user = await asyncio.to_thread(self.users.create, label)
            setattr(self, label, user)
        return f"{', '.join(u.username for u in self.users.users)} (passwords random, not shown)"

    async def sign_in(self) -> str:
        for user in self.users.users:
            await asyncio.to_thread(self.users.sign_in, user)
        return "USER_PASSWORD_AUTH with the app client"

    async def profiles(self) -> str:
        for user in self.users.users:
            api = await self.stack.enter_async_context(Api(self.endpoint, _fixed(user.token)))
            self.apis[user.label] = api
            me = (await api.execute(ME))["me"]
            expect(me["id"] == user.sub, f"me.id is {me['id']}, the token's sub is {user.sub}")
        return "me answers each user's own id"

    # -- conversations -------------------------------------------------------------------------

    async def conversations(self) -> str:
        assert self.a is not None
        assert self.b is not None
        title = f"{self.users.prefix} group"
        group = (await self.ex(self.a, CREATE, input={"memberIds": [self.b.sub], "title": title}))
        group = group["createConversation"]
        expect(group["kind"] == "GROUP", f"a titled conversation is {group['kind']}, not GROUP")
        page = (await self.ex(self.a, MEMBERS, conversationId=group["id"], limit=100))["members"]
        roles = {m["userId"]: m["role"] for m in page["items"]}
        expect(group["memberCount"] == 2, f"the group has memberCount {group['memberCount']}")
        expect(roles == {self.a.sub: "OWNER", self.b.sub: "MEMBER"}, f"group members are {roles}")
        self.group = group["id"]
        direct = (await self.ex(self.a, CREATE, input={"memberIds": [self.b.sub]}))["createConversation"]
        expect(direct["kind"] == "DIRECT", f"an untitled pair is {direct['kind']}, not DIRECT")
        self.direct = direct["id"]
        again = (await self.ex(self.b, CREATE, input={"memberIds": [self.a.sub]}))["createConversation"]
        expect(again["id"] == self.direct, "a second DIRECT for the same pair was created")
        return f"group {self.group}, direct {self.direct} (unique per pair)"

    async def listed(self) -> str:
        ids = {self.group, self.direct}
        await poll(lambda: self.api(self.b).execute(LIST, {"limit": 50}),
                   lambda d: ids <= {c["id"] for c in d["conversations"]["items"]},
                   within=15, what="both conversations in B's list (a GSI: eventually consistent)")
        return "both listed for B"

    # -- live messages -----------------------------------------------------------------------

    async def subscribe(self) -> str:
        assert self.b is not None
        connection = await self.stack.enter_async_context(RealtimeConnection(self.endpoint, self.b.token))
        await connection.subscribe(ON_MESSAGE, {"conversationId": self.group}, self.b_messages.put_nowait)
        await connection.subscribe(ON_USER_EVENT, {"userId": self.b.sub}, self.b_events.put_nowait)
        return "start_ack for onMessage and onUserEvent"

    async def send_live(self) -> str:
        self.first_input = send_input(self.group, f"hello from {self.users.prefix}")
        sent = (await self.api(self.a).execute(SEND, {"input": self.first_input}))["sendMessage"]
        self.first = sent
        expect(sent["body"] == self.first_input["body"] and sent["seq"] >= 1, f"sendMessage returned {sent}")
        started = time.monotonic()
        live = await next_event(self.b_messages, lambda e: _message(e, "onMessage", sent["id"]),
                                "the message")
        expect(live["onMessage"]["body"] == sent["body"], f"the live copy differs: {live['onMessage']}")
        return f"seq {sent['seq']}, live after {time.monotonic() - started:.2f} s"

    async def pages(self) -> str:
        page = (await self.ex(self.b, MESSAGES, conversationId=self.group, limit=10))["messages"]["items"]
        expect(page and page[0]["id"] == self.first["id"], "messages (newest first) does not start with it")
        expect(page[0]["body"] == self.first["body"], "the body does not decrypt for a member")
        since = (await self.api(self.b).execute(SINCE, page_after(self.group, 0)))["messagesSince"]["items"]
        seqs = [m["seq"] for m in since]
        expect(seqs == list(range(1, len(seqs) + 1)), f"messagesSince seqs are not 1..n: {seqs}")
        expect(self.first["id"] in {m["id"] for m in since}, "messagesSince(afterSeq: 0) lacks it")
        return f"{len(page)} newest first; since 0: seqs {seqs}"

    async def retry(self) -> str:
        again = (await self.api(self.a).execute(SEND, {"input": self.first_input}))["sendMessage"]
        expect((again["id"], again["seq"]) == (self.first["id"], self.first["seq"]),
               f"a retry returned seq {again['seq']} id {again['id']}, not the original")
        after = (await self.api(self.a).execute(SINCE, page_after(self.group, self.first["seq"])))
        expect(after["messagesSince"]["items"] == [], "the retry stored a second message")
        return "same id and seq; nothing new stored"

    async def thread(self) -> str:
        reply = send_input(self.group, "a reply", parentId=self.first["id"])
        sent = (await self.api(self.b).execute(SEND, {"input": reply}))["sendMessage"]
        expect(sent["parentId"] == self.first["id"], f"the reply's parentId is {sent['parentId']}")
        await poll(lambda: self.ex(self.a, THREAD, conversationId=self.group, rootId=self.first["id"]),
                   lambda d: [m["id"] for m in d["thread"]["items"]] == [sent["id"]],
                   within=15, what=f"thread() listing the reply {sent['id']} (a GSI: eventually consistent)")
        await poll(lambda: self.api(self.a).execute(MESSAGES, {"conversationId": self.group, "limit": 10}),
                   lambda d: any(m["id"] == self.first["id"] and m["replyCount"] == 1
                                 for m in d["messages"]["items"]),
                   within=15, what="the root's replyCount 1")
        return "reply listed by thread(); root replyCount 1"

    async def reactions(self) -> str:
        args = {"conversationId": self.group, "messageId": self.first["id"], "emoji": "👍"}
        added = (await self.api(self.b).execute(REACT, args))["addReaction"]["reactions"]
        mine = {"emoji": "👍", "count": 1, "userIds": [self.b and self.b.sub], "reactedByMe": True}
        expect(added == [mine], f"after addReaction: {added}")
        live = await next_event(self.b_messages, lambda e: _message(e, "onMessage", self.first["id"])
                                and bool(e["onMessage"]["reactions"]), "the reaction event")
        expect(live["onMessage"]["reactions"][0]["count"] == 1, f"live reaction: {live['onMessage']}")
        removed = (await self.api(self.b).execute(UNREACT, args))
        expect(removed["removeReaction"]["reactions"] == [], f"after removeReaction: {removed}")
        return "added (seen live), removed"

    async def receipts(self) -> str:
        assert self.b is not None
        # A writes last: B's own reply may have moved B's read marker.
        last = (await self.ex(self.a, SEND, input=send_input(self.group, "read me")))["sendMessage"]["seq"]

        def unread(d: dict[str, Any]) -> bool:
            return bool(d["conversation"]["lastSeq"] >= last and d["conversation"]["unreadCount"] > 0)

        before = (await poll(lambda: self.ex(self.b, CONVERSATION, id=self.group), unread,
                             within=10, what=f"B's lastSeq {last} and unreadCount above 0"))["conversation"]
        receipt = (await self.ex(self.b, MARK_READ, conversationId=self.group, seq=last))["markRead"]
        expect((receipt["kind"], receipt["seq"], receipt["userId"]) == ("READ", last, self.b.sub),
               f"markRead returned {receipt}")
        seen = (await self.api(self.a).execute(RECEIPTS, {"conversationId": self.group}))["readReceipts"]
        read = {r["userId"]: r["readSeq"] for r in seen}
        expect(read.get(self.b.sub) == last, f"readReceipts shows {read}, B read up to {last}")
        after = (await self.api(self.b).execute(CONVERSATION, {"id": self.group}))["conversation"]
        expect(after["unreadCount"] == 0, f"unreadCount is {after['unreadCount']} after markRead")
        return f"unread {before['unreadCount']} -> 0 at seq {last}"

    async def direct_message(self) -> str:
        body = send_input(self.direct, "direct hello")
        sent = (await self.api(self.a).execute(SEND, {"input": body}))["sendMessage"]
        got = (await self.api(self.b).execute(SINCE, page_after(self.direct, 0)))["messagesSince"]["items"]
        expect([m["id"] for m in got][-1:] == [sent["id"]], "B does not read the DIRECT message")
        return f"seq {sent['seq']}"

    async def upload(self) -> str:
        ticket = (await self.ex(self.a, UPLOAD, conversationId=self.group, fileName="verify.png",
                                contentType="image/png", size=len(PNG)))["requestUpload"]
        fields = json.loads(ticket["fields"]) if isinstance(ticket["fields"], str) else ticket["fields"]
        form = aiohttp.FormData()
        for key, value in fields.items():
            form.add_field(key, str(value))
        form.add_field("file", PNG, filename="verify.png", content_type="image/png")
        timeout = aiohttp.ClientTimeout(total=self.run.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.post(ticket["url"], data=form) as resp:
                expect(resp.status in (200, 201, 204), f"the presigned POST answered {resp.status}: "
                       f"{(await resp.text())[:300]}")
            body = send_input(self.group, None, attachments=[ticket["uploadId"]])
            sent = (await self.api(self.a).execute(SEND, {"input": body}))["sendMessage"]
            expect(sent["kind"] == "IMAGE" and len(sent["attachments"]) == 1, f"sent {sent['kind']} "
                   f"with {len(sent['attachments'])} attachments")
            got = (await self.api(self.b).execute(SINCE, page_after(self.group, sent["seq"] - 1)))
            attachment = got["messagesSince"]["items"][0]["attachments"][0]
            async with http.get(attachment["url"]) as resp:
                data = await resp.read()
                expect(resp.status == 200 and data == PNG, f"the download URL answered {resp.status} "
                       f"with {len(data)} bytes, not the {len(PNG)} uploaded")
        return f"{len(PNG)} bytes up and back down"

    async def user_channel(self) -> str:
        assert self.b is not None
        started = time.monotonic()
        def inbox(e: Mapping[str, Any]) -> bool:
            event = e.get("onUserEvent") or {}
            return bool(event.get("type") == "MESSAGE" and event.get("conversationId") == self.group)

        event = await next_event(self.b_events, inbox, "an inbox event")
        got = event["onUserEvent"]
        expect(got["userId"] == self.b.sub, f"B's channel carried an event for {got['userId']}")
        return f"MESSAGE seq {got.get('seq')} (waited {time.monotonic() - started:.1f} s more)"

    # -- denials -------------------------------------------------------------------------------

    async def denied(self, query: str, variables: Mapping[str, Any], error_type: str) -> str:
        try:
            data = await self.api(self.c).execute(query, variables)
        except ApiError as exc:
            expect(exc.error_type == error_type,
                   f"refused with {exc.error_type}, not {error_type}: {exc.message}")
            return f"{exc.error_type}: {exc.message}"
        raise CheckFailed(f"allowed, answered {describe(Exception(data))}")

    async def blocking(self) -> str:
        """C blocks A: A cannot open a DIRECT conversation with C (the check is inside the
        create's transaction); C unblocks."""
        assert self.a is not None
        assert self.c is not None
        done = (await self.ex(self.c, BLOCK, userId=self.a.sub))["blockUser"]
        expect(done["userId"] == self.a.sub, f"blockUser answered {done}")
        try:
            await self.ex(self.a, CREATE, input={"memberIds": [self.c.sub]})
        except ApiError as exc:
            expect(exc.error_type == "Forbidden", f"refused with {exc.error_type}, not Forbidden")
        else:
            raise CheckFailed("a blocked user opened a DIRECT conversation with the blocker")
        finally:
            undone = (await self.ex(self.c, UNBLOCK, userId=self.a.sub))["unblockUser"]
        expect(undone["wasBlocked"], "unblockUser found no block to remove")
        return "blockUser; the blocked user's DIRECT refused (Forbidden); unblockUser"

    async def subscribe_denied(self, query: str, variables: Mapping[str, Any]) -> str:
        assert self.c is not None
        async with RealtimeConnection(self.endpoint, self.c.token) as connection:
            try:
                await connection.subscribe(query, variables, lambda event: None)
            except ApiError as exc:
                expect(exc.error_type == "Forbidden", f"refused with {exc.error_type}, not Forbidden")
                return f"{exc.error_type}: {exc.message}"
        raise CheckFailed("the subscription was acknowledged")

    def forged_token(self) -> str:
        """A JWT with the pool's issuer and a made-up signature."""
        def part(value: Mapping[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        e = self.endpoint
        issuer = f"https://cognito-idp.{e.region}.amazonaws.com/{e.user_pool_id}"
        claims = {"sub": "00000000-0000-4000-8000-000000000000", "iss": issuer, "aud": e.client_id,
                  "token_use": "id", "exp": int(time.time()) + 3600, "iat": int(time.time())}
        signature = base64.urlsafe_b64encode(secrets.token_bytes(256)).decode().rstrip("=")
        return f"{part({'alg': 'RS256', 'kid': 'forged'})}.{part(claims)}.{signature}"

    async def http_refused(self, token: str | None) -> str:
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["authorization"] = token
        timeout = aiohttp.ClientTimeout(total=self.run.timeout)
        body = json.dumps({"query": "{ me { id } }"})
        async with aiohttp.ClientSession(timeout=timeout) as http, \
                http.post(self.endpoint.graphql_url, data=body, headers=headers) as resp:
            text = await resp.text()
        expect(resp.status == 401, f"answered HTTP {resp.status}: {text[:200]}")
        expect("UnauthorizedException" in text, f"401 without UnauthorizedException: {text[:200]}")
        return "401 UnauthorizedException"

    async def websocket_refused(self) -> str:
        """AppSync answers ``connection_init`` with ``connection_error`` (UnauthorizedException,
        errorCode 401); an upgrade refused with HTTP 401/403 is a refusal too."""
        try:
            async with RealtimeConnection(self.endpoint, self.forged_token()):
                pass
        except AuthError as exc:
            kind = "UnauthorizedException" if "UnauthorizedException" in str(exc) else describe(exc)[:120]
            return f"connection_error: {kind}"
        except StackUnreachable as exc:
            status = _http_status(exc)
            if status not in (401, 403):
                raise
            return f"upgrade refused with HTTP {status}"
        raise CheckFailed("the real-time endpoint accepted a forged token")

    # -- cleanup -------------------------------------------------------------------------------

    async def close(self) -> str:
        await self.stack.aclose()
        return "connections closed"

    async def leave(self) -> str:
        """B leaves the group, then A, its last member. A DIRECT conversation cannot be left."""
        left = []
        async with contextlib.AsyncExitStack() as stack:
            for user in (self.b, self.a):
                if user is None or user.session is None or not self.group:
                    continue
                api = await stack.enter_async_context(Api(self.endpoint, _fixed(user.token)))
                await api.execute(LEAVE, {"conversationId": self.group})
                left.append(user.label.upper())
        return f"{' and '.join(left)} left the group" if left else "nothing to leave"


def _message(event: Mapping[str, Any], field: str, message_id: str) -> bool:
    return bool((event.get(field) or {}).get("id") == message_id)


def _fixed(token: str) -> Callable[[], str]:
    return lambda: token


def page_after(conversation_id: str, after_seq: int) -> dict[str, Any]:
    """``messagesSince``'s variables: up to 50 messages after ``after_seq``."""
    return {"conversationId": conversation_id, "afterSeq": after_seq, "limit": 50}


def send_input(conversation_id: str, body: str | None, **extra: Any) -> dict[str, Any]:
    """A SendMessageInput with a fresh idempotency key."""
    return {"conversationId": conversation_id, "body": body,
            "clientMessageId": f"verify-{secrets.token_hex(8)}", **extra}


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status of a refused WebSocket upgrade, anywhere in the exception's causes."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        status = getattr(response, "status_code", None) or getattr(seen, "status_code", None)
        if isinstance(status, int):
            return status
        seen = seen.__cause__ or seen.__context__
    return None
