"""The local stack as a subprocess (``python -m cloudchat_local.dev``), driven by real clients
over real sockets: boto3 for Cognito sign-in, gql over HTTP and over AppSync's WebSocket."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import AppSyncJWTAuthentication

from cloudchat_client import _transport as client_transport
from cloudchat_client import document
from tests.conftest import record_iam_usage

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
READY = "CloudChat local stack ready"
START_TIMEOUT = 90.0
TIMEOUT = 15.0
#: Every e2e stack runs with GSI reads lagging the table by this much (``--gsi-lag``).
#: AWS propagates writes to a GSI "within a fraction of a second" normally, within 1 s
#: (AWS Knowledge Center); 0.5 s is longer than any client's write-then-read here, so a
#: read-after-write through an index fails every time, yet short enough for the tests
#: that wait for an index (``eventually``) to stay quick.
GSI_LAG_S = 0.5
#: ... and with each stream record reaching its consumer no sooner than this after the write
#: (``--stream-lag``): Lambda polls a DynamoDB stream's shards about four times a second, so
#: records typically reach the function a few hundred milliseconds after the write.
STREAM_LAG_S = 0.3


class DevStack:
    """``python -m cloudchat_local.dev`` in a subprocess, on free ports, with its own state."""

    def __init__(self, state_dir: Path, *extra_args: str) -> None:
        self.state_dir = state_dir
        self.outputs_path = state_dir.parent / "outputs.json"
        self.args = [
            sys.executable, "-m", "cloudchat_local.dev", "--port", "0", "--tls-port", "0",
            "--moto-port", "0", "--state-dir", str(state_dir), "--outputs", str(self.outputs_path),
            "--gsi-lag", str(GSI_LAG_S), "--stream-lag", str(STREAM_LAG_S), *extra_args,
        ]
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self.outputs: dict[str, Any] = {}

    def start(self) -> DevStack:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            self.args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise AssertionError("the local stack did not start in time:\n" + self.log()) from None
            if line is None:
                raise AssertionError(f"the local stack exited ({self.process.wait()}):\n{self.log()}")
            if line.startswith(READY):
                break
        self.outputs = json.loads(self.outputs_path.read_text())
        return self

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def log(self) -> str:
        return "".join(self.output[-200:])

    def stop(self, sig: int = signal.SIGINT) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("the local stack did not stop:\n" + self.log()) from None
        return int(self.process.returncode)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    # -- clients ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return str(self.outputs["GraphQLApiUrl"])

    @property
    def host(self) -> str:
        return self.url.split("/")[2]

    def user(self, name: str) -> dict[str, Any]:
        return next(u for u in self.outputs["DemoUsers"] if u["name"] == name)

    def token(self, name: str, kind: str = "AccessToken") -> str:
        idp = boto3.client(
            "cognito-idp", endpoint_url=self.outputs["CognitoEndpoint"], region_name=self.outputs["Region"],
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        user = self.user(name)
        result = idp.initiate_auth(
            ClientId=self.outputs["UserPoolClientId"], AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user["username"], "PASSWORD": user["password"]},
        )
        return str(result["AuthenticationResult"][kind])

    def auth(self, token: str) -> AppSyncJWTAuthentication:
        return AppSyncJWTAuthentication(host=self.host, jwt=token)

    def http_client(self, token: str, **transport_args: Any) -> Client:
        url = transport_args.pop("url", self.url)
        return Client(
            transport=AIOHTTPTransport(url=url, auth=self.auth(token), **transport_args),
            fetch_schema_from_transport=False,
        )

    def ws_client(self, token: str, **transport_args: Any) -> tuple[Client, AckingTransport]:
        url = transport_args.pop("url", self.outputs["GraphQLRealtimeUrl"])
        transport = AckingTransport(url=url, auth=self.auth(token), **transport_args)
        return Client(transport=transport, fetch_schema_from_transport=False), transport

    async def execute(self, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        async with self.http_client(token) as session:
            return await session.execute(GraphQLRequest(document(query), variable_values=variables))


class AckingTransport(client_transport.AckingTransport):
    """gql's AppSync transport, reporting each ``start_ack`` it receives (gql drops them; the
    CLI's transport queues them), so a test knows a subscription is live before it
    publishes, instead of sleeping."""

    async def started(self, timeout: float = TIMEOUT, first: asyncio.Task[Any] | None = None) -> str:
        """Waits for the next ``start_ack``. With ``first`` (the task awaiting the
        subscription's first result), a rejected start raises its error at once."""
        ack = asyncio.ensure_future(self.acks.get())
        waiting: set[asyncio.Future[Any]] = {ack} if first is None else {ack, first}
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if ack in done:
            return ack.result()
        ack.cancel()
        if first is not None and first in done:
            first.result()  # raises the subscription's error
            raise AssertionError(f"a result arrived before start_ack: {first.result()}")
        raise TimeoutError(f"no start_ack within {timeout} s")


async def eventually(read: Callable[[], Awaitable[T]], ok: Callable[[T], bool],
                     timeout: float = GSI_LAG_S * 10) -> T:
    """``await read()`` until ``ok`` of its answer, as a client waits for an eventually
    consistent read (a GSI's) to show a write: polled, and bounded."""
    deadline = time.monotonic() + timeout
    while True:
        got = await read()
        if ok(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: last answer {got!r}")
        await asyncio.sleep(GSI_LAG_S / 5)


def poll(read: Callable[[], T], ok: Callable[[T], bool], timeout: float = GSI_LAG_S * 10) -> T:
    """:func:`eventually` for a blocking ``read()`` (browser tests)."""
    deadline = time.monotonic() + timeout
    while True:
        got = read()
        if ok(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: last answer {got!r}")
        time.sleep(GSI_LAG_S / 5)


def run(coro: Any, timeout: float = 60.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def running(dev: DevStack) -> Iterator[DevStack]:
    """A module fixture's body: the stack started, then stopped (cleanly, its IAM use
    recorded for the least-privilege report)."""
    dev.start()
    try:
        yield dev
    finally:
        code = dev.stop()
        record_iam_usage(dev.state_dir)
        assert code == 0, dev.log()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    yield from running(DevStack(tmp_path_factory.mktemp("stack") / "state"))
