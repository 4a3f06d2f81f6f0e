"""cloudchat_client against the real local stack over real sockets: sign-in and refresh, the typed
errors, following across a dropped WebSocket, and a send retried after its answer was lost."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cloudchat_client import (
    AuthError,
    Backoff,
    BadRequest,
    CloudChat,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    Session,
    Unauthorized,
)
from cloudchat_client.errors import ApiError
from cloudchat_client.types import Message
from tests.e2e._matrix import claims_of, moto_signing_key, sign
from tests.e2e.conftest import DevStack, run

pytestmark = pytest.mark.e2e


def client(stack: DevStack, **kwargs: Any) -> CloudChat:
    return CloudChat.from_outputs(stack.outputs_path, **kwargs)


@contextlib.asynccontextmanager
async def signed_in(stack: DevStack, name: str, **kwargs: Any) -> AsyncIterator[CloudChat]:
    async with client(stack, **kwargs) as chat:
        await chat.sign_in(name, stack.user(name)["password"])
        yield chat


async def new_conversation(chat: CloudChat, *others: str, title: str = "client tests") -> str:
    conversation = await chat.create_conversation(list(others), title=f"{title} {uuid.uuid4().hex[:6]}")
    return conversation["id"]


# --------------------------------------------------------------------------- sign-in and refresh


def test_sign_in_and_typed_answers(stack: DevStack) -> None:
    async def go() -> None:
        async with signed_in(stack, "alice") as chat:
            me = await chat.me()
            assert me["id"] == stack.user("alice")["sub"] == chat.user_id
            conversation = await new_conversation(chat, stack.user("bob")["sub"])
            sent = await chat.send_message(conversation, "hello from the library")
            assert sent["seq"] == 1 and sent["clientMessageId"].startswith("py-")
            page = await chat.messages_since(conversation, 0)
            assert [m["body"] for m in page["items"]] == ["hello from the library"]

    run(go())


def test_members_are_paged_and_all_members_follows_the_pages(stack: DevStack) -> None:
    async def go() -> None:
        async with signed_in(stack, "alice") as chat:
            others = [stack.user(n)["sub"] for n in ("bob", "carol")]
            conversation = await new_conversation(chat, *others, title="paged")
            first = await chat.members(conversation, limit=2)
            assert len(first["items"]) == 2 and first["nextToken"]
            rest = await chat.members(conversation, limit=2, next_token=first["nextToken"])
            assert len(rest["items"]) == 1 and rest["nextToken"] is None
            everyone = await chat.all_members(conversation, page=1)
            assert sorted(m["userId"] for m in everyone) == sorted([chat.user_id, *others])
            assert {m["role"] for m in everyone} == {"OWNER", "MEMBER"}
            view = await chat.conversation(conversation)
            assert view is not None and view["memberCount"] == 3 and view["myRole"] == "OWNER"

    run(go())


def test_bad_credentials_are_an_auth_error(stack: DevStack) -> None:
    async def go() -> None:
        async with client(stack) as chat:
            with pytest.raises(AuthError, match="bad credentials"):
                await chat.sign_in("alice", "not-her-password")

    run(go())


def test_a_token_near_expiry_is_refreshed_before_the_call(stack: DevStack) -> None:
    async def go() -> None:
        later = time.time() + 3600 - 60  # the clock says the hour-long ID token has a minute left
        async with signed_in(stack, "alice", clock=lambda: later) as chat:
            refreshes = spy_refresh(chat)
            first = chat.session
            assert (await chat.me())["id"] == stack.user("alice")["sub"]
            assert len(refreshes) == 1 and chat.session is not first
            assert chat.session is not None and chat.session.refresh_token == first.refresh_token  # type: ignore[union-attr]

    run(go())


def test_an_expired_token_answer_is_refreshed_and_retried_once(stack: DevStack) -> None:
    """The session believes its token is good for an hour, the API says it expired (a clock
    ahead, a token revoked): one refresh, one retry, the call succeeds."""
    async def go() -> None:
        async with signed_in(stack, "alice") as chat:
            assert chat.session is not None
            chat.session = stale(chat.session)
            refreshes = spy_refresh(chat)
            assert (await chat.me())["id"] == stack.user("alice")["sub"]
            assert len(refreshes) == 1
            assert chat.session.id_token != stale(chat.session).id_token

    run(go())


def test_a_bare_expired_token_is_refused_without_a_retry(stack: DevStack) -> None:
    async def go() -> None:
        async with signed_in(stack, "alice") as signed:
            assert signed.session is not None
            expired = stale(signed.session).id_token
        async with client(stack, token=expired) as chat:
            with pytest.raises(Unauthorized, match="Token has expired"):
                await chat.me()

    run(go())


def stale(session: Session) -> Session:
    """The session with an ID token that expired an hour ago (signed with the pool's key)."""
    claims = claims_of(session.id_token)
    claims.update(iat=int(time.time()) - 7200, auth_time=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    key, kid = moto_signing_key()
    return Session(**{**session.__dict__, "id_token": sign(claims, key, kid)})


def spy_refresh(chat: CloudChat) -> list[Session]:
    calls: list[Session] = []
    original = chat.auth.refresh

    def refresh(session: Session) -> Session:
        calls.append(session)
        return original(session)

    chat.auth.refresh = refresh  # type: ignore[method-assign]
    return calls


# --------------------------------------------------------------------------- typed errors


def test_each_denial_raises_its_typed_error(stack: DevStack) -> None:
    async def go() -> None:
        async with signed_in(stack, "alice") as alice, signed_in(stack, "carol") as carol:
            conversation = await new_conversation(alice, stack.user("bob")["sub"])
            sent = await alice.send_message(conversation, "only alice and bob")
            with pytest.raises(Forbidden, match="not a member") as forbidden:
                await carol.messages(conversation)
            assert forbidden.value.error_type == "Forbidden"
            with pytest.raises(BadRequest):
                await alice.send_message(conversation, "")
            with pytest.raises(BadRequest):
                await alice.send_message(conversation, "x", client_message_id="short")
            with pytest.raises(NotFound):
                await alice.delete_message(conversation, "01HZZZZZZZZZZZZZZZZZZZZZZZ")
            with pytest.raises(Conflict):
                await alice.edit_message(conversation, sent["id"], "edited", expected_version=7)
            with pytest.raises(Unauthorized):
                await alice.reported_messages()
            await alice.send_typing(conversation)
            with pytest.raises(RateLimited) as limited:
                await alice.send_typing(conversation)
            assert limited.value.retry_after is not None and limited.value.retry_after >= 1
            for error in (forbidden.value, limited.value):
                assert isinstance(error, ApiError)

    run(go())


# --------------------------------------------------------------------------- follow


def test_follow_across_a_dropped_websocket_loses_and_repeats_nothing(stack: DevStack) -> None:
    async def go() -> None:
        async with signed_in(stack, "alice") as alice, signed_in(stack, "bob") as bob:
            conversation = await new_conversation(alice, stack.user("bob")["sub"])
            await bob.send_message(conversation, "before following")
            got: list[Message] = []
            stream = alice.follow(conversation, after_seq=0)
            async with stream:
                following = stream.following

                async def read(count: int) -> None:
                    while len(got) < count:
                        got.append(await asyncio.wait_for(anext(stream), 15))

                await read(1)  # caught up: seq 1
                for i in range(3):
                    await bob.send_message(conversation, f"live {i}")
                await read(4)
                following.follower.may_reconnect.clear()
                stream.drop()
                await wait_for(lambda: not stream.connected.is_set())
                for i in range(4):
                    await bob.send_message(conversation, f"in the gap {i}")
                following.follower.may_reconnect.set()
                await wait_for(stream.connected.is_set)
                for i in range(2):
                    await bob.send_message(conversation, f"after {i}")
                await read(10)
                await asyncio.sleep(0.5)  # a late duplicate would arrive now
                assert following.follower.connections >= 2
            assert [m["seq"] for m in got] == list(range(1, 11))
            assert [m["body"] for m in got][4:8] == [f"in the gap {i}" for i in range(4)]

    run(go(), timeout=90)


def test_follow_from_now_skips_history_and_a_stranger_is_forbidden(stack: DevStack) -> None:
    async def go() -> None:
        async with signed_in(stack, "alice") as alice, signed_in(stack, "carol") as carol:
            conversation = await new_conversation(alice, stack.user("bob")["sub"])
            await alice.send_message(conversation, "history")
            async with alice.follow(conversation) as stream:
                await wait_for(stream.connected.is_set)
                await alice.send_message(conversation, "news")
                first = await asyncio.wait_for(anext(stream), 15)
                assert (first["seq"], first["body"]) == (2, "news")
            with pytest.raises(Forbidden):
                async with carol.follow(conversation, after_seq=0) as denied:
                    await asyncio.wait_for(anext(denied), 15)

    run(go())


def test_user_events_arrive_on_your_own_channel_across_a_reconnect(stack: DevStack) -> None:
    async def go() -> None:
        async with signed_in(stack, "alice") as alice, signed_in(stack, "bob") as bob:
            conversation = await new_conversation(alice, stack.user("bob")["sub"])
            async with bob.user_events(backoff=Backoff(initial=0.1, maximum=0.5)) as events:
                await wait_for(events.connected.is_set)
                for seq in (1, 2):
                    await alice.send_message(conversation, f"ping {seq}")
                    while True:
                        event = await asyncio.wait_for(anext(events), 15)
                        if event["type"] == "MESSAGE" and event["conversationId"] == conversation:
                            break
                    assert event["userId"] == stack.user("bob")["sub"] and event["seq"] == seq
                    if seq == 1:  # cut the WebSocket: the stream reconnects by itself
                        events.drop()
                        await wait_for(lambda: events.connections == 2)

    run(go())


async def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


# --------------------------------------------------------------------------- send retry


class LosingProxy:
    """A loopback TCP proxy to the API whose first connection forwards the request, waits for
    the answer to start, and then cuts the client off: the send reached the server, its answer
    never reached the client."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        try:
            if self.connections == 1:
                up_writer.write(await _one_request(reader))
                await up_writer.drain()
                await up_reader.read(1)  # the server answered: it stored the message
                writer.transport.abort()
                return
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()
            writer.close()


async def _one_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return head + await reader.readexactly(length)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


def test_a_send_whose_answer_was_lost_is_retried_with_the_same_client_message_id(stack: DevStack) -> None:
    async def go() -> None:
        async with signed_in(stack, "alice") as alice:
            conversation = await new_conversation(alice, stack.user("bob")["sub"])
            host, port = stack.host.split(":")
            proxy = LosingProxy(host, int(port))
            proxy_port = await proxy.start()
            try:
                url = stack.url.replace(stack.host, f"127.0.0.1:{proxy_port}")
                async with CloudChat.from_urls(url, token=alice.token()) as flaky:
                    sent = await flaky.send_message(conversation, "exactly once", client_message_id="retry-0001",
                                                    retry_delay=0.05)
            finally:
                await proxy.stop()
            assert proxy.connections == 2  # the lost answer, then the retry
            assert sent["clientMessageId"] == "retry-0001" and sent["seq"] == 1
            stored = (await alice.messages_since(conversation, 0))["items"]
            assert [(m["seq"], m["clientMessageId"]) for m in stored] == [(1, "retry-0001")]

    run(go())


# --------------------------------------------------------------------------- the README's example


class _Printed(Exception):
    pass


def test_the_readme_example_runs(stack: DevStack) -> None:
    """README's "Python client" script, against this stack: it signs in, creates a conversation,
    sends, and follows until the first message is printed."""
    from tests.e2e.conftest import REPO

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### The Python client"):readme.index("### The command-line client")]
    code = section[section.index("```python") + len("```python"):]
    code = code[:code.index("```")].replace("asyncio.run(main())", "")
    printed: list[tuple[Any, ...]] = []

    def fake_print(*args: Any) -> None:
        printed.append(args)
        raise _Printed

    class LocalCloudChat(CloudChat):
        @classmethod
        def from_outputs(cls, path: Any = None, **kwargs: Any) -> CloudChat:
            return CloudChat.from_outputs(stack.outputs_path, **kwargs)

    namespace: dict[str, Any] = {"print": fake_print}
    exec(compile(code, "README.md", "exec"), namespace)  # the README's own code
    namespace["CloudChat"] = LocalCloudChat
    with pytest.raises(_Printed):
        run(namespace["main"]())
    assert printed == [(1, stack.user("alice")["sub"], "hello from Python")]
