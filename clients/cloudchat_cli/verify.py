"""``cloudchat verify`` / ``make verify STACK=name [REGION=r]``: the black-box check of a stack.

It reads the stack's outputs (CloudFormation's, or the local stack's ``outputs.json``), creates
three temporary Cognito users through the admin API, drives the API tier as a client would
(:mod:`cloudchat_cli.verify_checks`), then cleans up whatever happened: the users leave the
group conversation and are deleted. Every step is a named check with its status, duration and
error; the run passes (exit 0) only if every check passed. Each check is bounded by a timeout,
so a slow or broken stack fails checks instead of hanging.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from cloudchat_cli.render import Renderer
from cloudchat_cli.verify_checks import (
    ON_MESSAGE,
    ON_USER_EVENT,
    SEND,
    SINCE,
    Scenario,
    page_after,
    send_input,
)
from cloudchat_cli.verify_run import FAIL, PASS, Check, Report, Runner
from cloudchat_cli.verify_target import Target, target_from_file, target_from_stack
from cloudchat_cli.verify_users import TempUsers, run_prefix

if TYPE_CHECKING:
    from types_boto3_cognito_idp import CognitoIdentityProviderClient

__all__ = ["add_arguments", "command", "render_report", "resolve_target", "verify"]

DEFAULT_TIMEOUT = 30.0
DEFAULT_CHANNEL_TIMEOUT = 60.0
MARKS = {PASS: ("PASS", "green"), FAIL: ("FAIL", "bold red"), "skip": ("SKIP", "yellow")}


async def verify(target: Target, *, timeout: float = DEFAULT_TIMEOUT,
                 channel_timeout: float = DEFAULT_CHANNEL_TIMEOUT,
                 admin: Callable[[], CognitoIdentityProviderClient] | None = None,
                 on_done: Callable[[Check], None] | None = None) -> Report:
    """Runs every check against ``target``; cleanup runs whatever happened before it."""
    started = time.monotonic()
    prefix = run_prefix()
    report = Report(target=target.describe(), prefix=prefix)
    run = Runner(report, timeout, on_done)
    users = TempUsers(target.endpoint, prefix, admin=admin)
    s = Scenario(target, users, run, channel_timeout=channel_timeout)
    try:
        await _checks(s, run)
    finally:
        await _cleanup(s, run, users, report)
        report.seconds = time.monotonic() - started
    return report


async def _checks(s: Scenario, run: Runner) -> None:
    users, signed, profiles, convs = ("create temporary users", "sign in", "first request (profiles)",
                                      "createConversation GROUP + DIRECT")
    await run.check(users, "setup", s.create_users)
    await run.check(signed, "setup", s.sign_in, needs=[users])
    await run.check(profiles, "setup", s.profiles, needs=[signed])
    await run.check(convs, "api", s.conversations, needs=[profiles])
    await run.check("conversations list (GSI)", "api", s.listed, needs=[convs])
    sub, send = "subscribe onMessage + onUserEvent", "sendMessage arrives live"
    await run.check(sub, "realtime", s.subscribe, needs=[convs])
    await run.check(send, "realtime", s.send_live, needs=[sub])
    await run.check("messages page + messagesSince", "api", s.pages, needs=[send])
    await run.check("retry with the same clientMessageId", "api", s.retry, needs=[send])
    await run.check("thread reply", "api", s.thread, needs=[send])
    await run.check("addReaction / removeReaction", "realtime", s.reactions, needs=[send])
    await run.check("markRead, readReceipts, unreadCount", "api", s.receipts, needs=[send])
    await run.check("DIRECT message", "api", s.direct_message, needs=[convs])
    await run.check("upload, attach, download", "api", s.upload, needs=[convs])
    await run.check("per-user channel (onUserEvent)", "realtime", s.user_channel, needs=[send],
                    timeout=s.channel_timeout)
    await run.check("non-member cannot read (Forbidden)", "denial",
                    lambda: s.denied(SINCE, page_after(s.group, 0), "Forbidden"), needs=[convs])
    await run.check("non-member cannot send (Forbidden)", "denial",
                    lambda: s.denied(SEND, {"input": send_input(s.group, "let me in")}, "Forbidden"),
                    needs=[convs])
    await run.check("non-member cannot subscribe (Forbidden)", "denial",
                    lambda: s.subscribe_denied(ON_MESSAGE, {"conversationId": s.group}), needs=[convs])
    await run.check("another user's channel refused (Forbidden)", "denial",
                    lambda: s.subscribe_denied(ON_USER_EVENT, {"userId": s.b.sub if s.b else ""}),
                    needs=[profiles])
    await run.check("a block refuses a DIRECT conversation (Forbidden)", "denial", s.blocking,
                    needs=[profiles])
    await run.check("no token refused (401)", "denial", lambda: s.http_refused(None))
    await run.check("forged token refused (401)", "denial", lambda: s.http_refused(s.forged_token()))
    await run.check("forged token refused (WebSocket)", "denial", s.websocket_refused)


async def _cleanup(s: Scenario, run: Runner, users: TempUsers, report: Report) -> None:
    await run.check("close connections", "cleanup", s.close)
    if s.group:
        await run.check("leave the group conversation", "cleanup", s.leave)

    async def delete() -> str:
        left = await asyncio.to_thread(users.delete)
        if left:
            report.left_behind.append(f"Cognito users {', '.join(left)} (delete them with "
                                      "`aws cognito-idp admin-delete-user`)")
            raise RuntimeError(f"could not delete {', '.join(left)}")
        return f"{len(users.users)} deleted" if users.users else "none were created"

    await run.check("delete temporary users", "cleanup", delete)
    if s.group:
        gone = "its members gone" if run.passed("leave the group conversation") else "its members still in it"
        report.left_behind.append(f"group conversation {s.group} with its messages and the uploaded "
                                  f"file ({gone}; the API has no deleteConversation yet)")
    if s.direct:
        report.left_behind.append(f"DIRECT conversation {s.direct} (a DIRECT conversation cannot be left, "
                                  "and the API has no deleteConversation yet)")
    if users.users and run.passed("first request (profiles)"):
        report.left_behind.append(f"the profiles of {len(users.users)} deleted users "
                                  f"({users.prefix}-*) in the table (no API deletes a profile)")


# -- command line ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds each check may take (default: %(default)s)")
    parser.add_argument("--channel-timeout", type=float, default=DEFAULT_CHANNEL_TIMEOUT,
                        help="seconds to wait for the per-user channel's event, which the table's "
                             "stream consumer publishes (default: %(default)s)")
    parser.add_argument("--report", type=Path, metavar="FILE",
                        help="also write the JSON report to FILE")


def resolve_target(args: argparse.Namespace) -> Target:
    from cloudchat_cli.errors import CliError

    stack, outputs = getattr(args, "stack", None), getattr(args, "outputs", None)
    if stack and outputs:
        raise CliError("give --outputs or --stack, not both")
    region = getattr(args, "region", None)
    return target_from_stack(stack, region) if stack else target_from_file(outputs, region)


def command(args: argparse.Namespace, render: Renderer) -> int:
    from cloudchat_cli.errors import CliError

    if args.timeout <= 0 or args.channel_timeout <= 0:
        raise CliError("--timeout and --channel-timeout must be positive")
    target = resolve_target(args)
    if not render.as_json:
        where = f"stack {target.stack} ({target.endpoint.region})" if target.stack else target.endpoint.source
        render.info(f"verifying {where}: {target.endpoint.graphql_url}")
    report = asyncio.run(verify(target, timeout=args.timeout, channel_timeout=args.channel_timeout,
                                on_done=None if render.as_json else _progress(render)))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n",
                               encoding="utf-8")
    render_report(report, render)
    return 0 if report.ok else 1


def _progress(render: Renderer) -> Callable[[Check], None]:
    def done(check: Check) -> None:
        mark, style = MARKS[check.status]
        render.err.print(Text(f"  {mark} {check.name} ({check.seconds:.2f} s)", style=style))
    return done


def render_report(report: Report, render: Renderer) -> None:
    if render.as_json:
        render.json(report.as_dict())
        return
    table = Table(title=f"cloudchat verify: {report.target.get('graphqlUrl')}", title_justify="left")
    for column in ("#", "phase", "check", "result", "time", "detail / error"):
        table.add_column(column, overflow="fold", no_wrap=column in {"#", "result", "time"})
    for i, check in enumerate(report.checks, 1):
        mark, style = MARKS[check.status]
        table.add_row(str(i), check.phase, check.name, Text(mark, style=style), f"{check.seconds:.2f} s",
                      check.error or check.detail or "")
    render.console.print(table)
    counts = report.counts()
    verdict = "all checks passed" if report.ok else "FAILED"
    render.console.print(Text(f"{verdict}: {counts[PASS]} passed, {counts[FAIL]} failed, {counts['skip']} "
                              f"skipped in {report.seconds:.1f} s (run {report.prefix})",
                              style="bold green" if report.ok else "bold red"))
    for item in report.left_behind:
        render.console.print(Text(f"left behind: {item}"))
