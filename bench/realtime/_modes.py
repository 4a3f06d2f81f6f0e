"""The three modes: the same workload against the full local stack, the emulator alone (the
echo server) and the Amplify AppSync simulator."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gql.transport.appsync_auth import AppSyncApiKeyAuthentication, AppSyncAuthentication

from bench.harness import (
    ECHO,
    ON_ECHO,
    ON_MESSAGE,
    SCRATCH,
    SEND_MESSAGE,
    children_of,
    create_conversation,
    create_users,
    free_port,
    host,
    jwt_auth,
    local_stack,
    node_version,
    process_role,
    read_ready_line,
    say,
    spawn,
)

from ._profile import attach_profiler, collect_profile, server_env
from ._workload import Target, measure

HERE = Path(__file__).resolve().parent
SIMULATOR_PACKAGE = "@aws-amplify/amplify-appsync-simulator"
SIMULATOR_VERSION = "2.16.20"
# The simulator's own dependency tree hoists graphql@14 next to its graphql@15 ("Cannot use
# GraphQLSchema from another module or realm"): pin one graphql for the whole tree.
SIMULATOR_GRAPHQL = "15.11.0"
SENDS_PER_USER = 100  # full mode: under the default limit of 120 sendMessage a minute per user


def _process_name(pid: int) -> str:
    """A local stack child's name in ``cpu_seconds_during_run``."""
    role = process_role(pid)
    if role == "function_worker":
        return f"function_worker_{pid}"
    return f"{role}_process" if role is not None else f"process_{pid}"


def _setup_full(outputs: dict[str, Any], users: int) -> tuple[list[str], str, str]:
    """Creates ``users`` Cognito users, their profiles and one GROUP conversation of all of
    them. Returns (ID tokens, conversation id, a second conversation id for the probe)."""
    url = str(outputs["GraphQLApiUrl"])
    accounts = create_users(outputs, [f"bench{i:02d}" for i in range(users)], "bench.example.com")
    owner, others = accounts[0].token, [a.sub for a in accounts[1:]]
    conversation = create_conversation(url, owner, others, "bench")["id"]
    # The probe's "other" conversation: the same members, so membership is not what filters.
    other = create_conversation(url, owner, others, "bench-other")["id"]
    return [a.token for a in accounts], str(conversation), str(other)


def _check_message(data: dict[str, Any]) -> int:
    message = data["sendMessage"]
    if message.get("body") is None or message.get("reactions") is None:
        raise ValueError(f"incomplete message: {message}")
    return int(message["seq"])


def mode_full(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    with local_stack(work, env=server_env(work, args.profile), template=args.template) as (child, outputs):
        up_s = time.perf_counter() - started
        say(f"full: local stack up in {up_s:.1f} s ({outputs['GraphQLApiUrl']})")
        users = max(args.subscribers, -(-args.messages // SENDS_PER_USER))
        tokens, conversation, other = _setup_full(outputs, users)
        url = outputs["GraphQLApiUrl"]
        auths: list[AppSyncAuthentication] = [jwt_auth(url, t) for t in tokens]
        pids = {"local_stack_process": child.process.pid}
        for pid in children_of(child.process.pid):
            pids[_process_name(pid)] = pid
        server_pids = dict(pids)
        pids["bench_client_process"] = os.getpid()
        target = Target(
            graphql_url=url,
            realtime_url=outputs["GraphQLRealtimeUrl"],
            sender_auth=auths,
            subscriber_auth=auths[: args.subscribers],
            mutation=SEND_MESSAGE,
            mutation_variables=lambda i, key, body: {"input": {
                "conversationId": conversation, "body": body, "clientMessageId": key}},
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
            attach_profiler(target, server_pids)
        say(f"full: {args.subscribers} subscribers, {args.messages} sends ...")
        result = measure(target, subscribers=args.subscribers, messages=args.messages,
                         limit_s=args.time_limit)
        result["stack_startup_s"] = round(up_s, 2)
        if args.profile:
            result["profiled"] = True
            result["profile"] = collect_profile(work, "full", server_pids)
        result["setup"] = (
            f"{users} distinct Cognito users (moto), all members of one GROUP conversation; "
            f"{args.subscribers} of them subscribe to onMessage, each on its own WebSocket (ID "
            f"token); all {users} send in turn (round robin, <= {SENDS_PER_USER} each: the "
            "default 120 sends/minute/user rate limit stays on) with gql over HTTP; real "
            "resolvers, moto DynamoDB/KMS, the same full Message fragment on both sides"
        )
    return result


def mode_engine(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    child = spawn("echo server", [sys.executable, "-m", "bench.realtime._echo_server",
                                  "--users", str(args.subscribers + 1)], work / "engine.log",
                  env=server_env(work, args.profile))
    try:
        ready = read_ready_line(child, 60)
        auths: list[AppSyncAuthentication] = [jwt_auth(ready["graphql_url"], t) for t in ready["tokens"]]
        server_pids = {"engine_server_process": child.process.pid}
        target = _echo_target(ready["graphql_url"], ready["realtime_url"], auths, server_pids)
        if args.profile:
            attach_profiler(target, server_pids)
        say(f"engine: {args.subscribers} subscribers, {args.messages} sends ...")
        result = measure(target, subscribers=args.subscribers, messages=args.messages,
                         limit_s=args.time_limit)
        if args.profile:
            result["profiled"] = True
            result["profile"] = collect_profile(work, "engine", server_pids)
        result["setup"] = (
            "the CloudChat emulator alone in its own process (uvicorn, same settings as the local "
            "stack): bench/realtime/echo.graphql, Mutation.echo on a NONE data source, onEcho(channel) "
            "filtered by argument; Cognito JWTs (RS256, JWKS over HTTP) for every request"
        )
        return result
    finally:
        child.stop()


def _echo_target(graphql_url: str, realtime_url: str, auths: list[AppSyncAuthentication],
                 pids: dict[str, int]) -> Target:
    def check(data: dict[str, Any]) -> int:
        if data.get("echo") is None:
            raise ValueError(f"no echo in {data}")
        return int(data["echo"]["seq"])

    return Target(
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
    port = free_port()
    child = spawn("simulator", ["node", str(HERE / "simulator_server.cjs"), str(folder), str(port)],
                  work / "simulator.log")
    try:
        ready = read_ready_line(child, 60)
        auths: list[AppSyncAuthentication] = [
            AppSyncApiKeyAuthentication(host=host(ready["graphql_url"]), api_key=ready["api_key"])]
        target = _echo_target(ready["graphql_url"], ready["realtime_url"], auths,
                              {"simulator_process": child.process.pid})
        say(f"simulator {ready['version']}: {args.subscribers} subscribers, {args.messages} sends ...")
        result = measure(target, subscribers=args.subscribers, messages=args.messages,
                         limit_s=args.time_limit)
        result["setup"] = (
            f"{SIMULATOR_PACKAGE}@{ready['version']} (Node {node_version()}) in its own process: "
            "the same bench/realtime/echo.graphql, Mutation.echo on a NONE data source (VTL pass-through), "
            "API-key auth"
        )
        return result
    finally:
        child.stop()

