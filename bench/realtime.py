"""Real-time fan-out benchmark: N subscribers on one conversation, M sequential mutations.

    .venv/bin/python bench/realtime.py [--modes full,engine,simulator] [--subscribers 10]
                                       [--messages 1000] [--profile] [--output FILE]

Prints one JSON document on stdout (progress goes to stderr). Modes, run one after another:

* ``full``: the real local stack (``python -m cloudchat_local.dev`` as a subprocess, on
  ephemeral 127.0.0.1 ports with a temporary state dir: moto server + the AppSync emulator
  running the real resolvers, Cognito JWTs from moto). Ten distinct Cognito users, all
  members of one GROUP conversation, each subscribe to ``onMessage`` over their own
  WebSocket; the same users take turns sending (round robin: 100 sends each for 1,000
  messages, under the default 120 sends/minute/user rate limit, which stays on; more
  messages bring in more sending members).
* ``engine``: the emulator alone (bench/_echo_server.py, its own process) serving
  bench/echo.graphql: ``Mutation.echo`` on a NONE data source, ``Subscription.onEcho``
  filtered on ``channel``, Cognito JWT auth verified against a JWKS over HTTP.
* ``simulator``: the same schema and workload against ``@aws-amplify/amplify-appsync-simulator``
  (pinned, npm-installed into bench/.scratch/, API-key auth); only when ``node`` and ``npm``
  are on PATH.

Every mode uses the same client code in this process: gql ``AIOHTTPTransport`` for the
mutations (one keep-alive session per sender) and gql ``AppSyncWebsocketsTransport`` for
the subscribers (one WebSocket each). Delivery latency is measured from just before a
mutation is sent to when a subscriber's gql iterator yields it, for every (subscriber,
message) pair. Everything listens on and talks to 127.0.0.1 only; every phase has a time
limit and all child processes are stopped on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from _profiling.report import profile_report  # bench/_profiling (this script's folder is on sys.path)
from gql import Client, GraphQLRequest
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.appsync_auth import (
    AppSyncApiKeyAuthentication,
    AppSyncAuthentication,
    AppSyncJWTAuthentication,
)
from gql.transport.appsync_websockets import AppSyncWebsocketsTransport
from graphql import parse

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SCRATCH = BENCH / ".scratch"
SIMULATOR_PACKAGE = "@aws-amplify/amplify-appsync-simulator"
SIMULATOR_VERSION = "2.16.20"
# The simulator's own dependency tree hoists graphql@14 next to its graphql@15 ("Cannot use
# GraphQLSchema from another module or realm"): pin one graphql for the whole tree.
SIMULATOR_GRAPHQL = "15.11.0"

MESSAGE_FIELDS = """
fragment MessageFields on Message {
  id conversationId seq senderId kind body createdAt clientMessageId version
  parentId replyCount lastReplyAt replyUserIds
  reactions { emoji count userIds reactedByMe }
  editedAt deletedAt deletedBy
}"""
SEND_MESSAGE = (
    "mutation Send($input: SendMessageInput!) { sendMessage(input: $input) { ...MessageFields } }"
    + MESSAGE_FIELDS
)
ON_MESSAGE = (
    "subscription OnMessage($conversationId: ID!) "
    "{ onMessage(conversationId: $conversationId) { ...MessageFields } }" + MESSAGE_FIELDS
)
ECHO = "mutation Echo($input: EchoInput!) { echo(input: $input) { channel seq body clientId } }"
ON_ECHO = "subscription OnEcho($channel: ID!) { onEcho(channel: $channel) { channel seq body clientId } }"
SENDS_PER_USER = 100  # full mode: under the default limit of 120 sendMessage a minute per user
BODY_PAD = "lorem ipsum dolor sit amet " * 2  # ~60-character message bodies


def say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM if this benchmark dies, so nothing outlives it."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    """A server process started for one mode."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop in {timeout:.0f} s: killing it")
            self.process.kill()
            self.process.wait(5)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _spawn(name: str, argv: list[str], log_path: Path, *, cwd: Path = REPO,
           env: dict[str, str] | None = None, ready_line: bool = True) -> Child:
    """Starts a server; its stderr (and stdout, unless it announces itself on stdout with
    one JSON line: ``ready_line``) goes to ``log_path``."""
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE if ready_line else log, stderr=log,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    log.close()
    return Child(name, process, log_path)


def _read_ready_line(child: Child, timeout: float) -> dict[str, Any]:
    """The first JSON line the child prints on stdout."""
    assert child.process.stdout is not None
    deadline = time.monotonic() + timeout
    fd = child.process.stdout.fileno()
    os.set_blocking(fd, False)
    buffer = b""
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        with contextlib.suppress(BlockingIOError):
            chunk = os.read(fd, 65536)
            buffer += chunk
            if b"\n" in buffer:
                line = buffer.split(b"\n", 1)[0]
                return dict(json.loads(line))
        time.sleep(0.05)
    raise TimeoutError(f"{child.name} was not ready in {timeout:.0f} s:\n{child.log_tail()}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (0 when unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(entry.name))
    return out


def _descendants_of(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    found, frontier = [], [pid]
    while frontier:
        children = [c for parent in frontier for c in _children_of(parent)]
        found.extend(children)
        frontier = children
    return found


def _process_name(pid: int) -> str:
    """What a child of the local stack is, by its command line."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        command = ""
    if "cloudchat_local._moto_server" in command:
        return "moto_process"
    if "cloudchat_local._consumers" in command:
        return "stream_consumers_process"
    if "cloudchat_local._function_worker" in command:
        return f"function_worker_{pid}"
    return f"process_{pid}"


# --------------------------------------------------------------------------- workload


@dataclass
class Target:
    """What one mode's client side needs: endpoints, auth per user, operations."""

    name: str
    graphql_url: str
    realtime_url: str
    sender_auth: list[AppSyncAuthentication]
    subscriber_auth: list[AppSyncAuthentication]
    mutation: str
    mutation_variables: Callable[[int, str, str], dict[str, Any]]  # (index, key, body)
    subscription: str
    subscription_variables: dict[str, Any]
    decoy_variables: dict[str, Any] | None  # subscription arguments that must match nothing
    key_of: Callable[[dict[str, Any]], str]  # subscription data -> message key
    order_of: Callable[[dict[str, Any]], int]  # subscription data -> position (seq)
    check_response: Callable[[dict[str, Any]], int]  # mutation data -> seq (raises if wrong)
    cpu_pids: dict[str, int] = field(default_factory=dict)
    #: A process whose descendants not in ``cpu_pids`` are counted too (the local stack).
    cpu_tree_root: int | None = None
    on_measure_start: Callable[[], None] | None = None
    on_measure_end: Callable[[], None] | None = None


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


class Subscribers:
    """N gql AppSyncWebsocketsTransport subscribers recording what they receive."""

    def __init__(self, target: Target, count: int) -> None:
        self.target = target
        self.count = count
        self.seen: list[dict[str, float]] = [{} for _ in range(count)]
        self.orders: list[list[tuple[str, int]]] = [[] for _ in range(count)]
        self.errors: list[str] = []
        self.duplicates = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.progress = asyncio.Event()

    def start(self, variables: dict[str, Any] | None = None) -> None:
        for index in range(self.count):
            self.tasks.append(asyncio.create_task(self._run(index, variables)))

    async def _run(self, index: int, variables: dict[str, Any] | None) -> None:
        target = self.target
        transport = AppSyncWebsocketsTransport(
            url=target.realtime_url, auth=target.subscriber_auth[index % len(target.subscriber_auth)],
            connect_timeout=15, close_timeout=2,
        )
        seen = self.seen[index]
        orders = self.orders[index]
        request = GraphQLRequest(parse(target.subscription),
                                 variable_values=variables or target.subscription_variables)
        try:
            async with Client(transport=transport, fetch_schema_from_transport=False) as session:
                async for data in session.subscribe(request):
                    now = time.perf_counter()
                    key = target.key_of(data)
                    if key in seen:
                        self.duplicates += 1
                    else:
                        seen[key] = now
                    orders.append((key, target.order_of(data)))
                    self.progress.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors.append(f"subscriber {index}: {type(exc).__name__}: {exc}")
            self.progress.set()

    def received(self, keys: set[str] | None = None) -> int:
        if keys is None:
            return sum(len(s) for s in self.seen)
        return sum(1 for s in self.seen for k in s if k in keys)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 15)


async def run_workload(target: Target, *, subscribers: int, messages: int,
                       deadline: float) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    senders = [
        Client(transport=AIOHTTPTransport(url=target.graphql_url, auth=auth, timeout=30),
               fetch_schema_from_transport=False)
        for auth in target.sender_auth
    ]
    sessions = []
    subs = Subscribers(target, subscribers)
    result: dict[str, Any] = {}
    try:
        for client in senders:
            sessions.append(await client.connect_async(reconnecting=False))

        mutation = parse(target.mutation)  # once: the client's cost is not what is measured

        async def send(index: int, key: str) -> tuple[float, float, dict[str, Any]]:
            body = f"{key} {BODY_PAD}"
            request = GraphQLRequest(mutation,
                                     variable_values=target.mutation_variables(index, key, body))
            started = time.perf_counter()
            data = await sessions[index % len(sessions)].execute(request)
            return started, time.perf_counter(), data

        # 1. subscribe, then send warm-up messages until every subscriber has seen one (a
        #    subscription is live only once its start_ack is back; gql does not expose it).
        subs.start()
        warm_keys: list[str] = []
        warm_started = time.perf_counter()
        while True:
            if subs.errors:
                raise RuntimeError("subscription failed: " + "; ".join(subs.errors[:3]))
            if time.monotonic() > deadline - 5:
                raise TimeoutError("subscribers did not come up in time")
            key = f"warm-{run_id}-{len(warm_keys):03d}"
            warm_keys.append(key)
            await send(0, key)
            await asyncio.sleep(0.2)
            if all(any(k in s for k in warm_keys) for s in subs.seen):
                break
        subscribe_s = time.perf_counter() - warm_started
        for s in subs.seen:
            s.clear()
        for o in subs.orders:
            o.clear()

        # 2. the measured phase: sequential sends, each awaited before the next.
        sent_at: dict[str, float] = {}
        mutation_latency: list[float] = []
        failures: list[str] = []
        seqs: list[int] = []
        if target.on_measure_start is not None:
            target.on_measure_start()
        first = time.perf_counter()
        for i in range(messages):
            if time.monotonic() > deadline:
                failures.append(f"time limit reached after {i} sends")
                break
            key = f"m-{run_id}-{i:05d}"
            try:
                started, done, data = await send(i, key)
                sent_at[key] = started
                mutation_latency.append(done - started)
                seqs.append(target.check_response(data))
            except Exception as exc:
                failures.append(f"send {i}: {type(exc).__name__}: {exc}"[:300])
        last = time.perf_counter()
        elapsed = last - first
        if target.on_measure_end is not None:
            target.on_measure_end()

        # 3. drain: wait until everything arrived, or nothing arrives for 5 s.
        expected = len(sent_at) * subscribers
        keys = set(sent_at)
        quiet_since = time.monotonic()
        delivered = subs.received(keys)
        hard_stop = deadline + 10
        while delivered < expected and time.monotonic() - quiet_since < 5 and time.monotonic() < hard_stop:
            subs.progress.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(subs.progress.wait(), 0.5)
            now_delivered = subs.received(keys)
            if now_delivered != delivered:
                delivered = now_delivered
                quiet_since = time.monotonic()
        drained = time.perf_counter()

        latencies = [t - sent_at[k] for s in subs.seen for k, t in s.items() if k in sent_at]
        out_of_order = sum(
            sum(1 for a, b in itertools.pairwise([o for k, o in order if k in keys]) if b <= a)
            for order in subs.orders
        )
        per_sub = [sum(1 for k in s if k in keys) for s in subs.seen]
        result = {
            "subscribers": subscribers,
            "messages_sent": len(sent_at),
            "send_failures": len(failures),
            "send_failure_samples": failures[:3],
            "elapsed_s": round(elapsed, 3),
            "mutations_per_s": round(len(sent_at) / elapsed, 1) if elapsed > 0 else None,
            "mutation_latency_ms": {
                "p50": _ms(_pct(mutation_latency, 50)),
                "p99": _ms(_pct(mutation_latency, 99)),
                "mean": _ms(statistics.fmean(mutation_latency)) if mutation_latency else None,
            },
            "delivery_latency_ms": {
                "p50": _ms(_pct(latencies, 50)),
                "p90": _ms(_pct(latencies, 90)),
                "p99": _ms(_pct(latencies, 99)),
                "max": _ms(max(latencies) if latencies else None),
            },
            "delivered": delivered,
            "expected": expected,
            "delivered_over_expected": f"{delivered}/{expected}",
            "lost": expected - delivered,
            "per_subscriber_min_delivered": min(per_sub) if per_sub else 0,
            "duplicate_deliveries": subs.duplicates,
            "out_of_order_deliveries": out_of_order,
            "seq_gaps": _gaps(seqs),
            "drain_after_last_send_s": round(drained - last, 3),
            "subscribe_warmup_s": round(subscribe_s, 3),
            "subscriber_errors": subs.errors[:3],
        }
        await subs.stop()

        # 4. quirk probe: a subscriber whose argument matches none of the messages.
        if target.decoy_variables is not None and time.monotonic() < deadline:
            result["argument_filter_probe"] = await _decoy_probe(target, run_id, send)
        return result
    finally:
        await subs.stop()
        for client in senders:
            with contextlib.suppress(Exception):
                await client.close_async()


async def _decoy_probe(target: Target, run_id: str,
                       send: Callable[[int, str], Any]) -> dict[str, Any]:
    """One subscriber on another channel/conversation, one on the real one; 5 sends."""
    assert target.decoy_variables is not None
    decoy = Subscribers(target, 1)
    real = Subscribers(target, 1)
    decoy.start(target.decoy_variables)
    real.start()
    try:
        probe_keys: list[str] = []
        for attempt in range(50):  # until the real subscriber is live
            key = f"probe-warm-{run_id}-{attempt}"
            await send(0, key)
            await asyncio.sleep(0.2)
            if real.seen[0] or real.errors or decoy.errors:
                break
        await asyncio.sleep(0.3)  # the decoy started at the same time as the real one
        for s in (decoy.seen[0], real.seen[0]):
            s.clear()
        for i in range(5):
            key = f"probe-{run_id}-{i}"
            probe_keys.append(key)
            await send(i, key)
        await asyncio.sleep(1.0)
        keys = set(probe_keys)
        return {
            "sent": len(probe_keys),
            "matching_subscriber_received": real.received(keys),
            "non_matching_subscriber_received": decoy.received(keys),
            "errors": (decoy.errors + real.errors)[:2],
        }
    finally:
        await decoy.stop()
        await real.stop()


def _gaps(seqs: list[int]) -> int | None:
    """Missing seqs between the first and last response (None when the mode has no seq)."""
    if not seqs or any(s < 0 for s in seqs):
        return None
    return (max(seqs) - min(seqs) + 1) - len(set(seqs))


def _measure(target: Target, *, subscribers: int, messages: int, limit_s: float) -> dict[str, Any]:
    cpu_before = {name: _cpu_seconds(pid) for name, pid in target.cpu_pids.items()}
    named = set(target.cpu_pids.values())
    below_before = ({pid: _cpu_seconds(pid) for pid in _descendants_of(target.cpu_tree_root)
                     if pid not in named} if target.cpu_tree_root else {})
    wall = time.perf_counter()
    deadline = time.monotonic() + limit_s
    result = _run_async(run_workload(target, subscribers=subscribers, messages=messages,
                                     deadline=deadline), limit_s + 60)
    wall = time.perf_counter() - wall
    cpu = {name: round(_cpu_seconds(pid) - cpu_before[name], 2) for name, pid in target.cpu_pids.items()}
    if target.cpu_tree_root:
        # Processes the stack started during the run (Lambda-like function workers growing
        # with concurrency, their cold starts included) and grandchildren (stream lanes).
        below = {pid: _cpu_seconds(pid) for pid in _descendants_of(target.cpu_tree_root)
                 if pid not in named}
        cpu["other_stack_processes"] = round(
            sum(now - below_before.get(pid, 0.0) for pid, now in below.items()), 2)
    result["cpu_seconds_during_run"] = {**cpu, "wall": round(wall, 2)}
    if target.cpu_tree_root:
        result["other_stack_processes_at_end"] = len(below)
    return result


def _run_async(coro: Any, timeout: float) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    try:
        import uvloop

        return uvloop.run(bounded())
    except ImportError:
        return asyncio.run(bounded())


# --------------------------------------------------------------------------- modes


def _host(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


@contextlib.contextmanager
def full_stack(work: Path, *, profile: bool, template: Path | None) -> Iterator[tuple[Child, dict[str, Any]]]:
    state = work / "state"
    outputs = work / "outputs.json"
    argv = [sys.executable, "-m", "cloudchat_local.dev", "--port", "0", "--no-tls", "--moto-port", "0",
            "--state-dir", str(state), "--outputs", str(outputs), "--fresh", "--no-seed"]
    if template is not None:
        argv += ["--template", str(template)]
    child = _spawn("local stack", argv, work / "dev.log", env=_server_env(work, profile), ready_line=False)
    try:
        deadline = time.monotonic() + 120
        while not outputs.exists():
            if child.process.poll() is not None:
                raise RuntimeError(f"the local stack exited with {child.process.returncode}:\n"
                                   f"{child.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the local stack did not start in 120 s:\n{child.log_tail()}")
            time.sleep(0.2)
        yield child, json.loads(outputs.read_text())
    finally:
        child.stop(timeout=30)


def _server_env(work: Path, profile: bool) -> dict[str, str]:
    """The environment of a server process; with ``profile``, bench/_profiling/sitecustomize.py
    runs cProfile in each of its threads (and in its Python children: moto)."""
    env = dict(os.environ)
    if profile:
        (work / "profile").mkdir(exist_ok=True)
        env["CLOUDCHAT_BENCH_PROFILE_DIR"] = str(work / "profile")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(BENCH / "_profiling"), env.get("PYTHONPATH")) if p)
    return env


def _attach_profiler(target: Target, pids: dict[str, int]) -> None:
    target.on_measure_start = lambda: _signal_all(list(pids.values()), signal.SIGUSR1)
    target.on_measure_end = lambda: _signal_all(list(pids.values()), signal.SIGUSR2)


def _collect_profile(work: Path, mode: str, pids: dict[str, int]) -> dict[str, Any]:
    folder = work / "profile"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all((folder / f"{pid}.json").exists() for pid in pids.values()):
        time.sleep(0.2)
    report = profile_report(folder, pids)
    kept = SCRATCH / "last-profile" / mode
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(folder, kept)
    report["raw_files"] = str(kept)
    return report


def _graphql_sync(url: str, token: str, query: str,
                  variables: dict[str, Any] | None = None) -> dict[str, Any]:
    import urllib.request

    request = urllib.request.Request(
        url, data=json.dumps({"query": query, "variables": variables or {}}).encode(), method="POST",
        headers={"content-type": "application/json", "authorization": token},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
        document = json.load(response)
    if document.get("errors"):
        raise RuntimeError(f"{query.split('{', 1)[0].strip()}: {document['errors'][0]}")
    return dict(document["data"])


def setup_full(outputs: dict[str, Any], users: int) -> tuple[list[str], list[str], str, str]:
    """Creates ``users`` Cognito users, their profiles and one GROUP conversation of all of
    them. Returns (tokens, subs, conversation id, a second conversation id for the probe)."""
    from cloudchat_local.provision import DEMO_PASSWORD, create_demo_users

    endpoint = outputs["CognitoEndpoint"]
    created = create_demo_users(
        endpoint, outputs["UserPoolId"], region=outputs["Region"],
        credentials=(outputs["IamAccessKeyId"], outputs["IamSecretAccessKey"]),
        users={f"bench{i:02d}": () for i in range(users)}, password=DEMO_PASSWORD,
        domain="bench.example.com",
    )
    idp = boto3.session.Session(
        aws_access_key_id=outputs["IamAccessKeyId"], aws_secret_access_key=outputs["IamSecretAccessKey"],
        region_name=outputs["Region"],
    ).client("cognito-idp", endpoint_url=endpoint)
    tokens = []
    for user in created:
        auth = idp.initiate_auth(
            ClientId=outputs["UserPoolClientId"], AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user.username, "PASSWORD": user.password},
        )["AuthenticationResult"]
        tokens.append(str(auth["IdToken"]))
    url = outputs["GraphQLApiUrl"]
    for token in tokens:
        _graphql_sync(url, token, "query { me { id } }")  # creates the profile
    create = "mutation C($input: CreateConversationInput!) { createConversation(input: $input) { id } }"
    conversation = _graphql_sync(url, tokens[0], create, {"input": {
        "memberIds": [u.sub for u in created[1:]], "title": "bench"}})["createConversation"]["id"]
    # The probe's "other" conversation: the same members, so membership is not what filters.
    other = _graphql_sync(url, tokens[0], create, {"input": {
        "memberIds": [u.sub for u in created[1:]], "title": "bench-other"}})["createConversation"]["id"]
    return tokens, [u.sub for u in created], str(conversation), str(other)


def _check_message(data: dict[str, Any]) -> int:
    message = data["sendMessage"]
    if message.get("body") is None or message.get("reactions") is None:
        raise ValueError(f"incomplete message: {message}")
    return int(message["seq"])


def mode_full(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    with full_stack(work, profile=args.profile, template=args.template) as (child, outputs):
        up_s = time.perf_counter() - started
        say(f"full: local stack up in {up_s:.1f} s ({outputs['GraphQLApiUrl']})")
        users = max(args.subscribers, -(-args.messages // SENDS_PER_USER))
        tokens, _subs, conversation, other = setup_full(outputs, users)
        url = outputs["GraphQLApiUrl"]
        host = _host(url)
        auths: list[AppSyncAuthentication] = [AppSyncJWTAuthentication(host=host, jwt=t) for t in tokens]
        pids = {"local_stack_process": child.process.pid}
        for pid in _children_of(child.process.pid):
            pids[_process_name(pid)] = pid
        server_pids = dict(pids)
        pids["bench_client_process"] = os.getpid()
        target = Target(
            name="full",
            graphql_url=url,
            realtime_url=outputs["GraphQLRealtimeUrl"],
            sender_auth=auths,
            subscriber_auth=auths[: args.subscribers],
            mutation=SEND_MESSAGE,
            mutation_variables=lambda i, key, body: {"input": {
                "conversationId": conversation, "body": body, "clientMessageId": key.replace(".", "-")}},
            subscription=ON_MESSAGE,
            subscription_variables={"conversationId": conversation},
            decoy_variables={"conversationId": other},
            key_of=lambda data: str(data["onMessage"]["clientMessageId"]),
            order_of=lambda data: int(data["onMessage"]["seq"]),
            check_response=_check_message,
            cpu_pids=pids,
            cpu_tree_root=child.process.pid,
        )
        if args.profile:
            _attach_profiler(target, server_pids)
        say(f"full: {args.subscribers} subscribers, {args.messages} sends ...")
        result = _measure(target, subscribers=args.subscribers, messages=args.messages,
                          limit_s=args.time_limit)
        result["stack_startup_s"] = round(up_s, 2)
        if args.profile:
            result["profiled"] = True
            result["profile"] = _collect_profile(work, "full", server_pids)
        result["setup"] = (
            f"{users} distinct Cognito users (moto), all members of one GROUP conversation; "
            f"{args.subscribers} of them subscribe to onMessage, each on its own WebSocket (ID "
            f"token); all {users} send in turn (round robin, <= {SENDS_PER_USER} each: the "
            "default 120 sends/minute/user rate limit stays on) with gql over HTTP; real "
            "resolvers, moto DynamoDB/KMS, the same full Message fragment on both sides"
        )
    return result


def mode_engine(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    child = _spawn("echo server", [sys.executable, str(BENCH / "_echo_server.py"),
                                   "--users", str(args.subscribers + 1)], work / "engine.log",
                   env=_server_env(work, args.profile))
    try:
        ready = _read_ready_line(child, 60)
        host = _host(ready["graphql_url"])
        auths: list[AppSyncAuthentication] = [
            AppSyncJWTAuthentication(host=host, jwt=t) for t in ready["tokens"]]
        server_pids = {"engine_server_process": child.process.pid}
        target = _echo_target("engine", ready["graphql_url"], ready["realtime_url"], auths, server_pids)
        if args.profile:
            _attach_profiler(target, server_pids)
        say(f"engine: {args.subscribers} subscribers, {args.messages} sends ...")
        result = _measure(target, subscribers=args.subscribers, messages=args.messages,
                          limit_s=args.time_limit)
        if args.profile:
            result["profiled"] = True
            result["profile"] = _collect_profile(work, "engine", server_pids)
        result["setup"] = (
            "the CloudChat emulator alone in its own process (uvicorn, same settings as the local "
            "stack): bench/echo.graphql, Mutation.echo on a NONE data source, onEcho(channel) "
            "filtered by argument; Cognito JWTs (RS256, JWKS over HTTP) for every request"
        )
        return result
    finally:
        child.stop()


def _echo_target(name: str, graphql_url: str, realtime_url: str, auths: list[AppSyncAuthentication],
                 pids: dict[str, int]) -> Target:
    def check(data: dict[str, Any]) -> int:
        if data.get("echo") is None:
            raise ValueError(f"no echo in {data}")
        return int(data["echo"]["seq"])

    return Target(
        name=name,
        graphql_url=graphql_url,
        realtime_url=realtime_url,
        sender_auth=auths,
        subscriber_auth=auths,
        mutation=ECHO,
        mutation_variables=lambda i, key, body: {"input": {
            "channel": "room-1", "seq": i + 1, "body": body, "clientId": key}},
        subscription=ON_ECHO,
        subscription_variables={"channel": "room-1"},
        decoy_variables={"channel": "room-2"},
        key_of=lambda data: str(data["onEcho"]["clientId"]),
        order_of=lambda data: int(data["onEcho"]["seq"]),
        check_response=check,
        cpu_pids={**pids, "bench_client_process": os.getpid()},
    )


def _ensure_simulator() -> Path:
    """npm-installs the pinned simulator into bench/.scratch/simulator (once)."""
    folder = SCRATCH / "simulator"
    marker = folder / "node_modules" / "@aws-amplify" / "amplify-appsync-simulator" / "package.json"
    manifest = {
        "name": "bench-simulator",
        "private": True,
        "dependencies": {SIMULATOR_PACKAGE: SIMULATOR_VERSION, "graphql": SIMULATOR_GRAPHQL},
        "overrides": {"graphql": SIMULATOR_GRAPHQL},
    }
    folder.mkdir(parents=True, exist_ok=True)
    wanted = json.dumps(manifest, indent=2) + "\n"
    current = (folder / "package.json").read_text() if (folder / "package.json").exists() else ""
    if marker.exists() and current == wanted and \
            json.loads(marker.read_text()).get("version") == SIMULATOR_VERSION:
        return folder
    (folder / "package.json").write_text(wanted)
    say(f"npm install {SIMULATOR_PACKAGE}@{SIMULATOR_VERSION} into {folder} ...")
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--no-save", "--loglevel=error"],
        cwd=folder, check=True, timeout=600, stdout=subprocess.DEVNULL,
    )
    return folder


def mode_simulator(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    folder = _ensure_simulator()
    port = _free_port()
    child = _spawn("simulator", ["node", str(BENCH / "simulator_server.cjs"), str(folder), str(port)],
                   work / "simulator.log")
    try:
        ready = _read_ready_line(child, 60)
        host = _host(ready["graphql_url"])
        auths: list[AppSyncAuthentication] = [
            AppSyncApiKeyAuthentication(host=host, api_key=ready["api_key"])]
        target = _echo_target("simulator", ready["graphql_url"], ready["realtime_url"], auths,
                              {"simulator_process": child.process.pid})
        say(f"simulator {ready['version']}: {args.subscribers} subscribers, {args.messages} sends ...")
        result = _measure(target, subscribers=args.subscribers, messages=args.messages,
                          limit_s=args.time_limit)
        result["setup"] = (
            f"{SIMULATOR_PACKAGE}@{ready['version']} (Node {_node_version()}) in its own process: "
            "the same bench/echo.graphql, Mutation.echo on a NONE data source (VTL pass-through), "
            "API-key auth"
        )
        return result
    finally:
        child.stop()


# --------------------------------------------------------------------------- profile


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)



# --------------------------------------------------------------------------- main


def _node_version() -> str | None:
    if shutil.which("node") is None:
        return None
    try:
        done = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10)
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict[str, Any]:
    model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model,
        "memory_gib": mem,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "node": _node_version(),
        "client_event_loop": loop,
        "load_average_at_start": _loadavg(),
    }


def _loadavg() -> list[float] | None:
    """1/5/15-minute load averages: other work on the machine skews every number here."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--modes", default="full,engine,simulator",
                        help="comma-separated: full, engine, simulator (default: all)")
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--time-limit", type=float, default=120.0,
                        help="seconds allowed for each mode's measured phase (default 120)")
    parser.add_argument("--profile", action="store_true",
                        help="run the full and engine modes' server processes (local stack, moto, "
                             "echo server) under cProfile and report hotspots (slows them down)")
    parser.add_argument("--output", type=Path, help="also write the JSON document here")
    parser.add_argument("--template", type=Path,
                        help="full mode: run this template.yaml (default: the repository's)")
    args = parser.parse_args(argv)
    if not (1 <= args.subscribers <= 50 and 1 <= args.messages <= 9_000):
        parser.error("--subscribers must be 1..50 and --messages 1..9000")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - {"full", "engine", "simulator"}
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")

    report: dict[str, Any] = {
        "benchmark": "realtime fan-out",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "workload": {
            "subscribers": args.subscribers,
            "messages": args.messages,
            "sends": "sequential (each mutation awaited before the next), over HTTP keep-alive",
            "client": "gql AIOHTTPTransport (mutations) + gql AppSyncWebsocketsTransport "
                      "(one WebSocket per subscriber), all in the benchmark process",
            "delivery_latency": "mutation send start -> subscriber's gql iterator yields it, "
                                "per (subscriber, message)",
        },
        "modes": {},
    }
    runners = {"full": mode_full, "engine": mode_engine, "simulator": mode_simulator}
    with tempfile.TemporaryDirectory(prefix="cloudchat-bench-") as tmp:
        for mode in modes:
            work = Path(tmp) / mode
            work.mkdir()
            if mode == "simulator" and (shutil.which("node") is None or shutil.which("npm") is None):
                report["modes"][mode] = {"skipped": "node/npm are not on PATH"}
                continue
            say(f"--- {mode}")
            try:
                report["modes"][mode] = runners[mode](args, work)
            except Exception as exc:
                say(f"{mode} failed: {type(exc).__name__}: {exc}")
                report["modes"][mode] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}

    report["machine"]["load_average_at_end"] = _loadavg()
    modes_out = report["modes"]
    engine, simulator, full = (modes_out.get(m) or {} for m in ("engine", "simulator", "full"))
    comparison: dict[str, Any] = {}
    if "mutations_per_s" in engine and "mutations_per_s" in simulator:
        comparison = {
            "throughput_ratio_engine_over_simulator": _ratio(engine["mutations_per_s"],
                                                             simulator["mutations_per_s"]),
            "delivery_p99_ratio_engine_over_simulator": _ratio(engine["delivery_latency_ms"]["p99"],
                                                               simulator["delivery_latency_ms"]["p99"]),
            "delivery_p50_ratio_engine_over_simulator": _ratio(engine["delivery_latency_ms"]["p50"],
                                                               simulator["delivery_latency_ms"]["p50"]),
        }
        report["comparison"] = comparison
    targets: dict[str, Any] = {}
    if "mutations_per_s" in full:
        targets["full_at_least_100_msgs_per_s"] = full["mutations_per_s"] >= 100
    if comparison:
        throughput = comparison["throughput_ratio_engine_over_simulator"]
        p99 = comparison["delivery_p99_ratio_engine_over_simulator"]
        targets["engine_throughput_at_least_simulator"] = throughput is not None and throughput >= 1
        targets["engine_p99_no_worse_than_simulator"] = p99 is not None and p99 <= 1
    measured = [m for m in modes_out.values() if "lost" in m]
    if measured:
        targets["zero_lost_deliveries"] = all(m["lost"] == 0 for m in measured)
    report["targets_met"] = targets
    report["notes"] = [
        "All traffic is on 127.0.0.1. Client and servers share this machine's CPUs "
        "(full mode: benchmark client, local stack and moto are three processes).",
        "simulator quirks: it ignores subscription arguments (every onEcho subscriber gets every "
        "echo; see argument_filter_probe.non_matching_subscriber_received) and publishes the "
        "resolver result rather than the mutation's selection set. It runs with API-key auth; "
        "the engine verifies an RS256 JWT on every request and subscription start.",
        "full mode: the local stack's default 120 sendMessage/minute/user rate limit stays on; "
        f"members take turns sending, at most {SENDS_PER_USER} sends each.",
    ]
    document = json.dumps(report, indent=2)
    print(document)
    if args.output:
        args.output.write_text(document + "\n")
    return 0 if all(("error" not in m) for m in modes_out.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
