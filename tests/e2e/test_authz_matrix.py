"""The authorization matrix, generated from schema.graphql: every Query, Mutation and
Subscription field by every kind of caller is one named test (``Type.field-caller``), run through
real gql clients against the local stack (HTTP for queries and mutations, the AppSync WebSocket
for subscriptions: a refused subscription must be an error, never silence).

A field with no row in ``EXPECTED`` (or no request in ``REQUESTS``) fails: adding a field to the
schema without deciding who may call it breaks this module. Denied mutations on a conversation
must also leave it exactly as it was.

Then the IDOR checks: ids of a conversation the caller is not in, message ids moved between
conversations, another user's ``nextToken``, another user's ``onUserEvent`` channel, an upload of
another conversation attached to a message, and Cognito callers of the IAM-only publish.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from gql import Client, GraphQLRequest
from gql.transport.appsync_auth import AppSyncAuthentication
from graphql import GraphQLInputObjectType, get_named_type

from ._matrix import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    OK,
    UNAUTHENTICATED,
    UNAUTHORIZED,
    Answer,
    HostOnly,
    User,
    create_user,
    flip_signature_bit,
    http,
    iam_auth,
    jwt_auth,
    root_fields,
    sign_in,
    subscribe,
    ws_transport,
)
from .conftest import GSI_LAG_S, TIMEOUT, DevStack, eventually, run

pytestmark = pytest.mark.e2e

FIELDS = root_fields()

# --------------------------------------------------------------------------- callers

ANONYMOUS = "anonymous"  # no Authorization header at all
BAD_TOKEN = "bad_token"  # a real access token with one signature bit flipped
NON_MEMBER = "non_member"  # carol: never in the conversation
REMOVED = "removed_member"  # dave: added with addMembers, then removeMember
MEMBER = "member"  # bob: role MEMBER
CONV_ADMIN = "conversation_admin"  # erin: role ADMIN (setMemberRole)
OWNER = "owner"  # alice: created the conversation (OWNER)
MODERATOR = "global_moderator"  # mod: Cognito group "moderator", not in the conversation
ADMIN = "global_admin"  # root: Cognito group "admin", not in the conversation
IAM = "iam"  # SigV4 with the stack's IAM credentials (what the stream consumer uses)

CALLERS = (ANONYMOUS, BAD_TOKEN, NON_MEMBER, REMOVED, MEMBER, CONV_ADMIN, OWNER, MODERATOR, ADMIN, IAM)
USER_OF = {NON_MEMBER: "carol", REMOVED: "dave", MEMBER: "bob", CONV_ADMIN: "erin", OWNER: "alice",
           MODERATOR: "mod", ADMIN: "root"}

# --------------------------------------------------------------------------- the table

# ok: answered with data (subscriptions: start_ack) · 401: HTTP 401 / connection_error
# UnauthorizedException · UNA: errorType Unauthorized (AppSync's @aws_* field authorization) ·
# FB: Forbidden · NF: NotFound · BR: BadRequest
_CODES = {"ok": OK, "401": UNAUTHENTICATED, "UNA": UNAUTHORIZED, "FB": FORBIDDEN, "NF": NOT_FOUND,
          "BR": BAD_REQUEST}
_TABLE = """
field                            anonymous bad_token non_member removed_member member conversation_admin owner global_moderator global_admin iam
Query.me                         401 401  ok ok ok ok ok ok ok UNA
Query.users                      401 401  ok ok ok ok ok ok ok UNA
Query.usersByIds                 401 401  ok ok ok ok ok ok ok UNA
Query.presence                   401 401  FB FB ok ok ok FB FB UNA
Query.conversation               401 401  FB FB ok ok ok FB FB UNA
Query.conversations              401 401  ok ok ok ok ok ok ok UNA
Query.messages                   401 401  FB FB ok ok ok FB FB UNA
Query.messagesSince              401 401  FB FB ok ok ok FB FB UNA
Query.thread                     401 401  FB FB ok ok ok FB FB UNA
Query.editHistory                401 401  FB FB FB ok ok FB FB UNA
Query.readReceipts               401 401  FB FB ok ok ok FB FB UNA
Query.members                    401 401  FB FB ok ok ok FB FB UNA
Query.reportedMessages           401 401  UNA UNA UNA UNA UNA ok ok UNA
Query.searchMessages             401 401  FB FB ok ok ok FB FB UNA
Mutation.updateProfile           401 401  ok ok ok ok ok ok ok UNA
Mutation.adminCreateUser         401 401  UNA UNA UNA UNA UNA UNA ok UNA
Mutation.renameConversation      401 401  FB FB FB ok ok FB FB UNA
Mutation.registerDevice          401 401  BR BR BR BR BR BR BR UNA
Mutation.muteConversation        401 401  FB FB ok ok ok FB FB UNA
Mutation.heartbeat               401 401  ok ok ok ok ok ok ok UNA
Mutation.createConversation      401 401  ok ok ok ok ok ok ok UNA
Mutation.sendMessage             401 401  FB FB ok ok ok FB FB UNA
Mutation.editMessage             401 401  FB FB FB FB ok FB FB UNA
Mutation.deleteMessage           401 401  FB FB FB ok ok ok ok UNA
Mutation.addReaction             401 401  FB FB ok ok ok FB FB UNA
Mutation.removeReaction          401 401  FB FB ok ok ok FB FB UNA
Mutation.addMembers              401 401  FB FB FB ok ok FB FB UNA
Mutation.removeMember            401 401  FB FB FB ok ok FB FB UNA
Mutation.leaveConversation       401 401  FB FB ok ok BR FB FB UNA
Mutation.setMemberRole           401 401  FB FB FB FB ok FB FB UNA
Mutation.publishUserEvent        401 401  UNA UNA UNA UNA UNA UNA UNA ok
Mutation.requestUpload           401 401  FB FB ok ok ok FB FB UNA
Mutation.reportMessage           401 401  FB FB ok ok ok FB FB UNA
Mutation.markRead                401 401  FB FB ok ok ok FB FB UNA
Mutation.markDelivered           401 401  FB FB ok ok ok FB FB UNA
Mutation.sendTyping              401 401  FB FB ok ok ok FB FB UNA
Mutation.updateNotificationSettings 401 401  ok ok ok ok ok ok ok UNA
Subscription.onMessage           401 401  FB FB ok ok ok FB FB UNA
Subscription.onReceipt           401 401  FB FB ok ok ok FB FB UNA
Subscription.onTyping            401 401  FB FB ok ok ok FB FB UNA
Subscription.onUserEvent         401 401  ok ok ok ok ok ok ok UNA
Subscription.onMembershipChange  401 401  FB FB ok ok ok FB FB UNA
Query.blockedUsers               401 401  ok ok ok ok ok ok ok UNA
Mutation.blockUser               401 401  ok ok ok ok ok ok ok UNA
Mutation.unblockUser             401 401  ok ok ok ok ok ok ok UNA
Mutation.deleteConversation      401 401  FB FB FB FB ok FB FB UNA
Mutation.deleteAccount           401 401  ok ok ok ok ok ok ok UNA
Mutation.adminDeleteUser         401 401  UNA UNA UNA UNA UNA UNA ok UNA
"""
# Notes on the rows that are not plain "members only" / "anyone signed in":
# - presence: of erin, who shares a conversation with the members only.
# - editHistory / editMessage / deleteMessage: of a message the OWNER wrote. Only its author
#   edits; author and conversation owners/admins see history; deletion is also open to the
#   global moderator and admin groups, without membership (moderation).
# - registerDevice: push is not configured on the local stack, so BadRequest is the designed
#   answer for everyone signed in (nothing conversation-scoped to authorize).
# - leaveConversation: the last OWNER cannot leave while others remain (BadRequest).
# - updateNotificationSettings: the caller's own settings only (there is no user argument);
#   every cast member's address is verified, and the local stack sends e-mail notices.
# - reportedMessages / adminCreateUser: @aws_cognito_user_pools(cognito_groups) fields.
# - blockUser / unblockUser / blockedUsers: the caller's own blocks (of gus, who calls nothing
#   here): anyone signed in; who a block binds is tested in test_blocks.py (e2e and integration).
# - deleteConversation: a GROUP's owners only (either member of a DIRECT: tests/e2e/test_shred.py);
#   the owner's case deletes a world of its own.
# - deleteAccount: anyone signed in deletes their own account; it depends on the identity and
#   its groups only, so each case deletes a stand-in made for it in the caller's groups (the
#   cast stays). adminDeleteUser: the admin group only (a cognito_groups field), of a stand-in.
# - publishUserEvent: @aws_iam only. Every other field is Cognito-only (no @aws_iam), so IAM
#   gets Unauthorized there.


def _parse_table(text: str) -> dict[str, dict[str, str]]:
    lines = [ln.split() for ln in text.strip().splitlines()]
    header, rows = lines[0][1:], lines[1:]
    table: dict[str, dict[str, str]] = {}
    for row in rows:
        assert len(row) == len(header) + 1, f"row {row[0]} has {len(row) - 1} cells, not {len(header)}"
        assert row[0] not in table, f"{row[0]} appears twice"
        table[row[0]] = {caller: _CODES[cell] for caller, cell in zip(header, row[1:], strict=True)}
    return table


EXPECTED = _parse_table(_TABLE)

# --------------------------------------------------------------------------- fixtures


@dataclass
class Cast:
    users: dict[str, User]
    tokens: dict[str, str]
    bad_token: str
    iam: AppSyncAuthentication

    def sub(self, name: str) -> str:
        return self.users[name].sub


@dataclass
class World:
    """A GROUP conversation: owner alice, admin erin, members bob and fred, dave removed."""

    cid: str
    author: str  # who writes fresh messages here
    lead: dict[str, Any] = field(default_factory=dict)  # alice's message, a thread root
    replies: list[dict[str, Any]] = field(default_factory=list)  # bob's replies to it
    dave_msg: dict[str, Any] = field(default_factory=dict)  # written before dave was removed


MSG = "id conversationId seq senderId kind body version parentId"
CONV = "id kind title lastSeq memberCount peerId myRole"
CHANGE = "conversationId action actorId userIds role memberCount message { id seq kind }"


def cmid() -> str:
    return uuid.uuid4().hex[:16]


#: When a request that may write a report was last made: reportedMessages reads an index (GSI2),
#: which shows a write only up to GSI_LAG_S later, so a snapshot waits for it (see snapshot()).
_LAST_REPORT_WRITE = [0.0]


def _may_write_a_report(query: str) -> None:
    if "reportMessage" in query:
        _LAST_REPORT_WRITE[0] = time.monotonic()


async def call(stack: DevStack, cast: Cast, name: str, query: str, **variables: Any) -> dict[str, Any]:
    """As a cast member; anything but data is a broken fixture."""
    answer = await http(stack, jwt_auth(stack, cast.tokens[name]), query, variables)
    _may_write_a_report(query)
    assert answer.outcome == OK, f"fixture request as {name} failed: {answer}"
    return dict(answer.data)


async def send(stack: DevStack, cast: Cast, name: str, cid: str, body: str, **extra: Any) -> dict[str, Any]:
    q = f"mutation($i: SendMessageInput!) {{ sendMessage(input: $i) {{ {MSG} }} }}"
    data = await call(stack, cast, name, q, i={"conversationId": cid, "body": body, "clientMessageId": cmid(), **extra})
    return dict(data["sendMessage"])


async def build_world(stack: DevStack, cast: Cast, *, messages: bool = True) -> World:
    s = cast.sub
    cid = (await call(stack, cast, "alice", "mutation($i: CreateConversationInput!) { createConversation(input: $i) { id } }",
                      i={"memberIds": [s("erin"), s("bob"), s("fred")], "title": "matrix"}))["createConversation"]["id"]
    await call(stack, cast, "alice", "mutation($c: ID!, $u: ID!) { setMemberRole(conversationId: $c, userId: $u, role: ADMIN) { action } }",
               c=cid, u=s("erin"))
    await call(stack, cast, "alice", "mutation($c: ID!, $u: [ID!]!) { addMembers(conversationId: $c, userIds: $u) { action } }",
               c=cid, u=[s("dave")])
    world = World(cid=cid, author="alice")
    if messages:
        world.dave_msg = await send(stack, cast, "dave", cid, "dave was here")
    await call(stack, cast, "alice", "mutation($c: ID!, $u: ID!) { removeMember(conversationId: $c, userId: $u) { action } }",
               c=cid, u=s("dave"))
    if messages:
        world.lead = await send(stack, cast, "alice", cid, "the lead message")
        world.replies = [await send(stack, cast, "bob", cid, f"reply {i}", parentId=world.lead["id"]) for i in (1, 2)]
    # Who shares a conversation with whom (presence) is read from an index, eventually
    # consistent: wait, as a client would, until the members' entries are in it.
    for name in ("alice", "bob"):
        await eventually(
            lambda name=name: http(stack, jwt_auth(stack, cast.tokens[name]),
                                   "query($u: [ID!]!) { presence(userIds: $u) { userId } }", {"u": [s("erin")]}),
            lambda answer: answer.outcome == OK)
    return world


@pytest.fixture(scope="module")
def cast(stack: DevStack) -> Cast:
    users = {name: User(name, stack.user(name)["username"], stack.user(name)["sub"], tuple(stack.user(name)["groups"]))
             for name in ("alice", "bob", "carol", "mod")}
    # dave: the removed member, erin: conversation admin, fred: a second plain member (the one
    # removed / promoted), gus: the one added, root: the "admin" group (made here: no demo user).
    for name, groups in (("dave", ()), ("erin", ()), ("fred", ()), ("gus", ()), ("root", ("admin",))):
        users[name] = create_user(stack, name, *groups)
    tokens = {name: stack.token(name) for name in ("alice", "bob", "carol", "mod")}
    tokens.update({name: sign_in(stack, users[name].username) for name in ("dave", "erin", "fred", "gus", "root")})
    made = Cast(users, tokens, bad_token=flip_signature_bit(tokens["alice"]), iam=iam_auth(stack))

    async def profiles() -> None:  # a profile appears on a user's first request
        for name in users:
            me = await call(stack, made, name, "{ me { id } }")
            assert me["me"]["id"] == users[name].sub

    run(profiles())
    return made


class Worlds:
    """The conversations the cases run in: one shared by most fields, one for the fields that
    write a message per case, and a new one for each allowed membership change (refused ones
    leave the shared one as it was, which the snapshot checks)."""

    OWN_WORLD = {"Mutation.sendMessage": "messages", "Mutation.editMessage": "messages",
                 "Mutation.deleteMessage": "messages"}

    def __init__(self, stack: DevStack, cast: Cast) -> None:
        self.stack, self.cast = stack, cast
        self._made: dict[str, World] = {}
        self.snapshots: dict[str, dict[str, Any]] = {}  # last state seen, per conversation

    async def for_case(self, name: str, expected: str) -> World:
        if name in MEMBERSHIP_CHANGES and expected == OK:
            return await build_world(self.stack, self.cast, messages=False)
        key = self.OWN_WORLD.get(name, "shared")
        if key not in self._made:
            self._made[key] = await build_world(self.stack, self.cast)
        return self._made[key]


@pytest.fixture(scope="module")
def worlds(stack: DevStack, cast: Cast) -> Worlds:
    return Worlds(stack, cast)


# --------------------------------------------------------------------------- requests


@dataclass
class Ctx:
    stack: DevStack
    cast: Cast
    caller: str
    world: World  # conversation ids come from here
    messages: World  # message ids come from here (another conversation in the IDOR checks)
    wrote: bool = False  # the request builder changed a conversation
    token: str | None = None  # the request goes with this token instead (a stand-in's)

    @property
    def me(self) -> str:
        """The caller's user id (callers without one: alice's)."""
        return self.cast.sub(USER_OF.get(self.caller, "alice"))

    async def fresh_message(self) -> dict[str, Any]:
        self.wrote = True
        return await send(self.stack, self.cast, self.messages.author, self.messages.cid, "fresh")


Request = tuple[str, dict[str, Any]]
REQUESTS: dict[str, Callable[[Ctx], Awaitable[Request]]] = {}
MEMBERSHIP_CHANGES = {"Mutation.addMembers", "Mutation.removeMember", "Mutation.leaveConversation",
                      "Mutation.setMemberRole"}
MEMBERSHIP_CHANGES.add("Mutation.deleteConversation")  # (an allowed case needs its own world too)


def request(name: str) -> Callable[[Callable[[Ctx], Awaitable[Request]]], Callable[[Ctx], Awaitable[Request]]]:
    def register(fn: Callable[[Ctx], Awaitable[Request]]) -> Callable[[Ctx], Awaitable[Request]]:
        assert name not in REQUESTS, name
        REQUESTS[name] = fn
        return fn

    return register


def static(name: str, query: str, **variables: Callable[[Ctx], Any]) -> None:
    async def build(ctx: Ctx) -> Request:
        return query, {k: v(ctx) for k, v in variables.items()}

    request(name)(build)


C: Callable[[Ctx], Any] = lambda ctx: ctx.world.cid
LEAD: Callable[[Ctx], Any] = lambda ctx: ctx.messages.lead["id"]

static("Query.me", "{ me { id displayName } }")
static("Query.users", "{ users(limit: 5) { items { id displayName } nextToken } }")
static("Query.usersByIds", "query($u: [ID!]!) { usersByIds(ids: $u) { id displayName email } }",
       u=lambda ctx: [ctx.cast.sub("erin"), ctx.cast.sub("alice")])
static("Query.presence", "query($u: [ID!]!) { presence(userIds: $u) { userId online lastSeen } }",
       u=lambda ctx: [ctx.cast.sub("erin")])
static("Query.conversation", f"query($c: ID!) {{ conversation(id: $c) {{ {CONV} }} }}", c=C)
static("Query.conversations", "{ conversations(limit: 5) { items { id } nextToken } }")
static("Query.messages", f"query($c: ID!) {{ messages(conversationId: $c, limit: 5) {{ items {{ {MSG} }} nextToken }} }}", c=C)
static("Query.messagesSince", f"query($c: ID!) {{ messagesSince(conversationId: $c, afterSeq: 0) {{ items {{ {MSG} }} }} }}", c=C)
static("Query.thread", f"query($c: ID!, $r: ID!) {{ thread(conversationId: $c, rootId: $r) {{ items {{ {MSG} }} nextToken }} }}",
       c=C, r=LEAD)
static("Query.editHistory", "query($c: ID!, $m: ID!) { editHistory(conversationId: $c, messageId: $m) { version body at } }",
       c=C, m=LEAD)
static("Query.readReceipts", "query($c: ID!) { readReceipts(conversationId: $c) { userId readSeq deliveredSeq } }", c=C)
static("Query.members", "query($c: ID!) { members(conversationId: $c, limit: 2) { items { userId role joinedAt } nextToken } }", c=C)
static("Query.searchMessages", f"query($c: ID) {{ searchMessages(query: \"reply\", conversationId: $c, limit: 5) {{ items {{ {MSG} matches {{ start end }} }} nextToken }} }}", c=C)
static("Query.reportedMessages", "{ reportedMessages(limit: 5) { items { conversationId messageId reason } nextToken } }")
static("Mutation.updateProfile", "mutation($n: String) { updateProfile(displayName: $n) { id displayName } }",
       n=lambda ctx: f"{ctx.caller} renamed")
static("Mutation.adminCreateUser", "mutation($e: AWSEmail!) { adminCreateUser(email: $e, displayName: \"Invited\") { id displayName } }",
       e=lambda ctx: f"invited-{uuid.uuid4().hex[:8]}@example.com")
static("Mutation.renameConversation", f"mutation($c: ID!, $t: String!) {{ renameConversation(conversationId: $c, title: $t) {{ {CONV} }} }}",
       c=C, t=lambda ctx: f"renamed by {ctx.caller}")
static("Mutation.registerDevice", "mutation { registerDevice(platform: APNS, token: \"0123456789abcdef0123456789abcdef\") { platform registered } }")
static("Mutation.muteConversation", "mutation($c: ID!) { muteConversation(conversationId: $c, until: \"2099-01-01T00:00:00Z\") { conversationId mutedUntil } }", c=C)
static("Mutation.heartbeat", "mutation { heartbeat { userId online lastSeen } }")
static("Mutation.updateNotificationSettings",
       "mutation { updateNotificationSettings(email: true, push: true) { email push emailAddress } }")
static("Mutation.createConversation", f"mutation($i: CreateConversationInput!) {{ createConversation(input: $i) {{ {CONV} }} }}",
       i=lambda ctx: {"memberIds": [ctx.cast.sub("bob" if USER_OF.get(ctx.caller) == "alice" else "alice")],
                      "title": f"made by {ctx.caller}"})
static("Mutation.sendMessage", f"mutation($i: SendMessageInput!) {{ sendMessage(input: $i) {{ {MSG} }} }}",
       i=lambda ctx: {"conversationId": ctx.world.cid, "body": f"from {ctx.caller}", "clientMessageId": cmid(),
                      "parentId": ctx.messages.lead["id"], "mentions": [ctx.me]})
static("Mutation.addReaction", f"mutation($c: ID!, $m: ID!) {{ addReaction(conversationId: $c, messageId: $m, emoji: \"👍\") {{ {MSG} }} }}",
       c=C, m=LEAD)
static("Mutation.removeReaction", f"mutation($c: ID!, $m: ID!) {{ removeReaction(conversationId: $c, messageId: $m, emoji: \"👍\") {{ {MSG} }} }}",
       c=C, m=LEAD)
static("Mutation.addMembers", f"mutation($c: ID!, $u: [ID!]!) {{ addMembers(conversationId: $c, userIds: $u) {{ {CHANGE} }} }}",
       c=C, u=lambda ctx: [ctx.cast.sub("gus")])
static("Mutation.removeMember", f"mutation($c: ID!, $u: ID!) {{ removeMember(conversationId: $c, userId: $u) {{ {CHANGE} }} }}",
       c=C, u=lambda ctx: ctx.cast.sub("fred"))
static("Mutation.leaveConversation", f"mutation($c: ID!) {{ leaveConversation(conversationId: $c) {{ {CHANGE} }} }}", c=C)
static("Mutation.setMemberRole", f"mutation($c: ID!, $u: ID!) {{ setMemberRole(conversationId: $c, userId: $u, role: ADMIN) {{ {CHANGE} }} }}",
       c=C, u=lambda ctx: ctx.cast.sub("fred"))
static("Mutation.publishUserEvent", "mutation($i: UserEventInput!) { publishUserEvent(input: $i) { userId type conversationId title } }",
       i=lambda ctx: {"userId": ctx.cast.sub("bob"), "type": "CONVERSATION_RENAMED", "conversationId": ctx.world.cid,
                      "title": f"published by {ctx.caller}"})
static("Mutation.requestUpload", "mutation($c: ID!) { requestUpload(conversationId: $c, fileName: \"a.png\", contentType: \"image/png\", size: 10) { uploadId key maxBytes } }",
       c=C)
static("Mutation.reportMessage", "mutation($c: ID!, $m: ID!) { reportMessage(conversationId: $c, messageId: $m, reason: \"matrix\") { messageId reporterId } }",
       c=C, m=LEAD)
static("Mutation.markRead", "mutation($c: ID!) { markRead(conversationId: $c, seq: 1) { conversationId userId kind seq at } }", c=C)
static("Mutation.markDelivered", "mutation($c: ID!) { markDelivered(conversationId: $c, seq: 1) { conversationId userId kind seq at } }", c=C)
static("Mutation.sendTyping", "mutation($c: ID!) { sendTyping(conversationId: $c, typing: true) { conversationId userId typing expiresAt } }", c=C)
static("Subscription.onMessage", f"subscription($c: ID!) {{ onMessage(conversationId: $c) {{ {MSG} }} }}", c=C)
static("Subscription.onReceipt", "subscription($c: ID!) { onReceipt(conversationId: $c) { conversationId userId kind seq at } }", c=C)
static("Subscription.onTyping", "subscription($c: ID!) { onTyping(conversationId: $c) { conversationId userId typing expiresAt } }", c=C)
static("Subscription.onUserEvent", "subscription($u: ID!) { onUserEvent(userId: $u) { userId type conversationId } }",
       u=lambda ctx: ctx.me)
static("Query.blockedUsers", "{ blockedUsers { userId blockedAt } }")
static("Mutation.blockUser", "mutation($u: ID!) { blockUser(userId: $u) { userId blockedAt } }",
       u=lambda ctx: ctx.cast.sub("gus"))
static("Mutation.unblockUser", "mutation($u: ID!) { unblockUser(userId: $u) { userId wasBlocked } }",
       u=lambda ctx: ctx.cast.sub("gus"))
static("Mutation.deleteConversation", "mutation($c: ID!) { deleteConversation(conversationId: $c) { conversationId kind deletedBy deletedAt memberCount } }",
       c=C)
static("Subscription.onMembershipChange", f"subscription($c: ID!) {{ onMembershipChange(conversationId: $c) {{ {CHANGE} }} }}", c=C)


@request("Mutation.editMessage")
async def _edit(ctx: Ctx) -> Request:
    msg = await ctx.fresh_message()  # the owner's (world author's) own, at version 1
    return (f"mutation($i: EditMessageInput!) {{ editMessage(input: $i) {{ {MSG} }} }}",
            {"i": {"conversationId": ctx.world.cid, "messageId": msg["id"], "body": "edited", "expectedVersion": 1}})


@request("Mutation.deleteMessage")
async def _delete(ctx: Ctx) -> Request:
    msg = await ctx.fresh_message()  # one per case: every allowed caller deletes its own
    return (f"mutation($c: ID!, $m: ID!) {{ deleteMessage(conversationId: $c, messageId: $m) {{ {MSG} deletedAt deletedBy }} }}",
            {"c": ctx.world.cid, "m": msg["id"]})


async def stand_in(ctx: Ctx, groups: tuple[str, ...] = ()) -> tuple[User, str]:
    """A user made for one case (with a profile), and its token."""
    user = create_user(ctx.stack, f"standin-{uuid.uuid4().hex[:6]}", *groups)
    token = sign_in(ctx.stack, user.username)
    assert (await http(ctx.stack, jwt_auth(ctx.stack, token), "{ me { id } }")).outcome == OK
    return user, token


@request("Mutation.deleteAccount")
async def _delete_account(ctx: Ctx) -> Request:
    if ctx.caller in USER_OF:
        _, ctx.token = await stand_in(ctx, ctx.cast.users[USER_OF[ctx.caller]].groups)
    return "mutation { deleteAccount(eraseMessages: false) { userId status } }", {}


@request("Mutation.adminDeleteUser")
async def _admin_delete_user(ctx: Ctx) -> Request:
    target, _ = await stand_in(ctx)
    return ("mutation($u: ID!) { adminDeleteUser(userId: $u) { userId status } }", {"u": target.sub})


# --------------------------------------------------------------------------- running a case


def http_auth(stack: DevStack, cast: Cast, caller: str) -> AppSyncAuthentication | None:
    if caller == ANONYMOUS:
        return None
    if caller == BAD_TOKEN:
        return jwt_auth(stack, cast.bad_token)
    if caller == IAM:
        return cast.iam
    return jwt_auth(stack, cast.tokens[USER_OF[caller]])


def ws_auth(stack: DevStack, cast: Cast, caller: str) -> AppSyncAuthentication:
    return http_auth(stack, cast, caller) or HostOnly(stack.host)


async def perform(stack: DevStack, cast: Cast, name: str, caller: str, query: str,
                  variables: dict[str, Any], token: str | None = None) -> Answer:
    if token is not None:
        return await http(stack, jwt_auth(stack, token), query, variables)
    if name.startswith("Subscription."):
        return await subscribe(stack, ws_auth(stack, cast, caller), query, variables)
    try:
        return await http(stack, http_auth(stack, cast, caller), query, variables)
    finally:
        _may_write_a_report(query)


def takes_conversation(name: str) -> bool:
    fld = FIELDS[name]
    if "conversationId" in fld.args or name == "Query.conversation":
        return True
    return any(isinstance(t := get_named_type(a.type), GraphQLInputObjectType) and "conversationId" in t.fields
               for a in fld.args.values())


async def snapshot(stack: DevStack, cast: Cast, cid: str) -> dict[str, Any]:
    """Everything a conversation shows: as its owner, and its reports as a moderator."""
    state = await call(stack, cast, "alice", f"""query($c: ID!) {{
        conversation(id: $c) {{ {CONV} }}
        messagesSince(conversationId: $c, afterSeq: 0, limit: 100) {{ items {{ {MSG} editedAt deletedAt deletedBy
            replyCount replyUserIds reactions {{ emoji count userIds }} attachments {{ id }} }} }}
        readReceipts(conversationId: $c) {{ userId readSeq deliveredSeq }} }}""", c=cid)
    # The reports come from an index: wait until any report written before now would show in
    # it (a refused reportMessage that wrote one anyway included), not blindly on every snapshot.
    settle = _LAST_REPORT_WRITE[0] + GSI_LAG_S * 1.5 - time.monotonic()
    if settle > 0:
        await asyncio.sleep(settle)
    reports = await call(stack, cast, "mod", "{ reportedMessages(limit: 100) { items { conversationId messageId reporterId reason } } }")
    state["reports"] = [r for r in reports["reportedMessages"]["items"] if r["conversationId"] == cid]
    return state


def check(name: str, caller: str, expected: str, answer: Answer) -> None:
    field_name = name.split(".", 1)[1]
    assert answer.outcome == expected, f"{name} as {caller}: expected {expected}, got {answer}"
    if expected == UNAUTHENTICATED and not name.startswith("Subscription."):
        assert answer.status == 401, answer
    if expected == OK:
        if name.startswith("Subscription."):
            assert answer.acked, answer
        else:
            assert answer.data and answer.data.get(field_name) is not None, answer
    else:
        assert not answer.acked
        assert not (answer.data or {}).get(field_name), f"refused, yet data came back: {answer}"
        assert answer.errors[0].get("message"), answer


CASES = [(name, caller) for name in FIELDS for caller in CALLERS]


def test_every_root_field_has_its_authorization_decided() -> None:
    """The table and the request builders cover exactly the schema's root fields, every caller."""
    assert set(EXPECTED) - set(FIELDS) == set(), "rows for fields the schema no longer has"
    missing = sorted(set(FIELDS) - set(EXPECTED))
    assert not missing, f"decide who may call these (add rows to _TABLE): {missing}"
    assert sorted(REQUESTS) == sorted(FIELDS), "a request per field (see REQUESTS)"
    for name, row in EXPECTED.items():
        assert tuple(row) == CALLERS, name


def test_the_table_follows_the_schemas_auth_directives() -> None:
    """AppSync's own layer, read from the field directives: a field without any is Cognito-only
    (the default mode); @aws_iam alone shuts Cognito out; cognito_groups shut out the other
    users. Exactly those cases are Unauthorized in the table, and no one passes on a bad token."""
    groups_of = {"mod": {"moderator"}, "root": {"admin"}}
    for name, fld in FIELDS.items():
        directives = {d.name.value: d for d in ((fld.ast_node.directives if fld.ast_node else None) or ())}
        cognito = directives.get("aws_cognito_user_pools")
        iam = "aws_iam" in directives
        cognito_allowed = cognito is not None or not iam
        groups = {v.value for a in (cognito.arguments if cognito else ()) for v in getattr(a.value, "values", [])}
        row = EXPECTED[name]
        for caller, user in USER_OF.items():
            denied = not cognito_allowed or bool(groups and not groups & groups_of.get(user, set()))
            assert (row[caller] == UNAUTHORIZED) == denied, (name, caller)
        assert (row[IAM] == UNAUTHORIZED) == (not iam), name
        assert row[ANONYMOUS] == row[BAD_TOKEN] == UNAUTHENTICATED, name


@pytest.mark.parametrize(("name", "caller"), CASES, ids=[f"{n}-{c}" for n, c in CASES])
def test_matrix(stack: DevStack, cast: Cast, worlds: Worlds, name: str, caller: str) -> None:
    expected = EXPECTED.get(name, {}).get(caller)
    if expected is None or name not in REQUESTS:
        pytest.fail(f"{name} has no authorization decided for {caller}: add it to _TABLE and REQUESTS")

    async def scenario() -> None:
        w = await worlds.for_case(name, expected)
        ctx = Ctx(stack, cast, caller, w, w)
        query, variables = await REQUESTS[name](ctx)
        # Refused by a resolver (not by AppSync's auth layer, which runs none): nothing changed.
        watch = (name.startswith("Mutation.") and expected in (FORBIDDEN, NOT_FOUND, BAD_REQUEST)
                 and takes_conversation(name))
        before = worlds.snapshots.pop(w.cid, None)
        if watch and (before is None or ctx.wrote):
            before = await snapshot(stack, cast, w.cid)
        answer = await perform(stack, cast, name, caller, query, variables, token=ctx.token)
        check(name, caller, expected, answer)
        if watch:
            after = await snapshot(stack, cast, w.cid)
            assert after == before, f"{name} by {caller} was refused but changed the conversation"
            worlds.snapshots[w.cid] = after  # the next refused case starts from here

    run(scenario())


# --------------------------------------------------------------------------- IDOR

MESSAGE_ARGS = frozenset({"messageId", "rootId", "parentId"})


def id_args(name: str) -> set[str]:
    """A field's argument names, and the fields of its input-object arguments."""
    out: set[str] = set()
    for arg_name, arg in FIELDS[name].args.items():
        out.add(arg_name)
        named = get_named_type(arg.type)
        if isinstance(named, GraphQLInputObjectType):
            out |= set(named.fields)
    return out


CONVERSATION_FIELDS = [n for n in FIELDS if takes_conversation(n)]
MESSAGE_FIELDS = [n for n in CONVERSATION_FIELDS if id_args(n) & MESSAGE_ARGS]
PAGED_FIELDS = [n for n in FIELDS if "nextToken" in FIELDS[n].args]

# The caller's own conversation with a message id of another conversation (at a seq that holds
# another message in the caller's conversation): the designed answer, never the other message.
FOREIGN_MESSAGE_IN_OWN_CONVERSATION = {
    "Query.thread": OK,  # an empty page: the caller's conversation has no such thread
    "Query.editHistory": NOT_FOUND,
    "Mutation.sendMessage": NOT_FOUND,  # as input.parentId
    "Mutation.editMessage": NOT_FOUND,
    "Mutation.deleteMessage": NOT_FOUND,
    "Mutation.addReaction": NOT_FOUND,
    "Mutation.removeReaction": NOT_FOUND,
    "Mutation.reportMessage": NOT_FOUND,
}


@pytest.fixture(scope="module")
def victim(stack: DevStack, cast: Cast) -> World:
    """The conversation under attack (carol is not in it)."""
    return run(build_world(stack, cast))


@pytest.fixture(scope="module")
def lair(stack: DevStack, cast: Cast, victim: World) -> World:
    """carol's own conversation (with gus), with a message at every seq the victim's have."""

    async def make() -> World:
        cid = (await call(stack, cast, "carol", "mutation($i: CreateConversationInput!) { createConversation(input: $i) { id } }",
                          i={"memberIds": [cast.sub("gus")], "title": "carol's"}))["createConversation"]["id"]
        sent = [await send(stack, cast, "carol", cid, f"mine {i}") for i in range(victim.replies[-1]["seq"] + 2)]
        return World(cid=cid, author="carol", lead=sent[2], replies=[])

    return run(make())


def test_outsiders_are_refused_every_conversation_field() -> None:
    """The table cannot let a non-member or a removed member into any conversation field."""
    assert CONVERSATION_FIELDS and MESSAGE_FIELDS
    for name in CONVERSATION_FIELDS:
        for caller in (NON_MEMBER, REMOVED):
            assert EXPECTED[name][caller] in (FORBIDDEN, UNAUTHORIZED), (name, caller)
    missing = sorted(set(MESSAGE_FIELDS) - set(FOREIGN_MESSAGE_IN_OWN_CONVERSATION))
    assert not missing, f"decide the answer to a foreign message id for: {missing}"
    assert set(FOREIGN_MESSAGE_IN_OWN_CONVERSATION) <= set(MESSAGE_FIELDS)


@pytest.mark.parametrize("name", CONVERSATION_FIELDS)
def test_idor_another_conversations_id(stack: DevStack, cast: Cast, victim: World, lair: World, name: str) -> None:
    """carol names the victim conversation (with message ids from her own): refused, and the
    victim conversation is unchanged."""
    expected = EXPECTED[name][NON_MEMBER]

    async def scenario() -> None:
        ctx = Ctx(stack, cast, NON_MEMBER, world=victim, messages=lair)
        query, variables = await REQUESTS[name](ctx)
        before = await snapshot(stack, cast, victim.cid)
        answer = await perform(stack, cast, name, NON_MEMBER, query, variables)
        check(name, NON_MEMBER, expected, answer)
        assert await snapshot(stack, cast, victim.cid) == before

    run(scenario())


@pytest.mark.parametrize("name", MESSAGE_FIELDS)
def test_idor_another_conversations_message_id(stack: DevStack, cast: Cast, victim: World, lair: World,
                                               name: str) -> None:
    """carol names her own conversation and a message id of the victim's: the designed answer,
    and neither the victim's message nor hers at that seq changes."""
    expected = FOREIGN_MESSAGE_IN_OWN_CONVERSATION.get(name)
    if expected is None:
        pytest.fail(f"{name}: no designed answer for a foreign message id")

    async def scenario() -> None:
        ctx = Ctx(stack, cast, NON_MEMBER, world=lair, messages=victim)
        query, variables = await REQUESTS[name](ctx)
        before = [await snapshot(stack, cast, victim.cid), await lair_state(stack, cast, lair.cid)]
        answer = await perform(stack, cast, name, NON_MEMBER, query, variables)
        check(name, NON_MEMBER, expected, answer)
        if expected == OK:
            assert answer.data[name.split(".")[1]]["items"] == [], answer
        assert [await snapshot(stack, cast, victim.cid), await lair_state(stack, cast, lair.cid)] == before

    run(scenario())


async def lair_state(stack: DevStack, cast: Cast, cid: str) -> dict[str, Any]:
    return await call(stack, cast, "carol", f"""query($c: ID!) {{
        conversation(id: $c) {{ {CONV} }}
        messagesSince(conversationId: $c, afterSeq: 0, limit: 100) {{ items {{ {MSG} editedAt deletedAt
            replyCount replyUserIds reactions {{ emoji count userIds }} }} }} }}""", c=cid)


# owner of the page, the one who replays its nextToken, the query (variables $t and those named)
TOKEN_THEFT: dict[str, tuple[str, str, str]] = {
    "Query.users": ("bob", "alice", "query($t: String) { users(limit: 1, nextToken: $t) { items { id } nextToken } }"),
    "Query.conversations": ("bob", "alice", "query($t: String) { conversations(limit: 1, nextToken: $t) { items { id } nextToken } }"),
    "Query.members": ("bob", "alice", "query($c: ID!, $t: String) { members(conversationId: $c, limit: 1, nextToken: $t) { items { userId } nextToken } }"),
    "Query.messages": ("bob", "alice", "query($c: ID!, $t: String) { messages(conversationId: $c, limit: 1, nextToken: $t) { items { id } nextToken } }"),
    "Query.thread": ("bob", "alice", "query($c: ID!, $r: ID!, $t: String) { thread(conversationId: $c, rootId: $r, limit: 1, nextToken: $t) { items { id } nextToken } }"),
    "Query.searchMessages": ("bob", "alice", "query($c: ID, $t: String) { searchMessages(query: \"reply\", conversationId: $c, limit: 1, nextToken: $t) { items { id } nextToken } }"),
    "Query.reportedMessages": ("mod", "root", "query($t: String) { reportedMessages(limit: 1, nextToken: $t) { items { messageId } nextToken } }"),
}


def test_every_paged_field_has_a_token_theft_case() -> None:
    assert sorted(TOKEN_THEFT) == sorted(PAGED_FIELDS)


@pytest.mark.parametrize("name", PAGED_FIELDS)
def test_idor_another_users_next_token(stack: DevStack, cast: Cast, victim: World, name: str) -> None:
    """A nextToken is bound to its user and query: replayed by anyone else (even a member of the
    same conversation), or altered, it is BadRequest."""
    if name not in TOKEN_THEFT:
        pytest.fail(f"{name} takes a nextToken but has no theft case")
    owner, thief, query = TOKEN_THEFT[name]
    field_name = name.split(".")[1]
    variables = {k: v for k, v in {"c": victim.cid, "r": victim.lead["id"]}.items() if f"${k}" in query}

    async def scenario() -> None:
        for i, reply in enumerate(victim.replies):  # two reports, so reportedMessages pages
            await call(stack, cast, ("bob", "erin")[i], "mutation($c: ID!, $m: ID!) { reportMessage(conversationId: $c, messageId: $m, reason: \"page\") { messageId } }",
                       c=victim.cid, m=reply["id"])
        first = await call(stack, cast, owner, query, **variables)
        token = first[field_name]["nextToken"]
        assert token, f"{name}: the first page of {owner} has no nextToken: {first}"
        again = await http(stack, jwt_auth(stack, cast.tokens[owner]), query, {**variables, "t": token})
        assert again.outcome == OK, again  # the owner can use it
        stolen = await http(stack, jwt_auth(stack, cast.tokens[thief]), query, {**variables, "t": token})
        assert stolen.outcome == BAD_REQUEST, stolen
        assert not (stolen.data or {}).get(field_name)
        altered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        tampered = await http(stack, jwt_auth(stack, cast.tokens[owner]), query, {**variables, "t": altered})
        assert tampered.outcome == BAD_REQUEST, tampered

    run(scenario())


COGNITO_CALLERS = [c for c in CALLERS if c in USER_OF]


@pytest.mark.parametrize("caller", COGNITO_CALLERS)
def test_idor_another_users_event_channel(stack: DevStack, cast: Cast, caller: str) -> None:
    """onUserEvent(userId) of someone else is rejected with an error at subscribe time."""
    other = cast.sub("bob" if USER_OF[caller] != "bob" else "alice")
    query = "subscription($u: ID!) { onUserEvent(userId: $u) { userId type conversationId } }"
    answer = run(subscribe(stack, ws_auth(stack, cast, caller), query, {"u": other}))
    assert answer.outcome == FORBIDDEN and not answer.acked, answer


def test_notification_settings_are_your_own_only(stack: DevStack, cast: Cast) -> None:
    """Turning e-mail on changes the caller's settings only, and shows the caller's own
    address; nobody reads another user's settings (usersByIds leaves them null)."""
    on = run(call(stack, cast, "erin", "mutation { updateNotificationSettings(email: true) "
                                       "{ email emailAddress } }"))["updateNotificationSettings"]
    erin = cast.users["erin"].username  # (her address: the cast's users sign in with it)
    assert on == {"email": True, "emailAddress": erin}
    others = run(call(stack, cast, "carol", "query($u: [ID!]!) { me { notificationSettings "
                                            "{ email emailAddress } } usersByIds(ids: $u) { id "
                                            "notificationSettings { email } } }",
                      u=[cast.sub("erin")]))
    assert others["me"]["notificationSettings"]["emailAddress"] != erin
    assert others["usersByIds"] == [{"id": cast.sub("erin"), "notificationSettings": None}]


def test_idor_an_upload_of_another_conversation_is_not_attachable(stack: DevStack, cast: Cast, victim: World) -> None:
    """alice's completed upload in one conversation, named in sendMessage.attachments of another
    (hers too), is BadRequest; so is bob's use of alice's upload; the upload stays usable."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)

    async def scenario() -> None:
        other = (await call(stack, cast, "alice", "mutation($i: CreateConversationInput!) { createConversation(input: $i) { id } }",
                            i={"memberIds": [cast.sub("bob")], "title": "uploads"}))["createConversation"]["id"]
        ticket = (await call(stack, cast, "alice", """mutation($c: ID!, $s: Int!) { requestUpload(conversationId: $c,
            fileName: "plan.png", contentType: "image/png", size: $s) { uploadId url fields } }""", c=other, s=len(png)))["requestUpload"]
        form = aiohttp.FormData()
        for k, v in json.loads(ticket["fields"]).items():
            form.add_field(k, v)
        form.add_field("file", png, filename="plan.png", content_type="image/png")
        async with aiohttp.ClientSession() as session, session.post(ticket["url"], data=form) as resp:
            assert resp.status in (200, 204), await resp.text()
        q = f"mutation($i: SendMessageInput!) {{ sendMessage(input: $i) {{ {MSG} attachments {{ id name }} }} }}"
        before = await snapshot(stack, cast, victim.cid)
        for who, cid in (("alice", victim.cid), ("bob", other)):
            answer = await http(stack, jwt_auth(stack, cast.tokens[who]), q, {"i": {
                "conversationId": cid, "body": "look", "clientMessageId": cmid(), "attachments": [ticket["uploadId"]]}})
            assert answer.outcome == BAD_REQUEST, (who, answer)
        assert await snapshot(stack, cast, victim.cid) == before
        sent = (await call(stack, cast, "alice", q, i={"conversationId": other, "body": "here", "clientMessageId": cmid(),
                                                       "attachments": [ticket["uploadId"]]}))["sendMessage"]
        assert [a["id"] for a in sent["attachments"]] == [ticket["uploadId"]]

    run(scenario())


def test_a_removed_member_cannot_touch_their_old_message(stack: DevStack, cast: Cast, victim: World) -> None:
    """dave wrote a message while a member: removed, he can no longer read, edit, delete, react to
    or report it, and it is unchanged."""
    c, m = victim.cid, victim.dave_msg["id"]
    attempts = [
        ("query($c: ID!, $m: ID!) { editHistory(conversationId: $c, messageId: $m) { version } }", {}),
        ("mutation($i: EditMessageInput!) { editMessage(input: $i) { id } }",
         {"i": {"conversationId": c, "messageId": m, "body": "rewritten", "expectedVersion": 1}}),
        ("mutation($c: ID!, $m: ID!) { deleteMessage(conversationId: $c, messageId: $m) { id } }", {}),
        ("mutation($c: ID!, $m: ID!) { addReaction(conversationId: $c, messageId: $m, emoji: \"👎\") { id } }", {}),
        ("mutation($c: ID!, $m: ID!) { reportMessage(conversationId: $c, messageId: $m, reason: \"x\") { messageId } }", {}),
        ("query($c: ID!) { messagesSince(conversationId: $c, afterSeq: 0) { items { id } } }", {}),
    ]

    async def scenario() -> None:
        before = await snapshot(stack, cast, c)
        for query, extra in attempts:
            variables = extra or {k: v for k, v in {"c": c, "m": m}.items() if f"${k}" in query}
            answer = await http(stack, jwt_auth(stack, cast.tokens["dave"]), query, variables)
            assert answer.outcome == FORBIDDEN, (query, answer)
        assert await snapshot(stack, cast, c) == before

    run(scenario())


def test_a_removed_member_loses_the_conversation_everywhere(stack: DevStack, cast: Cast, victim: World) -> None:
    """Out of dave's conversation list, and the nextToken he got while a member pages no more."""
    page = "query($c: ID!, $t: String) { messages(conversationId: $c, limit: 1, nextToken: $t) { items { id } nextToken } }"

    async def scenario() -> None:
        listed = await call(stack, cast, "dave", "{ conversations(limit: 100) { items { id lastMessage { body } } } }")
        assert victim.cid not in {c["id"] for c in listed["conversations"]["items"]}
        cid = (await call(stack, cast, "alice", "mutation($i: CreateConversationInput!) { createConversation(input: $i) { id } }",
                          i={"memberIds": [cast.sub("bob"), cast.sub("dave")], "title": "short stay"}))["createConversation"]["id"]
        for i in range(3):
            await send(stack, cast, "alice", cid, f"m{i}")
        token = (await call(stack, cast, "dave", page, c=cid, t=None))["messages"]["nextToken"]
        assert token
        await call(stack, cast, "alice", "mutation($c: ID!, $u: ID!) { removeMember(conversationId: $c, userId: $u) { action } }",
                   c=cid, u=cast.sub("dave"))
        replay = await http(stack, jwt_auth(stack, cast.tokens["dave"]), page, {"c": cid, "t": token})
        assert replay.outcome == FORBIDDEN, replay
        assert not (replay.data or {}).get("messages")

    run(scenario())


# (who, mutation, its arguments by user name) -> the designed answer: no one climbs a role.
ESCALATIONS = [
    ("erin", "setMemberRole", {"userId": "erin", "role": "OWNER"}, FORBIDDEN),  # admin makes self owner
    ("erin", "setMemberRole", {"userId": "alice", "role": "MEMBER"}, FORBIDDEN),  # admin demotes the owner
    ("bob", "setMemberRole", {"userId": "bob", "role": "ADMIN"}, FORBIDDEN),
    ("bob", "setMemberRole", {"userId": "fred", "role": "OWNER"}, FORBIDDEN),
    ("erin", "removeMember", {"userId": "alice"}, FORBIDDEN),  # admins remove plain members only
    ("bob", "removeMember", {"userId": "alice"}, FORBIDDEN),
    ("bob", "addMembers", {"userIds": ["carol"]}, FORBIDDEN),  # members do not invite
    ("carol", "addMembers", {"userIds": ["carol"]}, FORBIDDEN),  # nobody joins uninvited
    ("dave", "addMembers", {"userIds": ["dave"]}, FORBIDDEN),  # nor comes back on their own
    ("alice", "setMemberRole", {"userId": "alice", "role": "ADMIN"}, BAD_REQUEST),  # the last owner stays
]


@pytest.mark.parametrize(("who", "mutation", "args", "expected"), ESCALATIONS,
                         ids=[f"{w}-{m}-{'-'.join(str(v) for v in a.values())}" for w, m, a, _ in ESCALATIONS])
def test_no_one_climbs_a_role(stack: DevStack, cast: Cast, worlds: Worlds, who: str, mutation: str,
                              args: dict[str, Any], expected: str) -> None:
    types = {"userId": "ID!", "role": "MemberRole!", "userIds": "[ID!]!"}
    params = ", ".join(f"${k}: {types[k]}" for k in args)
    query = (f"mutation($c: ID!, {params}) {{ {mutation}(conversationId: $c, "
             f"{', '.join(f'{k}: ${k}' for k in args)}) {{ {CHANGE} }} }}")

    def subs(value: Any) -> Any:
        if isinstance(value, list):
            return [cast.sub(v) for v in value]
        return cast.sub(value) if value in cast.users else value

    async def scenario() -> None:
        w = await worlds.for_case("escalation", FORBIDDEN)
        worlds.snapshots.pop(w.cid, None)
        before = await snapshot(stack, cast, w.cid)
        answer = await http(stack, jwt_auth(stack, cast.tokens[who]), query,
                            {"c": w.cid, **{k: subs(v) for k, v in args.items()}})
        assert answer.outcome == expected, answer
        assert await snapshot(stack, cast, w.cid) == before

    run(scenario())


# (who, mentioned user names) -> the designed answer: mentions name members only, and an
# outsider's send is Forbidden whatever it mentions (it learns nothing about the members).
MENTIONS = [
    ("bob", ["carol"], BAD_REQUEST),  # never a member
    ("bob", ["fred", "dave"], BAD_REQUEST),  # dave was removed
    ("erin", ["gus"], BAD_REQUEST),
    ("carol", ["bob"], FORBIDDEN),
    ("dave", ["alice"], FORBIDDEN),
    ("bob", ["fred", "erin", "bob", "fred"], OK),  # duplicates collapse; yourself is allowed
]


@pytest.mark.parametrize(("who", "mentioned", "expected"), MENTIONS,
                         ids=[f"{w}-{'-'.join(m)}" for w, m, _ in MENTIONS])
def test_mentions_name_members_only(stack: DevStack, cast: Cast, worlds: Worlds, who: str,
                                    mentioned: list[str], expected: str) -> None:
    query = f"mutation($i: SendMessageInput!) {{ sendMessage(input: $i) {{ {MSG} mentions }} }}"

    async def scenario() -> None:
        w = await worlds.for_case("Mutation.sendMessage", expected)  # (its own world: it writes)
        worlds.snapshots.pop(w.cid, None)
        before = await snapshot(stack, cast, w.cid)
        answer = await http(stack, jwt_auth(stack, cast.tokens[who]), query, {"i": {
            "conversationId": w.cid, "body": "hey", "clientMessageId": cmid(),
            "mentions": [cast.sub(m) for m in mentioned]}})
        assert answer.outcome == expected, answer
        if expected == OK:
            assert answer.data["sendMessage"]["mentions"] == [cast.sub(m) for m in dict.fromkeys(mentioned)]
        else:
            assert await snapshot(stack, cast, w.cid) == before

    run(scenario())


def test_a_member_added_later_cannot_read_what_came_before(stack: DevStack, cast: Cast) -> None:
    """Members read history from their joining on. Regression: gus, added after alice's message,
    learnt its id from a later reply's parentId and read its body back from addReaction /
    removeReaction (and, made admin, from editHistory). A message from before one joined is
    answered like one that does not exist (NotFound), and is left unchanged."""
    react = f"mutation($c: ID!, $m: ID!) {{ %s(conversationId: $c, messageId: $m, emoji: \"👀\") {{ {MSG} }} }}"
    history = "query($c: ID!, $m: ID!) { editHistory(conversationId: $c, messageId: $m) { version body } }"

    async def scenario() -> None:
        cid = (await call(stack, cast, "alice", "mutation($i: CreateConversationInput!) { createConversation(input: $i) { id } }",
                          i={"memberIds": [cast.sub("bob")], "title": "before gus"}))["createConversation"]["id"]
        secret = await send(stack, cast, "alice", cid, "said before gus came")
        await call(stack, cast, "alice", "mutation($c: ID!, $u: [ID!]!) { addMembers(conversationId: $c, userIds: $u) { action } }",
                   c=cid, u=[cast.sub("gus")])
        await call(stack, cast, "alice", "mutation($c: ID!, $u: ID!, $r: MemberRole!) { setMemberRole(conversationId: $c, userId: $u, role: $r) { action } }",
                   c=cid, u=cast.sub("gus"), r="ADMIN")
        reply = await send(stack, cast, "bob", cid, "answered after", parentId=secret["id"])
        gus = jwt_auth(stack, cast.tokens["gus"])
        seen = await call(stack, cast, "gus", f"query($c: ID!) {{ messagesSince(conversationId: $c, afterSeq: 0) {{ items {{ {MSG} }} }} }}", c=cid)
        assert secret["id"] not in {m["id"] for m in seen["messagesSince"]["items"]}
        assert reply["parentId"] == secret["id"]  # how gus knows the id
        before = await snapshot(stack, cast, cid)
        for query in (react % "addReaction", react % "removeReaction", history):
            answer = await http(stack, gus, query, {"c": cid, "m": secret["id"]})
            assert answer.outcome == NOT_FOUND, answer
            assert "said before gus came" not in json.dumps(answer.data), answer
        assert await snapshot(stack, cast, cid) == before
        for query in (react % "addReaction", history):  # what came after: his to see
            assert (await http(stack, gus, query, {"c": cid, "m": reply["id"]})).outcome == OK
        mine = await http(stack, jwt_auth(stack, cast.tokens["bob"]), react % "addReaction", {"c": cid, "m": secret["id"]})
        assert mine.outcome == OK and mine.data["addReaction"]["body"] == "said before gus came"

    run(scenario())


def test_a_member_added_later_gets_no_old_body_from_live_events(stack: DevStack, cast: Cast) -> None:
    """Subscribers get the publishing mutation's selection (AppSync semantics), so a reaction to
    an old message would carry its body. onMessage's enhanced filter (seq > joinedSeq, set by
    appsync/subscribe.js from the resolver's answer) keeps events about messages from before
    gus joined away from him: the first event he gets is the message sent after the reaction."""
    react = f"mutation($c: ID!, $m: ID!) {{ addReaction(conversationId: $c, messageId: $m, emoji: \"🔥\") {{ {MSG} }} }}"
    edit = f"mutation($i: EditMessageInput!) {{ editMessage(input: $i) {{ {MSG} }} }}"

    async def scenario() -> tuple[dict[str, Any], str]:
        cid = (await call(stack, cast, "alice", "mutation($i: CreateConversationInput!) { createConversation(input: $i) { id } }",
                          i={"memberIds": [cast.sub("bob")], "title": "live before gus"}))["createConversation"]["id"]
        secret = await send(stack, cast, "alice", cid, "live secret before gus")
        await call(stack, cast, "alice", "mutation($c: ID!, $u: [ID!]!) { addMembers(conversationId: $c, userIds: $u) { action } }",
                   c=cid, u=[cast.sub("gus")])
        transport = ws_transport(stack, jwt_auth(stack, cast.tokens["gus"]))
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            events = session.subscribe(GraphQLRequest(f"subscription($c: ID!) {{ onMessage(conversationId: $c) {{ {MSG} }} }}",
                                                      variable_values={"c": cid}))
            first = asyncio.ensure_future(anext(events))
            await transport.started(first=first)
            reacted = (await call(stack, cast, "bob", react, c=cid, m=secret["id"]))["addReaction"]
            await call(stack, cast, "alice", edit, i={"conversationId": cid, "messageId": secret["id"],
                                                      "body": "live secret before gus, edited",
                                                      "expectedVersion": reacted["version"]})
            after = await send(stack, cast, "alice", cid, "hello gus")
            got = dict((await asyncio.wait_for(first, TIMEOUT))["onMessage"])
            await events.aclose()
            return got, after["id"]

    event, after_id = run(scenario())
    assert event["id"] == after_id and event["body"] == "hello gus", event


def test_removal_closes_the_removed_members_open_subscriptions(stack: DevStack, cast: Cast) -> None:
    """removeMember's resolver code (appsync/revoke.js) invalidates the removed member's
    subscriptions on the conversation (their invalidation filters, set at subscribe time by
    appsync/subscribe.js, match): the server completes them, so nothing sent afterwards can
    reach the removed member; bob's subscriptions stay open and get the next message."""
    async def scenario() -> tuple[list[str], dict[str, Any]]:
        cid = (await call(stack, cast, "alice", "mutation($i: CreateConversationInput!) { createConversation(input: $i) { id } }",
                          i={"memberIds": [cast.sub("bob"), cast.sub("gus")], "title": "revoke gus"}))["createConversation"]["id"]
        gus_transport = ws_transport(stack, jwt_auth(stack, cast.tokens["gus"]))
        bob_transport = ws_transport(stack, jwt_auth(stack, cast.tokens["bob"]))
        async with Client(transport=gus_transport, fetch_schema_from_transport=False) as gus, \
                Client(transport=bob_transport, fetch_schema_from_transport=False) as bob:
            queries = {
                "onMessage": f"subscription($c: ID!) {{ onMessage(conversationId: $c) {{ {MSG} }} }}",
                "onTyping": "subscription($c: ID!) { onTyping(conversationId: $c) { userId typing } }",
                "onReceipt": "subscription($c: ID!) { onReceipt(conversationId: $c) { userId seq } }",
            }
            gus_streams = {name: gus.subscribe(GraphQLRequest(q, variable_values={"c": cid})) for name, q in queries.items()}
            gus_next = {name: asyncio.ensure_future(anext(stream)) for name, stream in gus_streams.items()}
            for task in gus_next.values():
                await gus_transport.started(first=task)
            bob_stream = bob.subscribe(GraphQLRequest(queries["onMessage"], variable_values={"c": cid}))
            bob_next = asyncio.ensure_future(anext(bob_stream))
            await bob_transport.started(first=bob_next)
            await call(stack, cast, "alice", "mutation($c: ID!, $u: ID!) { removeMember(conversationId: $c, userId: $u) { action } }",
                       c=cid, u=cast.sub("gus"))
            ended = []
            for name, task in gus_next.items():
                try:
                    await asyncio.wait_for(task, TIMEOUT)
                except StopAsyncIteration:
                    ended.append(name)
            after = await send(stack, cast, "alice", cid, "after gus left")
            first_for_bob = dict((await asyncio.wait_for(bob_next, TIMEOUT))["onMessage"])
            while first_for_bob["id"] != after["id"]:  # (the "removed" system message first)
                first_for_bob = dict((await asyncio.wait_for(anext(bob_stream), TIMEOUT))["onMessage"])
            await bob_stream.aclose()
            return sorted(ended), first_for_bob

    ended, bobs = run(scenario())
    assert ended == ["onMessage", "onReceipt", "onTyping"]
    assert bobs["body"] == "after gus left"


def test_a_refused_publish_reaches_no_subscriber(stack: DevStack, cast: Cast, victim: World) -> None:
    """publishUserEvent is IAM-only: a Cognito caller's publish into bob's channel is refused and
    never delivered; the IAM publish right after it is the one bob receives."""
    tag = uuid.uuid4().hex[:8]
    publish = "mutation($i: UserEventInput!) { publishUserEvent(input: $i) { userId type conversationId title } }"
    event = {"userId": cast.sub("bob"), "type": "CONVERSATION_RENAMED", "conversationId": victim.cid}
    listen = "subscription($u: ID!) { onUserEvent(userId: $u) { userId type conversationId title } }"

    async def scenario() -> None:
        transport = ws_transport(stack, jwt_auth(stack, cast.tokens["bob"]))
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            events = session.subscribe(GraphQLRequest(listen, variable_values={"u": cast.sub("bob")}))
            first = asyncio.ensure_future(anext(events))
            await transport.started(first=first)
            for name in ("alice", "carol", "mod", "root"):
                forged = await http(stack, jwt_auth(stack, cast.tokens[name]), publish, {"i": {**event, "title": f"forged {tag}"}})
                assert forged.outcome == UNAUTHORIZED, forged
            genuine = await http(stack, cast.iam, publish, {"i": {**event, "title": f"genuine {tag}"}})
            assert genuine.outcome == OK, genuine
            seen = []
            pending = first
            while True:
                got = (await asyncio.wait_for(pending, TIMEOUT))["onUserEvent"]
                seen.append(got)
                if got["title"] == f"genuine {tag}":
                    break
                pending = asyncio.ensure_future(anext(events))
            assert not [e for e in seen if e["title"] == f"forged {tag}"], seen
            await events.aclose()

    run(scenario())


def _publishers() -> dict[str, list[str]]:
    """Subscription field -> the mutations that publish to it (its @aws_subscribe list)."""
    out: dict[str, list[str]] = {}
    for name, fld in FIELDS.items():
        for d in (fld.ast_node.directives if fld.ast_node else None) or ():
            if d.name.value == "aws_subscribe":
                out[name] = [f"Mutation.{v.value}" for a in d.arguments for v in getattr(a.value, "values", [])]
    return out


PUBLISHERS = _publishers()
# A member's allowed mutation that must reach the subscriber after the refused ones.
LEGIT_TRIGGER = {
    "Subscription.onMessage": "Mutation.sendMessage",
    "Subscription.onReceipt": "Mutation.markRead",
    "Subscription.onTyping": "Mutation.sendTyping",
    "Subscription.onMembershipChange": "Mutation.setMemberRole",
}


@pytest.mark.parametrize("sub_name", [n for n in PUBLISHERS if n != "Subscription.onUserEvent"])
def test_refused_mutations_publish_nothing(stack: DevStack, cast: Cast, sub_name: str) -> None:
    """Every refused case of every mutation that publishes to a conversation subscription
    (from its @aws_subscribe list) reaches no subscriber: a member listening gets the allowed
    mutation that follows them as its first event. (onUserEvent: see the publish test.)"""
    if sub_name not in LEGIT_TRIGGER:
        pytest.fail(f"{sub_name}: name a member's mutation that publishes to it")

    async def scenario() -> None:
        w = await build_world(stack, cast)
        refused = []
        for mutation in PUBLISHERS[sub_name]:
            for caller, expected in EXPECTED[mutation].items():
                if expected != OK:
                    ctx = Ctx(stack, cast, caller, w, w)
                    refused.append((mutation, caller, expected, *(await REQUESTS[mutation](ctx))))
        legit_query, legit_vars = await REQUESTS[LEGIT_TRIGGER[sub_name]](Ctx(stack, cast, OWNER, w, w))
        sub_query, sub_vars = await REQUESTS[sub_name](Ctx(stack, cast, MEMBER, w, w))
        transport = ws_transport(stack, jwt_auth(stack, cast.tokens["bob"]))
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            events = session.subscribe(GraphQLRequest(sub_query, variable_values=sub_vars))
            first = asyncio.ensure_future(anext(events))
            await transport.started(first=first)
            for mutation, caller, expected, query, variables in refused:
                answer = await perform(stack, cast, mutation, caller, query, variables)
                check(mutation, caller, expected, answer)
            allowed = await perform(stack, cast, LEGIT_TRIGGER[sub_name], OWNER, legit_query, legit_vars)
            assert allowed.outcome == OK, allowed
            got = await asyncio.wait_for(first, TIMEOUT)
            mutation_field = LEGIT_TRIGGER[sub_name].split(".")[1]
            delivered, sent = got[sub_name.split(".")[1]], allowed.data[mutation_field]
            assert {k: delivered.get(k) for k in sent} == sent, f"first event is not the allowed one: {got}"
            await events.aclose()
        assert refused

    run(scenario())
