"""``cloudchat``: the command-line client (``python -m cloudchat_cli`` or ``cloudchat``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cloudchat_cli import __version__, commands
from cloudchat_cli.errors import CliError, exit_code
from cloudchat_cli.render import Renderer
from cloudchat_client import Authenticator, TokenStore
from cloudchat_client._config import (
    DEFAULT_OUTPUTS,
    Endpoint,
    endpoint_from_outputs,
    endpoint_from_stack,
    load_outputs_file,
)

__all__ = ["build_parser", "main"]

EPILOG = """\
exit codes: 0 ok, 1 error (API errorType, configuration, doctor found a problem),
2 usage, 3 bad credentials or not logged in, 4 stack not reachable, 130 interrupted.
The endpoint comes from .cloudchat/outputs.json (written by `make dev`), --outputs FILE,
or --stack NAME [--region REGION] (a deployed stack's CloudFormation outputs)."""


def _common() -> argparse.ArgumentParser:
    """Options accepted before or after the command (SUPPRESS: a later default never
    overwrites an earlier value)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--outputs", type=Path, default=argparse.SUPPRESS, metavar="FILE",
                        help=f"stack outputs JSON (default: {DEFAULT_OUTPUTS})")
    common.add_argument("--stack", default=argparse.SUPPRESS, metavar="NAME",
                        help="read a deployed CloudFormation stack's outputs")
    common.add_argument("--region", default=argparse.SUPPRESS, help="region of --stack")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output (JSON; JSON lines for tail)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(prog="cloudchat", parents=[common], epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="CloudChat from the command line.")
    parser.add_argument("--version", action="version", version=f"cloudchat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text, description=help_text)

    p = add("login", "sign in (Cognito USER_PASSWORD_AUTH) and store refreshable tokens")
    p.add_argument("username", help="username or email (a demo user's short name works locally)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from stdin (default: $CLOUDCHAT_PASSWORD, else a prompt)")
    add("logout", "forget the stored tokens for this endpoint")
    p = add("conversations", "your conversations, most recent activity first")
    p.add_argument("--limit", type=int, default=20)
    p = add("members", "a conversation's members, by user id (a page; --all follows every page)")
    p.add_argument("conversation_id")
    p.add_argument("--limit", type=int, default=100, help="members a page (at most 100)")
    p.add_argument("--all", action="store_true", help="every member, page after page")
    p.add_argument("--next-token", default=None, help="continue from a previous page")
    p = add("history", "the latest messages of a conversation")
    p.add_argument("conversation_id")
    amount = p.add_mutually_exclusive_group()
    amount.add_argument("--limit", type=int, default=20, help="how many (pages of 100 are fetched as needed)")
    amount.add_argument("--all", action="store_true", help="the whole history")
    p = add("send", "send a message")
    p.add_argument("conversation_id")
    p.add_argument("text")
    p.add_argument("--reply-to", metavar="MESSAGE_ID", help="reply in this message's thread")
    p.add_argument("--mention", action="append", metavar="USER",
                   help="mention a member (id, username or display name; repeatable); "
                        "@name in the text mentions a member too")
    p = add("tail", "follow a conversation live (reconnects and catches up by seq)")
    p.add_argument("conversation_id")
    p.add_argument("--last", type=int, default=10, help="show this many earlier messages first")
    p = add("react", "add (or --remove) a reaction")
    p.add_argument("conversation_id")
    p.add_argument("message_id")
    p.add_argument("emoji")
    p.add_argument("--remove", action="store_true")
    p = add("read", "mark a conversation read up to SEQ (default: its latest message)")
    p.add_argument("conversation_id")
    p.add_argument("seq", type=int, nargs="?")
    p = add("block", "block a user: no DIRECT conversation or group add by them, no notices "
                     "from them, their messages collapsed")
    p.add_argument("user", help="a user id, or a display name or email the directory finds once")
    p = add("unblock", "unblock a user (a no-op when not blocked)")
    p.add_argument("user", help="a user id, or a display name or email the directory finds once")
    add("blocked", "the users you blocked, most recent first")
    p = add("search", "search messages (every word must match; words of 3+ letters match as "
                      "prefixes), in one conversation or your most recently active ones")
    p.add_argument("query")
    p.add_argument("--conversation", metavar="CONVERSATION_ID", help="search this conversation only")
    p.add_argument("--limit", type=int, default=20, help="at most this many hits")
    p = add("seed", "create sample users, conversations, threads and reactions")
    p.add_argument("--users", type=int, default=6)
    p.add_argument("--conversations", type=int, default=4)
    p.add_argument("--messages", type=int, default=12, help="per conversation")
    p.add_argument("--prefix", default="Seed", help="title prefix of the seeded group conversations")
    p.add_argument("--email-domain", default="seed.example.com")
    p = add("doctor", "check delivery across a dropped WebSocket (exit 1 on any loss, repeat or disorder)")
    p.add_argument("conversation_id", help="a conversation of yours to send the test burst to")
    p.add_argument("--count", type=int, default=30, help="messages in the burst")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the catch-up")
    p = add("delete-conversation", "delete a conversation for every member (owners of a group; "
                                   "either member of a direct one): cannot be undone")
    p.add_argument("conversation_id")
    p.add_argument("--yes", action="store_true", help="confirm (else the id is asked for at a terminal)")
    from cloudchat_cli.notices import on_off

    p = add("notifications", "show your notification settings; --email/--push on|off change them")
    p.add_argument("--email", type=on_off, metavar="on|off",
                   help="e-mail notices to your verified address while you are offline")
    p.add_argument("--push", type=on_off, metavar="on|off", help="mobile push to your devices")
    p = add("mails", "the e-mail the local stack sent (its SES, in moto): notices, oldest first")
    p.add_argument("--to", metavar="ADDRESS", help="only the mails to this address")
    p = add("delete-account", "delete your account for good (asks to confirm; --yes in scripts)")
    p.add_argument("--erase-messages", action="store_true",
                   help="also erase your messages (tombstones); by default they stay, from \"Deleted user\"")
    p.add_argument("--yes", action="store_true", help="confirm without a prompt")
    p = add("verify", "black-box check of a stack: temporary users drive the whole API, then are "
                      "deleted (exit 1 if any check fails)")
    from cloudchat_cli.verify import add_arguments

    add_arguments(p)
    return parser


def resolve_endpoint(args: argparse.Namespace) -> Endpoint:
    stack = getattr(args, "stack", None)
    outputs = getattr(args, "outputs", None)
    if stack and outputs:
        raise CliError("give --outputs or --stack, not both")
    if stack:
        return endpoint_from_stack(stack, getattr(args, "region", None))
    path = outputs or DEFAULT_OUTPUTS
    return endpoint_from_outputs(load_outputs_file(path), source=str(path),
                                 region=getattr(args, "region", None))


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    env = os.environ.get("CLOUDCHAT_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        raise CliError("no password: use --password-stdin or set CLOUDCHAT_PASSWORD")
    return getpass.getpass(f"password for {args.username}: ")


def run(args: argparse.Namespace, render: Renderer) -> int:
    if args.command == "verify":
        from cloudchat_cli import verify

        return verify.command(args, render)
    endpoint = resolve_endpoint(args)
    app = commands.App(endpoint, Authenticator(endpoint, TokenStore()), render)
    command = args.command
    if command == "login":
        return commands.login(app, args.username, _password(args))
    if command == "logout":
        return commands.logout(app)
    if command == "conversations":
        return asyncio.run(commands.conversations(app, args.limit))
    if command == "history":
        if not args.all and args.limit < 1:
            raise CliError("--limit must be at least 1")
        return asyncio.run(commands.history(app, args.conversation_id, None if args.all else args.limit))
    if command == "send":
        return asyncio.run(commands.send(app, args.conversation_id, args.text, args.reply_to,
                                         args.mention))
    if command == "tail":
        return asyncio.run(commands.tail(app, args.conversation_id, args.last))
    if command == "react":
        return asyncio.run(commands.react(app, args.conversation_id, args.message_id, args.emoji,
                                          args.remove))
    if command == "read":
        return asyncio.run(commands.read(app, args.conversation_id, args.seq))
    if command == "search":
        from cloudchat_cli.search import search

        return asyncio.run(search(app, args.query, args.conversation, args.limit))
    if command == "seed":
        from cloudchat_cli.seed import SeedPlan, seed

        plan = SeedPlan(users=args.users, conversations=args.conversations, messages=args.messages,
                        prefix=args.prefix, email_domain=args.email_domain)
        return asyncio.run(seed(app, plan))
    if command == "notifications":
        from cloudchat_cli import notices

        return asyncio.run(notices.notifications(app, args.email, args.push))
    if command == "mails":
        from cloudchat_cli import notices

        return notices.mails(app, args.to)
    if command == "delete-account":
        from cloudchat_cli.account import delete_account

        return asyncio.run(delete_account(app, args.erase_messages, args.yes))
    if command == "doctor":
        return asyncio.run(commands.doctor(app, args.conversation_id, args.count, args.timeout))
    if command == "members":
        from cloudchat_cli.members import members

        return asyncio.run(members(app, args.conversation_id, args.limit, args.all,
                                   args.next_token))
    if command in ("block", "unblock", "blocked"):
        from cloudchat_cli import blocks

        if command == "blocked":
            return asyncio.run(blocks.blocked(app))
        return asyncio.run((blocks.block if command == "block" else blocks.unblock)(app, args.user))
    if command == "delete-conversation":
        from cloudchat_cli.delete_conversation import delete_conversation

        return asyncio.run(delete_conversation(app, args.conversation_id, args.yes))
    raise CliError(f"unknown command {command}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    render = Renderer(as_json=bool(getattr(args, "json", False)))
    try:
        return run(args, render)
    except CliError as exc:
        render.error(str(exc))
        return exit_code(exc)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
