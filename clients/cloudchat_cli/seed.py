"""``cloudchat seed``: realistic users, conversations, threads and reactions, in bulk.

Users come from Cognito: on the local stack, created directly in moto with
``cloudchat_local.provision.create_demo_users`` (the outputs' ``AwsEndpointUrl`` and
``UserPoolId``) and then each signs in and writes as themselves; against a deployed stack, with
the ``adminCreateUser`` mutation by the logged-in member of the ``admin`` group, who then
writes every message (the new users only hold an emailed temporary password).

Re-running it is safe: users are found again, GROUP conversations are found by title (in the
conversation list, a GSI read: a group created within about a second may not be listed yet and
would be created again), DIRECT ones are unique per pair, messages carry deterministic
``clientMessageId``s (a repeat returns the original), and reactions are one per user and emoji.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cloudchat_cli.commands import ADD_REACTION, App, send_message
from cloudchat_cli.errors import ApiError, CliError, NotLoggedIn, StackUnreachable
from cloudchat_client import Authenticator, Endpoint, Session, TokenStore
from cloudchat_client._transport import Api

__all__ = ["SeedPlan", "SeedResult", "seed"]

PEOPLE: Sequence[tuple[str, str]] = (
    ("maria", "Maria Garcia"), ("kenji", "Kenji Watanabe"), ("amara", "Amara Okafor"),
    ("lukas", "Lukas Becker"), ("priya", "Priya Natarajan"), ("sofia", "Sofia Rossi"),
    ("diego", "Diego Hernández"), ("ingrid", "Ingrid Larsen"), ("omar", "Omar Haddad"),
    ("chloe", "Chloé Martin"), ("mateo", "Mateo Silva"), ("hana", "Hana Kim"),
    ("noah", "Noah Fischer"), ("leila", "Leila Farahani"), ("tomas", "Tomás Novak"),
    ("aisha", "Aisha Bello"),
)
TOPICS: Sequence[str] = (
    "Weekend hike", "Release 2.4 planning", "Book club", "Office move", "On-call handover",
    "Design review", "Team lunch", "Conference trip", "Bug bash", "Garden allotment",
)
LINES: Sequence[str] = (
    "Morning! Did everyone see the update?", "I can take that one.", "Sounds good to me 👍",
    "Can we push it to Thursday?", "Here's the draft, comments welcome.", "Who's bringing snacks?",
    "I'll be 10 minutes late, start without me.", "Agreed, let's keep it simple.",
    "The numbers look much better this week.", "Has anyone tried the new place on 5th?",
    "Reminder: the deadline is Friday.", "Nice work on this!", "I left a few notes in the doc.",
    "Let's sync after standup.", "Weather looks great for Saturday ☀️", "Shipping it 🚀",
    "Can someone double-check the config?", "I'll send the invite.", "Thanks, that fixed it.",
    "Any objections before I merge?", "Photos from yesterday are in the shared folder.",
    "Let me know if you need a hand.", "Works on my machine 😅", "See you all there!",
)
EMOJI: Sequence[str] = ("👍", "❤️", "😂", "🎉", "👀", "🔥", ":thumbsup:")

#: operations.graphql's operations the seed runs.
_CONVERSATIONS = "Conversations"
_CREATE = "CreateConversation"
_ADMIN_CREATE = "AdminCreateUser"
_UPDATE_PROFILE = "UpdateProfile"
#: How long the seed waits for a user created a moment ago to reach the directory (a GSI).
DIRECTORY_ATTEMPTS = 20
DIRECTORY_RETRY_S = 0.25
_USERS = "Users"


@dataclass(frozen=True)
class SeedPlan:
    users: int = 6
    conversations: int = 4
    messages: int = 12
    prefix: str = "Seed"
    email_domain: str = "seed.example.com"
    password: str | None = None

    def __post_init__(self) -> None:
        if not 2 <= self.users <= len(PEOPLE):
            raise CliError(f"--users must be between 2 and {len(PEOPLE)}")
        if not 1 <= self.conversations <= 200 or not 0 <= self.messages <= 500:
            raise CliError("--conversations must be 1-200 and --messages 0-500")


@dataclass
class SeedResult:
    mode: str
    users: list[dict[str, str]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    messages: int = 0
    replies: int = 0
    reactions: int = 0
    password: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Person:
    name: str
    display_name: str
    user_id: str
    api: Api | None  # None: cannot write as this person (deployed stack)


async def seed(app: App, plan: SeedPlan) -> int:
    endpoint = app.endpoint
    session: Session | None = None
    with contextlib.suppress(NotLoggedIn):
        session = app.auth.current()
    if not endpoint.is_local:
        if session is None:
            raise CliError("cannot seed this stack: it is not a local stack (its outputs have no "
                           "AwsEndpointUrl), so users can only be created with adminCreateUser, and you "
                           "are not logged in; run `cloudchat login` as a member of the admin group")
        if "admin" not in session.groups:
            raise CliError(f"cannot seed this stack: it is not a local stack, and {session.username} is "
                           "not in the admin group, which adminCreateUser requires")
    progress = Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=app.render.err, disable=app.render.as_json,
                        transient=False)
    total = plan.users + plan.conversations + plan.conversations * plan.messages
    with progress:
        bar = progress.add_task("seeding", total=total)

        def step(description: str) -> None:
            progress.update(bar, advance=1, description=description)

        async with contextlib.AsyncExitStack() as stack:
            owner: Api | None = None
            if session is not None:
                owner = await stack.enter_async_context(app.api())
            if endpoint.is_local:
                people = await _local_people(endpoint, plan, stack, step)
                result = SeedResult(mode="local", password=plan.password or _demo_password())
            else:
                assert owner is not None
                assert session is not None
                people = await _deployed_people(owner, plan, step)
                result = SeedResult(mode="deployed (adminCreateUser; messages written by "
                                    f"{session.username})")
            result.users = [{"name": p.display_name, "id": p.user_id,
                             "username": f"{p.name}@{plan.email_domain}"} for p in people]
            me = _Person("me", session.username, session.sub, owner) if session and owner else None
            await _conversations(plan, people, me, result, step)
    _report(app, result)
    return 0


def _demo_password() -> str:
    from cloudchat_local.provision import DEMO_PASSWORD

    return DEMO_PASSWORD


async def _local_people(endpoint: Endpoint, plan: SeedPlan, stack: contextlib.AsyncExitStack,
                        step: Callable[[str], None]) -> list[_Person]:
    from botocore.exceptions import EndpointConnectionError

    from cloudchat_local.provision import DEFAULT_CREDENTIALS, ProvisionError, create_demo_users

    chosen = PEOPLE[: plan.users]
    assert endpoint.aws_endpoint_url is not None
    try:
        created = create_demo_users(
            endpoint.aws_endpoint_url, endpoint.user_pool_id, region=endpoint.region,
            credentials=endpoint.aws_credentials or DEFAULT_CREDENTIALS,
            users={name: () for name, _ in chosen}, password=plan.password or _demo_password(),
            domain=plan.email_domain,
        )
    except ProvisionError as exc:
        raise CliError(f"cannot create users locally: {exc}") from None
    except EndpointConnectionError:
        raise StackUnreachable(endpoint.aws_endpoint_url) from None
    names = dict(chosen)
    people = []
    for user in created:
        # A throwaway store: signing in the seeded users must not replace the caller's session.
        signer = Authenticator(endpoint, _MemoryStore())
        session = signer.login(user.username, plan.password or _demo_password())
        api = await stack.enter_async_context(Api(endpoint, _fixed(session.id_token)))
        await api.execute(_UPDATE_PROFILE, {"displayName": names[user.name]})
        people.append(_Person(user.name, names[user.name], user.sub, api))
        step(f"user {user.name}")
    return people


def _fixed(token: str) -> Callable[[], str]:
    return lambda: token


class _MemoryStore(TokenStore):
    """A TokenStore that keeps nothing on disk."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, Session] = {}

    def get(self, key: str) -> Session | None:
        return self.data.get(key)

    def put(self, key: str, session: Session) -> None:
        self.data[key] = session

    def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None


async def _deployed_people(admin: Api, plan: SeedPlan, step: Callable[[str], None]) -> list[_Person]:
    people = []
    for name, display in PEOPLE[: plan.users]:
        email = f"{name}@{plan.email_domain}"
        try:
            created = await admin.execute(_ADMIN_CREATE, {"email": email, "displayName": display})
            user = created["adminCreateUser"]
        except ApiError as exc:
            if exc.error_type != "Conflict":
                raise
            # The directory by email prefix (emails are only shown to their owner, so the
            # full address as the prefix, narrowed by the name we gave, identifies the user).
            # The directory is a GSI, eventually consistent: a user created a moment ago (by
            # an earlier run) may not be in it yet, so ask again for a bounded time.
            for _ in range(DIRECTORY_ATTEMPTS):
                found = (await admin.execute(_USERS, {"query": email, "limit": 5}))["users"]["items"]
                if found:
                    break
                await asyncio.sleep(DIRECTORY_RETRY_S)
            named = [u for u in found if u["displayName"] == display]
            user = named[0] if len(named) == 1 else (found[0] if len(found) == 1 else None)
            if user is None:
                raise CliError(f"{email} already exists but cannot be told apart in the user "
                               f"directory ({len(found)} matches)") from None
        people.append(_Person(name, display, str(user["id"]), None))
        step(f"user {name}")
    return people


async def _find_groups(api: Api) -> dict[str, str]:
    titles: dict[str, str] = {}
    next_token: str | None = None
    for _ in range(50):
        page = (await api.execute(_CONVERSATIONS, {"limit": 100, "nextToken": next_token}))["conversations"]
        for item in page["items"]:
            if item["kind"] == "GROUP" and item.get("title"):
                titles.setdefault(item["title"], item["id"])
        next_token = page.get("nextToken")
        if not next_token:
            break
    return titles


async def _conversations(plan: SeedPlan, people: list[_Person], me: _Person | None, result: SeedResult,
                         step: Callable[[str], None]) -> None:
    writers = [p for p in people if p.api is not None] or ([me] if me else [])
    if not writers:
        raise CliError("nobody to write messages as")
    known: dict[str, dict[str, str]] = {}
    for i in range(plan.conversations):
        rng = random.Random(f"{plan.prefix}/{i}")
        direct = i % 3 == 2 and len(writers) >= 2
        creator = writers[i % len(writers)]
        assert creator.api is not None
        if direct:
            other = writers[(i + 1) % len(writers)]
            members = [creator, other]
            conv = (await creator.api.execute(_CREATE, {"input": {"memberIds": [other.user_id]}}))
            conversation = _summary(conv["createConversation"])
        else:
            title = f"{plan.prefix}: {TOPICS[i % len(TOPICS)]}" + (f" {i // len(TOPICS) + 1}"
                                                                     if i >= len(TOPICS) else "")
            others = [p for p in people if p is not creator]
            members = [creator, *rng.sample(others, k=min(len(others), rng.randint(2, 4)))]
            if me is not None and me.user_id not in {m.user_id for m in members}:
                members.append(me)
            if creator.name not in known:
                known[creator.name] = await _find_groups(creator.api)
            existing = known[creator.name].get(title)
            if existing:
                conversation = {"id": existing, "kind": "GROUP", "title": title}
            else:
                conversation = _summary((await creator.api.execute(_CREATE, {"input": {
                    "memberIds": [m.user_id for m in members if m is not creator], "title": title,
                }}))["createConversation"])
        step(f"conversation {i + 1}")
        counts = await _messages(plan, conversation["id"], [m for m in members if m.api is not None],
                                 rng, result, step)
        result.conversations.append({**conversation, "members": len(members), "messages": counts})


def _summary(conversation: Mapping[str, Any]) -> dict[str, Any]:
    """What the seed reports of a conversation it created."""
    return {key: conversation[key] for key in ("id", "kind", "title")}


async def _messages(plan: SeedPlan, conversation_id: str, writers: list[_Person], rng: random.Random,
                    result: SeedResult, step: Callable[[str], None]) -> int:
    tag = hashlib.sha256(f"{plan.prefix}/{conversation_id}".encode()).hexdigest()[:16]
    roots: list[str] = []
    sent: list[Mapping[str, Any]] = []
    for j in range(plan.messages):
        author = rng.choice(writers)
        assert author.api is not None
        parent = rng.choice(roots) if roots and j > 2 and rng.random() < 0.2 else None
        message = await send_message(author.api, conversation_id, rng.choice(LINES),
                                     client_message_id=f"seed-{tag}-{j:04d}", parent_id=parent,
                                     retry_rate_limited=True)
        sent.append(message)
        if parent:
            result.replies += 1
        else:
            roots.append(str(message["id"]))
        result.messages += 1
        if sent and rng.random() < 0.35:
            reactor = rng.choice(writers)
            target = rng.choice(sent)
            assert reactor.api is not None
            await reactor.api.execute(ADD_REACTION, {"conversationId": conversation_id,
                                                     "messageId": target["id"], "emoji": rng.choice(EMOJI)})
            result.reactions += 1
        step(f"message {j + 1}")
    return len(sent)


def _report(app: App, result: SeedResult) -> None:
    if app.render.as_json:
        app.render.json(result.as_dict())
        return
    app.render.report(
        [("mode", result.mode), ("users", len(result.users)), ("conversations", len(result.conversations)),
         ("messages", result.messages), ("thread replies", result.replies), ("reactions", result.reactions)],
        result.as_dict(), "seeded",
    )
    if result.password:
        example = result.users[0]["username"]
        app.render.console.print(f"seeded users sign in with password {result.password}, "
                                 f"e.g. `cloudchat login {example}`")
