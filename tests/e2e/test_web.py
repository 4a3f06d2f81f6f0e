"""The React + Amplify v6 web client (web/) in real headless Chromium against the local stack.

The stack (:class:`DevStack`: free ports, its own state) serves the built app at ``/app/`` of
its HTTPS origin with ``/app/config.json`` (USER_PASSWORD_AUTH through the emulator's
``/cognito`` route to moto, the GraphQL API on the same origin, so Amplify's ``wss://``
real-time works with the self-signed certificate accepted by the browser context).

* alice and bob sign in in two browser contexts (a wrong password is refused first); alice
  starts a direct conversation with bob from the directory; messages, the unread badge and
  preview, a reaction, the typing indicator and the read receipt ("Seen by") appear live on
  the other side; a reload keeps the session and the history; a dropped real-time connection
  is reported, and what was sent meanwhile is caught up by seq; presence dots (online).
* a group: history paged by infinite scroll, sends that fail (retry with the same
  clientMessageId, no duplicate), edit, delete, a thread, attachments with upload progress and
  image preview, member management, presence going online live (onUserEvent PRESENCE), the
  theme toggle, a narrow screen; then rename (live for the other member), mute / unmute, edit
  history, report, the moderators' Reports screen (a third user, ``mod``: paged, a delete
  seen live; none for the others), leave, and a removed member's view closing.
* sign-up (confirmation code), token refresh by Amplify, sign-out; the name of a sender who
  signed up after the reader loaded the app is looked up.

Chromium is Debian's (``make browser`` installs it): Playwright's own browser downloads are
not used. Screenshots go to ``test-results/web/`` (gitignored).
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import struct
import subprocess
import time
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloudchat_client import document

from .conftest import REPO, DevStack, poll

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.e2e

WEB = REPO / "web"
DIST = WEB / "dist"
SCREENSHOTS = REPO / "test-results" / "web"
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium hangs on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 20_000
# Amplify waits 5 s before it reconnects a disrupted real-time connection.
RECONNECT_TIMEOUT_MS = 40_000
# Every WebSocket the page opens, so a test can drop Amplify's real-time connection.
RECORD_SOCKETS = """(() => {
  const Base = window.WebSocket;
  const sockets = (window.__sockets = []);
  window.WebSocket = class extends Base {
    constructor(...args) { super(...args); sockets.push(this); }
  };
})();"""
expect.set_options(timeout=TIMEOUT_MS)
WEB_SOURCES = ("src", "public", "index.html", "package.json", "package-lock.json", "vite.config.js")


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in WEB_SOURCES:
        path = WEB / name
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        newest = max([newest, *(p.stat().st_mtime for p in files if p.exists())])
    return newest


def _npm(*args: str) -> None:
    done = subprocess.run(["npm", *args, "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"npm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def built_dist() -> Path:
    """web/dist, built (``npm ci`` + ``npm run build``) when missing or older than its sources.
    Every browser test module calls it, on whichever xdist worker runs it: the whole check
    and build runs under one file lock, so one worker's ``npm ci`` (which empties
    node_modules first) never runs under another's build ("vite: not found")."""
    import fcntl
    import hashlib
    import tempfile

    if shutil.which("npm") is None:
        pytest.skip("node and npm are needed to build the web client (not on PATH)")
    tag = hashlib.sha256(str(WEB.resolve()).encode()).hexdigest()[:12]
    lock = Path(tempfile.gettempdir()) / f"cloudchat-web-build-{tag}.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if not (WEB / "node_modules" / "vite" / "package.json").exists():
            _npm("ci")
        index = DIST / "index.html"
        if not index.exists() or index.stat().st_mtime < _newest_source_mtime():
            _npm("run", "build")
        assert index.exists()
    return DIST


@pytest.fixture(scope="module")
def web_dist() -> Path:
    return built_dist()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Browsers:
    """Browser contexts (one per user: separate storage, so separate sessions)."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.contexts: list[Any] = []
        self.problems: list[str] = []

    def page(self, who: str) -> Any:
        context = self.browser.new_context(ignore_https_errors=True, viewport={"width": 1200, "height": 800})
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        context.add_init_script(RECORD_SOCKETS)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.problems.append(f"{who}: page error: {exc}"))
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsers(browser: Any) -> Iterator[Browsers]:
    opened = Browsers(browser)
    try:
        yield opened
    finally:
        opened.close()


def _https_get(stack: DevStack, url: str) -> tuple[int, str, dict[str, str]]:
    context = ssl.create_default_context(cafile=stack.outputs["TlsCertificate"])
    with urllib.request.urlopen(url, context=context, timeout=15) as response:
        return response.status, response.read().decode(), dict(response.headers)


def wait_until(page: Any, condition: Callable[[], bool], what: str) -> None:
    """Waits for a condition on the Python side (a route handler ran); Playwright dispatches
    its events (route handlers) while the page waits."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(50)


def sign_in(page: Any, url: str, user: dict[str, Any]) -> None:
    page.goto(url)
    page.get_by_label("Email").fill(user["username"])
    page.get_by_label("Password").fill(user["password"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("me-name")).to_have_text(user["name"])


def conversation_with(page: Any, title: str) -> Any:
    return page.get_by_test_id("conversation-item").filter(has=page.get_by_text(title, exact=True))


def test_the_stack_serves_the_web_client_and_its_config(web_dist: Path, stack: DevStack) -> None:
    outputs = stack.outputs
    url = outputs["WebClientUrl"]
    assert url == outputs["GraphQLApiHttpsUrl"].removesuffix("graphql") + "app/"
    status, body, _ = _https_get(stack, url)
    assert status == 200 and '<div id="root">' in body
    status, body, headers = _https_get(stack, url + "config.json")
    assert status == 200 and headers.get("cache-control") == "no-store"
    origin = url.split("/app/")[0]
    assert json.loads(body) == {
        "graphqlUrl": outputs["GraphQLApiHttpsUrl"], "region": outputs["Region"],
        "userPoolId": outputs["UserPoolId"], "userPoolClientId": outputs["UserPoolClientId"],
        "authFlow": "USER_PASSWORD_AUTH", "cognitoEndpoint": origin + "/cognito", "stage": "local",
    }
    # The app signs in through the emulator's /cognito (same origin). moto itself answers the
    # CORS preflight of Amplify's requests too, for a client pointed at it directly.
    preflight = urllib.request.Request(outputs["CognitoEndpoint"] + "/", method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-target,x-amz-user-agent,cache-control",
    })
    with urllib.request.urlopen(preflight, timeout=15) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] in (origin, "*")
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        assert {"content-type", "x-amz-target", "x-amz-user-agent"} <= {h.strip() for h in allowed.split(",")}
        assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_two_users_chat_live_in_the_browser(web_dist: Path, stack: DevStack, browsers: Browsers) -> None:
    url = stack.outputs["WebClientUrl"]
    alice, bob = stack.user("alice"), stack.user("bob")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # Denial path: a wrong password is refused, and the form says so.
    alice_page = browsers.page("alice")
    alice_page.goto(url)
    alice_page.get_by_label("Email").fill(alice["username"])
    alice_page.get_by_label("Password").fill("not-the-password-1")
    alice_page.get_by_role("button", name="Sign in").click()
    expect(alice_page.get_by_role("alert")).to_have_text("Incorrect email or password.")
    expect(alice_page.get_by_test_id("me-name")).to_have_count(0)

    sign_in(alice_page, url, alice)
    bob_page = browsers.page("bob")
    sign_in(bob_page, url, bob)
    # The seeded "Welcome" group is listed with its last message as the preview.
    expect(conversation_with(bob_page, "Welcome").get_by_test_id("preview")).to_contain_text("carol:")

    # alice starts a direct conversation with bob, picked from the directory.
    alice_page.get_by_role("button", name="New conversation").click()
    dialog = alice_page.get_by_role("dialog", name="New conversation")
    dialog.get_by_label("Find people").fill("bo")
    dialog.get_by_role("checkbox", name="bob").check()
    dialog.get_by_role("button", name="Start chat").click()
    expect(alice_page.get_by_test_id("conversation-title")).to_have_text("bob")
    expect(alice_page.get_by_text("Start of the conversation")).to_be_visible()

    hello = f"Hello Bob {uuid.uuid4().hex[:6]}"
    alice_page.get_by_label("Message", exact=True).fill(hello)
    alice_page.get_by_label("Message", exact=True).press("Enter")
    alice_hello = alice_page.get_by_test_id("message").filter(has_text=hello)
    expect(alice_hello).to_have_count(1)
    expect(alice_page.get_by_test_id("pending-message")).to_have_count(0)

    # bob's list gets the new conversation live (onUserEvent), first, with preview and badge.
    bob_item = conversation_with(bob_page, "alice")
    expect(bob_item.get_by_test_id("preview")).to_have_text(f"alice: {hello}")
    expect(bob_item.get_by_test_id("unread")).to_have_text("1")
    expect(bob_page.get_by_test_id("conversation-item").first).to_contain_text("alice")
    # Presence: both are signed in (heartbeats), so each sees the other online, in the list
    # and in the header of the direct conversation.
    expect(bob_item.get_by_role("img", name="alice is online")).to_be_visible()
    expect(conversation_with(alice_page, "bob").get_by_role("img", name="bob is online")).to_be_visible()
    expect(alice_page.get_by_role("region", name="Conversation bob").get_by_role("img", name="bob is online")
           ).to_be_visible()
    bob_item.click()
    expect(bob_page.get_by_test_id("conversation-title")).to_have_text("alice")
    bob_hello = bob_page.get_by_test_id("message").filter(has_text=hello)
    expect(bob_hello).to_have_count(1)
    expect(bob_item.get_by_test_id("unread")).to_have_count(0)

    # bob opened it: alice sees the read receipt live (markRead -> onReceipt).
    expect(alice_page.get_by_test_id("seen-by")).to_have_text("Seen by bob")

    # Typing indicator, then bob's reply arrives live on alice's side.
    bob_page.get_by_label("Message", exact=True).fill("Hi")
    expect(alice_page.get_by_test_id("typing")).to_have_text("bob is typing…")
    reply = f"Hi Alice {uuid.uuid4().hex[:6]}"
    bob_page.get_by_label("Message", exact=True).fill(reply)
    bob_page.get_by_role("button", name="Send", exact=True).click()
    expect(alice_page.get_by_test_id("message").filter(has_text=reply)).to_have_count(1)
    expect(bob_page.get_by_test_id("message").filter(has_text=reply)).to_have_count(1)

    # bob reacts to alice's message; alice sees it live.
    bob_hello.hover()
    bob_hello.get_by_role("button", name="Add reaction").click()
    bob_hello.get_by_role("button", name="React with 👍").click()
    expect(bob_hello.get_by_test_id("reaction")).to_have_text("👍 1")
    alice_reaction = alice_hello.get_by_test_id("reaction")
    expect(alice_reaction).to_have_text("👍 1")
    expect(alice_reaction).to_have_attribute("aria-label", "👍 1: bob")

    # alice answers; bob has the conversation open, so he reads it, and she sees that.
    thanks = f"Thanks {uuid.uuid4().hex[:6]}"
    alice_page.get_by_label("Message", exact=True).fill(thanks)
    alice_page.get_by_label("Message", exact=True).press("Enter")
    expect(bob_page.get_by_test_id("message").filter(has_text=thanks)).to_have_count(1)
    expect(alice_page.get_by_test_id("message").filter(has_text=thanks).get_by_test_id("seen-by")).to_have_text(
        "Seen by bob")

    alice_shot, bob_shot = SCREENSHOTS / "alice.png", SCREENSHOTS / "bob.png"
    alice_page.screenshot(path=str(alice_shot))
    bob_page.screenshot(path=str(bob_shot))
    print(f"screenshots: {alice_shot} {bob_shot}")

    # A reload keeps the session (Amplify's stored tokens) and the history.
    alice_page.reload()
    expect(alice_page.get_by_test_id("me-name")).to_have_text("alice")
    conversation_with(alice_page, "bob").click()
    history = alice_page.get_by_test_id("message")
    expect(history).to_have_count(3)
    expect(history.nth(0).get_by_test_id("message-body")).to_have_text(hello)
    expect(history.nth(1).get_by_test_id("message-body")).to_have_text(reply)
    expect(history.nth(2).get_by_test_id("message-body")).to_have_text(thanks)
    expect(history.nth(0).get_by_test_id("reaction")).to_have_text("👍 1")
    expect(alice_page.get_by_test_id("seen-by")).to_have_text("Seen by bob")
    reloaded_shot = SCREENSHOTS / "alice-after-reload.png"
    alice_page.screenshot(path=str(reloaded_shot))
    print(f"screenshot: {reloaded_shot}")

    # The real-time connection drops: the app says so, Amplify reconnects (after 5 s) and
    # re-subscribes, and the app catches up by seq (messagesSince) on what it missed.
    dropped = alice_page.evaluate(
        "() => window.__sockets.filter((s) => s.readyState === WebSocket.OPEN).map((s) => (s.close(), s.url))")
    assert dropped and all(u.startswith("wss://127.0.0.1:") for u in dropped), dropped
    expect(alice_page.get_by_role("status").filter(has_text="reconnecting")).to_be_visible()
    missed = f"While you were away {uuid.uuid4().hex[:6]}"
    bob_page.get_by_label("Message", exact=True).fill(missed)
    bob_page.get_by_label("Message", exact=True).press("Enter")
    expect(bob_page.get_by_test_id("message-body").filter(has_text=missed)).to_have_count(1)
    expect(alice_page.get_by_test_id("message-body").filter(has_text=missed)).to_have_count(
        1, timeout=RECONNECT_TIMEOUT_MS)
    expect(alice_page.get_by_role("status").filter(has_text="reconnecting")).to_have_count(0)
    expect(alice_page.get_by_test_id("message")).to_have_count(4)
    assert not browsers.problems, browsers.problems


def _png(width: int = 96, height: int = 64) -> bytes:
    """A small valid PNG (solid colour), for the attachment upload."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x28\x57\xd6" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def graphql(stack: DevStack, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """A plain HTTP GraphQL call (the browser tests keep asyncio out of Playwright's loop)."""
    request = urllib.request.Request(stack.url, data=json.dumps({"query": query, "variables": variables}).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": token})
    with urllib.request.urlopen(request, timeout=15) as response:
        body = json.loads(response.read())
    assert not body.get("errors"), body
    return dict(body["data"])


#: The web client's own SendMessage (operations.graphql): a message the page must show live.
SEND = document("SendMessage")


def test_group_history_threads_edits_uploads_members_and_retry(
    web_dist: Path, stack: DevStack, browsers: Browsers
) -> None:
    url = stack.outputs["WebClientUrl"]
    alice, bob = stack.user("alice"), stack.user("bob")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    alice_page = browsers.page("alice")
    sign_in(alice_page, url, alice)
    bob_page = browsers.page("bob")
    sign_in(bob_page, url, bob)

    # A group picked from the directory, with a name; bob's list gets it live.
    title = f"Project {uuid.uuid4().hex[:4]}"
    alice_page.get_by_role("button", name="New conversation").click()
    dialog = alice_page.get_by_role("dialog", name="New conversation")
    dialog.get_by_role("checkbox", name="bob").check()
    dialog.get_by_role("checkbox", name="Make it a group").check()
    dialog.get_by_label("Group name").fill(title)
    dialog.get_by_role("button", name="Create group").click()
    expect(alice_page.get_by_test_id("conversation-title")).to_have_text(title)
    expect(conversation_with(bob_page, title)).to_have_count(1)
    alice_token = stack.token("alice", "IdToken")
    conversation_id = poll(  # the list is read through GSI1: it shows the group after its lag
        lambda: graphql(stack, alice_token, "query { conversations(limit: 1) { items { id title } } }", {}
                        )["conversations"]["items"][0],
        lambda first: first["title"] == title)

    # 45 messages from bob (outside the browser): alice sees them live, and bob's view
    # pages the history: the newest page first, older ones when scrolled to the top.
    bob_token = stack.token("bob", "IdToken")
    for n in range(1, 46):
        graphql(stack, bob_token, SEND, {"input": {"conversationId": conversation_id["id"], "body": f"seed {n:02d}",
                                                   "clientMessageId": f"seed-{uuid.uuid4().hex[:12]}"}})
    expect(alice_page.get_by_test_id("message-body").filter(has_text="seed 45")).to_have_count(1)
    conversation_with(bob_page, title).click()
    expect(bob_page.get_by_test_id("message-body").filter(has_text="seed 45")).to_be_visible()
    expect(bob_page.get_by_test_id("message-body").filter(has_text="seed 01")).to_have_count(0)
    bob_page.get_by_role("log", name="Messages").evaluate("el => { el.scrollTop = 0; }")
    expect(bob_page.get_by_test_id("message-body").filter(has_text="seed 01")).to_have_count(1)
    expect(bob_page.get_by_text("Start of the conversation")).to_be_visible()
    expect(bob_page.get_by_test_id("message-body").filter(has_text=re.compile(r"^seed \d\d$"))).to_have_count(45)

    # Sends that fail. (1) The answer is lost after the server stored the message: Amplify
    # retries with the same clientMessageId and the server returns the original, the
    # subscription delivers it too: exactly one message. (2) No attempt reaches the server:
    # "Not sent" with Retry, which reuses the clientMessageId.
    lost = f"lost answer {uuid.uuid4().hex[:6]}"
    unsent = f"never arrived {uuid.uuid4().hex[:6]}"
    intercepted: dict[str, str] = {}

    def fail_sends(route: Any) -> None:
        body = route.request.post_data or ""
        if "SendMessage" in body and lost in body and lost not in intercepted:
            route.fetch()  # the server stores the message ...
            intercepted[lost] = body
            route.abort()  # ... and the browser never hears back
        elif "SendMessage" in body and unsent in body:  # every attempt (Amplify retries)
            intercepted[unsent] = body
            route.abort()
        else:
            route.fallback()

    alice_page.route("**/graphql", fail_sends)
    composer = alice_page.get_by_label("Message", exact=True)
    composer.fill(lost)
    composer.press("Enter")
    expect(alice_page.get_by_test_id("message-body").filter(has_text=lost)).to_have_count(1)
    expect(bob_page.get_by_test_id("message-body").filter(has_text=lost)).to_have_count(1)
    composer.fill(unsent)
    composer.press("Enter")
    pending = alice_page.get_by_test_id("pending-message")
    expect(pending.get_by_role("alert")).to_contain_text("Not sent")
    alice_page.unroute("**/graphql", fail_sends)
    pending.get_by_role("button", name="Retry").click()
    expect(pending).to_have_count(0)
    for page in (alice_page, bob_page):
        expect(page.get_by_test_id("message-body").filter(has_text=unsent)).to_have_count(1)
    expect(alice_page.get_by_test_id("message-body").filter(has_text=lost)).to_have_count(1)
    history = graphql(stack, bob_token, "query($c: ID!) { messages(conversationId: $c, limit: 5) { items { body clientMessageId } } }",
                      {"c": conversation_id["id"]})["messages"]["items"]
    for body in (lost, unsent):
        cmid = json.loads(intercepted[body])["variables"]["input"]["clientMessageId"]
        assert [m["clientMessageId"] for m in history if m["body"] == body] == [cmid]

    # Edit and delete (alice's own messages), seen live by bob.
    mine = alice_page.get_by_test_id("message").filter(has_text=lost)
    mine.hover()
    mine.get_by_role("button", name="Edit message").click()
    edited = f"{lost} (fixed)"
    mine.get_by_label("Edit message").fill(edited)
    mine.get_by_label("Edit message").press("Enter")
    expect(bob_page.get_by_test_id("message-body").filter(has_text=edited)).to_have_count(1)
    expect(bob_page.get_by_test_id("message").filter(has_text=edited)).to_contain_text("(edited)")
    doomed = f"to delete {uuid.uuid4().hex[:6]}"
    alice_page.get_by_label("Message", exact=True).fill(doomed)
    alice_page.get_by_label("Message", exact=True).press("Enter")
    expect(bob_page.get_by_test_id("message-body").filter(has_text=doomed)).to_have_count(1)
    doomed_item = alice_page.get_by_test_id("message").filter(has_text=doomed)
    doomed_item.hover()
    doomed_item.get_by_role("button", name="Delete message").click()
    doomed_item.get_by_role("group", name="Confirm delete").get_by_role("button", name="Yes").click()
    expect(bob_page.get_by_test_id("message-body").filter(has_text=doomed)).to_have_count(0)
    expect(bob_page.get_by_test_id("message-body").filter(has_text="This message was deleted")).to_have_count(1)

    # A thread: bob replies to "seed 45"; alice sees the reply count live and opens it.
    root = bob_page.get_by_test_id("message").filter(has_text="seed 45")
    root.hover()
    root.get_by_role("button", name="Reply in thread").click()
    thread = bob_page.get_by_role("complementary", name="Thread")
    thread_reply = f"in the thread {uuid.uuid4().hex[:6]}"
    thread.get_by_label("Reply", exact=True).fill(thread_reply)
    thread.get_by_label("Reply", exact=True).press("Enter")
    expect(thread.get_by_test_id("message-body").filter(has_text=thread_reply)).to_have_count(1)
    alice_root = alice_page.get_by_test_id("message").filter(has_text="seed 45")
    expect(alice_root.get_by_role("button", name="1 reply")).to_be_visible()
    expect(alice_page.get_by_role("log", name="Messages").get_by_text(thread_reply)).to_have_count(0)
    alice_root.get_by_role("button", name="1 reply").click()
    alice_thread = alice_page.get_by_role("complementary", name="Thread")
    expect(alice_thread.get_by_test_id("message-body").filter(has_text=thread_reply)).to_have_count(1)
    alice_thread.get_by_role("button", name="Close thread").click()
    bob_page.keyboard.press("Escape")  # keyboard: Esc closes the panel
    expect(bob_page.get_by_role("complementary", name="Thread")).to_have_count(0)

    # Attachments: requestUpload -> presigned POST (held here, so the pending message shows
    # its upload progress) -> sendMessage; both sides show the image, loaded from its
    # presigned URL, and a download link for the other file.
    held: list[Any] = []
    moto = stack.outputs["AwsEndpointUrl"]

    def hold_uploads(route: Any) -> None:
        if route.request.method == "POST":
            held.append(route)  # answered below
        else:
            route.fallback()

    alice_page.route(lambda u: u.startswith(moto), hold_uploads)
    alice_page.get_by_label("Attach files").set_input_files(files=[
        {"name": "pixel.png", "mimeType": "image/png", "buffer": _png()},
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"},
    ])
    expect(alice_page.get_by_role("list", name="Files to send")).to_contain_text("pixel.png")
    alice_page.get_by_label("Message", exact=True).fill("a picture")
    alice_page.get_by_label("Message", exact=True).press("Enter")
    uploading = alice_page.get_by_test_id("pending-message")
    expect(uploading).to_contain_text("Sending…")
    for name in ("pixel.png", "notes.txt"):  # one presigned POST per file, in turn
        wait_until(alice_page, lambda: bool(held), f"the upload of {name}")
        expect(uploading.get_by_role("progressbar", name=f"Uploading {name}")).to_have_attribute("value", "0")
        held.pop().continue_()
        expect(uploading.get_by_role("progressbar", name=f"Uploading {name}")).to_have_attribute("value", "1")
    alice_page.unroute(lambda u: u.startswith(moto), hold_uploads)
    for page in (alice_page, bob_page):
        picture = page.get_by_test_id("message").filter(has_text="a picture")
        image = picture.get_by_role("img", name="pixel.png")
        expect(image).to_be_visible()
        expect(image).to_have_js_property("complete", True)
        expect(image).to_have_js_property("naturalWidth", 96)  # the bytes came back from storage
        expect(picture.get_by_role("link", name="📎 notes.txt (5 B)")).to_be_visible()

    # Members: alice (owner) adds carol, makes bob an admin, removes carol; SYSTEM messages.
    alice_page.get_by_role("button", name="Members").click()
    panel = alice_page.get_by_role("complementary", name="Members")
    panel.get_by_role("checkbox", name="carol").check()
    panel.get_by_role("button", name="Add", exact=True).click()
    expect(panel.get_by_role("button", name="Remove carol")).to_be_visible()
    # Presence, live: carol was never seen (offline); her first heartbeat makes the server
    # tell her contacts (onUserEvent PRESENCE). The periodic presence() re-read is blocked
    # meanwhile, so only the event can turn her dot green.
    expect(panel.get_by_role("img", name="carol is offline")).to_be_visible()

    def block_presence(route: Any) -> None:
        if "query Presence" in (route.request.post_data or ""):
            route.abort()
        else:
            route.fallback()

    alice_page.route("**/graphql", block_presence)
    graphql(stack, stack.token("carol", "IdToken"), "mutation { heartbeat { online } }", {})
    expect(panel.get_by_role("img", name="carol is online")).to_be_visible()
    alice_page.unroute("**/graphql", block_presence)
    expect(bob_page.get_by_text("3 members")).to_be_visible()
    panel.get_by_label("Role of bob").select_option("ADMIN")
    expect(panel.get_by_label("Role of bob")).to_have_value("ADMIN")
    panel.get_by_role("button", name="Remove carol").click()
    expect(panel.get_by_role("button", name="Remove carol")).to_have_count(0)
    expect(panel.get_by_role("checkbox", name="carol")).to_be_visible()  # can be added again
    expect(bob_page.get_by_text("2 members")).to_be_visible()
    expect(alice_page.locator(".message.system")).to_have_count(3)
    expect(alice_page.locator(".message.system").last).to_have_text("alice removed carol")
    expect(conversation_with(alice_page, title).get_by_test_id("preview")).to_have_text("alice: alice removed carol")

    # Theme toggle and a narrow screen (bob): the list or the conversation, with a back button.
    alice_page.get_by_role("button", name=re.compile("Switch to (dark|light) theme")).first.click()
    theme = alice_page.evaluate("document.documentElement.dataset.theme")
    assert theme in ("dark", "light")
    alice_page.screenshot(path=str(SCREENSHOTS / f"alice-group-{theme}.png"))
    bob_page.set_viewport_size({"width": 390, "height": 800})
    expect(bob_page.get_by_role("complementary", name="Conversations")).to_be_hidden()
    bob_page.get_by_role("button", name="Back to conversations").click()
    expect(bob_page.get_by_role("complementary", name="Conversations")).to_be_visible()
    bob_page.screenshot(path=str(SCREENSHOTS / "bob-narrow.png"))
    print(f"screenshots: {SCREENSHOTS / f'alice-group-{theme}.png'} {SCREENSHOTS / 'bob-narrow.png'}")
    bob_page.set_viewport_size({"width": 1200, "height": 800})

    # Settings (alice, the owner): rename; bob's list and header follow live (onUserEvent
    # CONVERSATION_RENAMED), with the SYSTEM message.
    conversation_with(bob_page, title).click()
    alice_page.get_by_role("button", name="Conversation settings").click()
    settings = alice_page.get_by_role("dialog", name="Conversation settings")
    renamed = f"Launch {uuid.uuid4().hex[:4]}"
    settings.get_by_label("Group name").fill(renamed)
    settings.get_by_role("button", name="Rename").click()
    expect(settings.get_by_role("status")).to_have_text("Renamed.")
    expect(alice_page.get_by_test_id("conversation-title")).to_have_text(renamed)
    expect(bob_page.get_by_test_id("conversation-title")).to_have_text(renamed)
    expect(conversation_with(bob_page, renamed)).to_have_count(1)
    expect(conversation_with(bob_page, title)).to_have_count(0)
    expect(bob_page.locator(".message.system").last).to_have_text(f"alice renamed the conversation to “{renamed}”")

    # Mute for 8 hours (muteConversation with that time): the list says so, after a reload
    # too; unmute sends null.
    mutes: list[dict[str, Any]] = []
    alice_page.on("request", lambda r: mutes.append(json.loads(r.post_data)["variables"])
                  if r.method == "POST" and "MuteConversation" in (r.post_data or "") else None)
    settings.get_by_label("Mute for").select_option("8h")
    settings.get_by_role("button", name="Mute", exact=True).click()
    expect(settings.get_by_role("status")).to_have_text("Muted.")
    expect(settings.get_by_test_id("muted-until")).to_contain_text("Muted until")
    alice_page.screenshot(path=str(SCREENSHOTS / f"alice-settings-{theme}.png"))
    alice_page.keyboard.press("Escape")  # keyboard: Esc closes the dialog
    expect(settings).to_have_count(0)
    expect(conversation_with(alice_page, renamed).get_by_role("img", name="Muted")).to_be_visible()
    alice_page.screenshot(path=str(SCREENSHOTS / f"alice-muted-{theme}.png"))
    until = datetime.fromisoformat(mutes[-1]["until"].replace("Z", "+00:00"))
    assert 7.9 * 3600 < (until - datetime.now(UTC)).total_seconds() <= 8 * 3600, mutes
    alice_page.reload()
    expect(conversation_with(alice_page, renamed).get_by_role("img", name="Muted")).to_be_visible()
    conversation_with(alice_page, renamed).click()
    alice_page.get_by_role("button", name="Conversation settings").click()
    settings.get_by_role("button", name="Unmute").click()
    expect(settings.get_by_role("status")).to_have_text("Notifications are on.")
    settings.get_by_role("button", name="Close").click()
    expect(conversation_with(alice_page, renamed).get_by_role("img", name="Muted")).to_have_count(0)
    assert mutes[-1]["until"] is None, mutes

    # Edit history (the author): every version of the edited message, oldest first.
    fixed = alice_page.get_by_test_id("message").filter(has_text=edited)
    fixed.get_by_role("button", name="Edited, show edit history").click()
    versions = alice_page.get_by_role("dialog", name="Edit history")
    expect(versions.get_by_test_id("version-body")).to_have_text([lost, edited])
    alice_page.screenshot(path=str(SCREENSHOTS / "alice-edit-history.png"))
    versions.get_by_role("button", name="Close").click()
    expect(versions).to_have_count(0)

    # alice reports ten of bob's messages (API), so the moderators' screen below has a
    # second page.
    alice_token = stack.token("alice", "IdToken")
    seeds = graphql(stack, alice_token,
                    "query($c: ID!) { messages(conversationId: $c, limit: 100) { items { id body } } }",
                    {"c": conversation_id["id"]})["messages"]["items"]
    seed_ids = {m["body"]: m["id"] for m in seeds if re.fullmatch(r"seed \d\d", m["body"] or "")}
    for n in range(1, 11):
        graphql(stack, alice_token, "mutation($c: ID!, $m: ID!, $r: String!) { reportMessage("
                "conversationId: $c, messageId: $m, reason: $r) { reason } }",
                {"c": conversation_id["id"], "m": seed_ids[f"seed {n:02d}"], "r": f"Off topic {n:02d}"})

    # bob reports alice's message (not his own: no Report on those), with a reason; the
    # moderators' reportedMessages has it.
    own = bob_page.get_by_test_id("message").filter(has_text="seed 45")
    own.hover()
    expect(own.get_by_role("button", name="Report message")).to_have_count(0)
    target = bob_page.get_by_test_id("message").filter(has_text=unsent)
    target.hover()
    target.get_by_role("button", name="Report message").click()
    report = bob_page.get_by_role("dialog", name="Report message")
    reason = f"Looks like spam {uuid.uuid4().hex[:6]}"
    report.get_by_label("Reason").fill(reason)
    report.get_by_role("button", name="Report", exact=True).click()
    expect(report.get_by_role("status")).to_have_text("Thanks. The moderators will review this message.")
    bob_page.screenshot(path=str(SCREENSHOTS / "bob-report.png"))
    report.get_by_role("button", name="Done").click()
    expect(report).to_have_count(0)
    mod_token = stack.token("mod", "IdToken")
    reports = poll(  # reports are listed through GSI2: a new one shows after the index lag
        lambda: graphql(stack, mod_token,
                        "query { reportedMessages(limit: 20) { items { conversationId reason message { id } } } }",
                        {})["reportedMessages"]["items"],
        lambda got: any(r["reason"] == reason for r in got))
    assert [r["conversationId"] for r in reports if r["reason"] == reason] == [conversation_id["id"]], reports

    # The moderators' review screen: mod (group moderator) opens Reports from the sidebar
    # header (keyboard): newest first, ten a page, with the conversation, the reporter, the
    # reason, the time and the reported message; Load more fetches the next page (nextToken).
    mod_page = browsers.page("mod")
    sign_in(mod_page, url, stack.user("mod"))
    mod_page.get_by_role("button", name="Reports", exact=True).focus()
    mod_page.keyboard.press("Enter")
    screen = mod_page.get_by_role("region", name="Reported messages")
    found = screen.get_by_test_id("report")
    expect(found).to_have_count(10)
    newest = found.first
    expect(newest.get_by_test_id("report-reason")).to_have_text(reason)
    expect(newest.get_by_test_id("reporter")).to_have_text("bob")
    expect(newest.get_by_test_id("report-conversation")).to_have_text(conversation_id["id"])
    expect(newest.get_by_test_id("reported-sender")).to_have_text("alice")
    expect(newest.get_by_test_id("reported-body")).to_have_text(unsent)
    expect(newest.get_by_test_id("report-time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    expect(found.nth(1).get_by_test_id("report-reason")).to_have_text("Off topic 10")
    expect(found.nth(1).get_by_test_id("reporter")).to_have_text("alice")
    expect(found.nth(1).get_by_test_id("reported-sender")).to_have_text("bob")
    mod_page.screenshot(path=str(SCREENSHOTS / "mod-reports.png"))
    screen.get_by_role("button", name="Load more").click()
    expect(found).to_have_count(11)
    expect(found.last).to_be_focused()  # keyboard: focus moves to the first report loaded
    expect(found.last.get_by_test_id("report-reason")).to_have_text("Off topic 01")
    expect(found.last.get_by_test_id("reported-body")).to_have_text("seed 01")
    expect(screen.get_by_role("button", name="Load more")).to_have_count(0)
    # The other theme too (the screen uses the theme's colours).
    mod_page.get_by_role("button", name=re.compile("Switch to (dark|light) theme")).click()
    mod_theme = mod_page.evaluate("document.documentElement.dataset.theme")
    screen.get_by_test_id("report").first.scroll_into_view_if_needed()
    mod_page.screenshot(path=str(SCREENSHOTS / f"mod-reports-{mod_theme}.png"))
    # Not moderators: no Reports entry for alice or bob, and the API refuses them anyway.
    expect(alice_page.get_by_role("button", name="Reports", exact=True)).to_have_count(0)
    expect(bob_page.get_by_role("button", name="Reports", exact=True)).to_have_count(0)
    refused = urllib.request.Request(stack.url, data=json.dumps(
        {"query": "query { reportedMessages { items { reason } } }"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": alice_token})
    with urllib.request.urlopen(refused, timeout=15) as response:
        answer = json.loads(response.read())
    assert answer.get("errors") and not (answer.get("data") or {}).get("reportedMessages"), answer
    # A global moderator deletes the reported message (not a member of the conversation):
    # a tombstone, seen live by alice.
    newest.get_by_role("button", name="Delete message").click()
    newest.get_by_role("group", name="Confirm delete").get_by_role("button", name="Yes, delete").click()
    expect(newest.get_by_test_id("reported-body")).to_have_text("This message was deleted")
    expect(newest.get_by_role("button", name="Delete message")).to_have_count(0)
    expect(alice_page.get_by_test_id("message-body").filter(has_text=unsent)).to_have_count(0)
    mod_page.get_by_role("button", name="Close reports").click()
    expect(screen).to_have_count(0)
    expect(mod_page.get_by_role("button", name="Reports", exact=True)).to_be_focused()

    # bob leaves: gone from his list at once; alice sees the SYSTEM message and one member.
    bob_page.get_by_role("button", name="Conversation settings").click()
    bob_settings = bob_page.get_by_role("dialog", name="Conversation settings")
    bob_settings.get_by_role("button", name="Leave conversation").click()
    bob_settings.get_by_role("group", name="Confirm leave").get_by_role("button", name="Yes, leave").click()
    expect(conversation_with(bob_page, renamed)).to_have_count(0)
    expect(bob_page.get_by_test_id("conversation-title")).to_have_count(0)
    expect(alice_page.locator(".message.system").last).to_have_text("bob left")
    expect(alice_page.get_by_text("1 member", exact=True)).to_be_visible()
    expect(bob_page.get_by_role("status").filter(has_text="no longer a member")).to_have_count(0)

    # alice adds bob back (his list gets it live), he opens it, and she removes him: the
    # conversation closes and leaves his list, and he is told.
    alice_page.get_by_role("button", name="Members").click()
    panel = alice_page.get_by_role("complementary", name="Members")
    panel.get_by_role("checkbox", name="bob").check()
    panel.get_by_role("button", name="Add", exact=True).click()
    expect(panel.get_by_role("button", name="Remove bob")).to_be_visible()
    conversation_with(bob_page, renamed).click()
    expect(bob_page.get_by_test_id("conversation-title")).to_have_text(renamed)
    expect(bob_page.get_by_text("2 members")).to_be_visible()
    panel.get_by_role("button", name="Remove bob").click()
    expect(conversation_with(bob_page, renamed)).to_have_count(0)
    expect(bob_page.get_by_test_id("conversation-title")).to_have_count(0)
    expect(bob_page.get_by_role("status").filter(has_text=f"You are no longer a member of “{renamed}”.")).to_be_visible()
    expect(alice_page.locator(".message.system").last).to_have_text("alice removed bob")
    bob_page.screenshot(path=str(SCREENSHOTS / "bob-removed.png"))
    print("screenshots: " + " ".join(str(SCREENSHOTS / f) for f in (
        f"alice-settings-{theme}.png", f"alice-muted-{theme}.png", "alice-edit-history.png", "bob-report.png",
        "bob-removed.png", "mod-reports.png", f"mod-reports-{mod_theme}.png")))
    assert not browsers.problems, browsers.problems


def test_sign_up_token_refresh_and_sign_out(web_dist: Path, stack: DevStack, browsers: Browsers) -> None:
    url = stack.outputs["WebClientUrl"]
    # alice is signed in before the newcomer exists: the name of this later sender is looked
    # up when it first shows (the directory has no lookup by id; it is paged until found).
    alice_page = browsers.page("alice")
    sign_in(alice_page, url, stack.user("alice"))
    page = browsers.page("newcomer")
    cognito_calls: list[str] = []
    cognito = url.split("/app/")[0] + "/cognito"  # the emulator's route to moto's Cognito
    page.on("request", lambda request: cognito_calls.append(request.headers.get("x-amz-target", ""))
            if request.url.startswith(cognito) and request.method == "POST" else None)

    # Sign up (moto's Cognito: the code is not checked, no email is sent), confirm, signed in.
    page.goto(url)
    page.get_by_role("button", name="Create one").click()
    email = f"newcomer-{uuid.uuid4().hex[:6]}@example.com"
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("Newcomer-pass-2024")
    page.get_by_label("Display name").fill("Nova Newcomer")
    page.get_by_role("button", name="Create an account").click()
    expect(page.get_by_role("status")).to_have_text("We sent a confirmation code to your email.")
    page.get_by_label("Confirmation code").fill("123456")
    page.get_by_role("button", name="Confirm your account").click()
    expect(page.get_by_test_id("me-name")).to_have_text("Nova Newcomer")
    assert "AWSCognitoIdentityProviderService.SignUp" in cognito_calls
    assert "AWSCognitoIdentityProviderService.ConfirmSignUp" in cognito_calls

    # The directory knows the newcomer by the chosen name.
    alice_token = stack.token("alice", "IdToken")
    found = poll(  # the directory is GSI2: a new name is found after the index lag
        lambda: graphql(stack, alice_token, "query { users(query: \"Nova\") { items { displayName } } }", {}),
        lambda got: bool(got["users"]["items"]))
    assert [u["displayName"] for u in found["users"]["items"]] == ["Nova Newcomer"]

    # Token refresh is Amplify's: make the stored tokens look expired (clock drift) and
    # reload; Amplify refreshes them (GetTokensFromRefreshToken, which the emulator's
    # /cognito route turns into REFRESH_TOKEN_AUTH for moto) and the session goes on.
    old_token = page.evaluate("() => Object.entries(localStorage).find(([k]) => k.endsWith('.idToken'))[1]")
    page.evaluate("() => Object.keys(localStorage).filter((k) => k.endsWith('.clockDrift'))"
                  ".forEach((k) => localStorage.setItem(k, String(2 * 3600 * 1000)))")
    cognito_calls.clear()
    page.reload()
    expect(page.get_by_test_id("me-name")).to_have_text("Nova Newcomer")
    page.get_by_role("button", name="New conversation").click()
    dialog = page.get_by_role("dialog", name="New conversation")
    dialog.get_by_role("checkbox", name="alice").check()
    dialog.get_by_role("button", name="Start chat").click()
    expect(page.get_by_test_id("conversation-title")).to_have_text("alice")
    greeting = f"Hi, I am new {uuid.uuid4().hex[:6]}"
    page.get_by_label("Message", exact=True).fill(greeting)
    page.get_by_label("Message", exact=True).press("Enter")
    nova = conversation_with(alice_page, "Nova Newcomer")
    expect(nova.get_by_test_id("preview")).to_have_text(f"Nova Newcomer: {greeting}")
    nova.click()
    expect(alice_page.get_by_test_id("message").filter(has_text=greeting).locator(".sender")).to_have_text(
        "Nova Newcomer")
    assert "AWSCognitoIdentityProviderService.GetTokensFromRefreshToken" in cognito_calls
    new_token = page.evaluate("() => Object.entries(localStorage).find(([k]) => k.endsWith('.idToken'))[1]")
    assert new_token != old_token

    # Sign out: back to the sign-in form, and a reload stays signed out.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_test_id("me-name")).to_have_count(0)
    assert not browsers.problems, browsers.problems
