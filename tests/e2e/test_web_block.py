"""Blocking in the web client (React + Amplify v6 in headless Chromium, against the local stack):
bob blocks alice from a group's member list; her messages collapse to "Message from a blocked
user — show" (those loaded before, a live one, and after a reload, where the page flags them;
the conversation list's preview too);
"show" opens one; the directory no longer offers bob to alice; unblocking shows them again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from cloudchat_client import document
from tests.e2e import test_web as web

from .conftest import DevStack

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browsers() -> Iterator[web.Browsers]:
    """The built app (as test_web builds it) and Chromium contexts, one per user."""
    web.built_dist()
    if not web.CHROMIUM.exists():
        pytest.fail(f"{web.CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(web.CHROMIUM), headless=True,
                                              args=web.CHROMIUM_ARGS)
        opened = web.Browsers(chromium)
        try:
            yield opened
        finally:
            opened.close()
            chromium.close()


def test_block_and_unblock_from_the_member_list(stack: DevStack, browsers: web.Browsers) -> None:
    url = stack.outputs["WebClientUrl"]
    alice, bob = stack.user("alice"), stack.user("bob")
    title = f"Blocking {uuid.uuid4().hex[:6]}"
    before, live = f"before the block {uuid.uuid4().hex[:6]}", f"after the block {uuid.uuid4().hex[:6]}"

    token = stack.token("alice")  # (plain HTTP: asyncio stays out of Playwright's loop)
    cid = web.graphql(stack, token, document("CreateConversation"), {"input": {
        "memberIds": [bob["sub"], stack.user("carol")["sub"]], "title": title}})["createConversation"]["id"]

    def send(body: str) -> None:
        web.graphql(stack, token, web.SEND, {"input": {
            "conversationId": cid, "body": body, "clientMessageId": uuid.uuid4().hex[:16]}})

    send(before)
    bob_page = browsers.page("bob")
    web.sign_in(bob_page, url, bob)
    web.conversation_with(bob_page, title).click()
    expect(bob_page.get_by_test_id("message-body").filter(has_text=before)).to_have_count(1)

    # bob blocks alice from the group's member list: her message collapses at once
    bob_page.get_by_role("button", name="Members").click()
    bob_page.get_by_role("button", name="Block alice").click()
    expect(bob_page.get_by_role("button", name="Unblock alice")).to_be_visible()
    expect(bob_page.get_by_test_id("blocked-message")).to_have_count(1)
    expect(bob_page.get_by_text(before)).to_have_count(0)  # in the list's preview neither
    expect(web.conversation_with(bob_page, title).get_by_test_id("preview")).to_have_text(
        "Message from a blocked user")

    # a live message from her arrives collapsed too
    send(live)
    expect(bob_page.get_by_test_id("blocked-message")).to_have_count(2)
    expect(bob_page.get_by_text(live)).to_have_count(0)

    # after a reload the page itself flags them (senderBlocked); "show" opens one
    bob_page.reload()
    expect(bob_page.get_by_test_id("me-name")).to_have_text("bob")
    web.conversation_with(bob_page, title).click()
    expect(bob_page.get_by_test_id("blocked-message")).to_have_count(2)
    bob_page.get_by_role("button", name="Show the message from alice").first.click()
    expect(bob_page.get_by_test_id("message-body").filter(has_text=before)).to_have_count(1)
    expect(bob_page.get_by_test_id("blocked-message")).to_have_count(1)

    # alice's directory no longer offers bob (denial: she cannot start a chat with him)
    alice_page = browsers.page("alice")
    web.sign_in(alice_page, url, alice)
    alice_page.get_by_role("button", name="New conversation").click()
    dialog = alice_page.get_by_role("dialog", name="New conversation")
    dialog.get_by_label("Find people").fill("bo")
    expect(dialog.get_by_role("checkbox", name="bob")).to_have_count(0)
    dialog.get_by_label("Find people").fill("car")
    expect(dialog.get_by_role("checkbox", name="carol")).to_be_visible()  # (the directory works)

    # bob unblocks her: everything shows again
    bob_page.get_by_role("button", name="Members").click()
    bob_page.get_by_role("button", name="Unblock alice").click()
    expect(bob_page.get_by_role("button", name="Block alice")).to_be_visible()
    expect(bob_page.get_by_test_id("blocked-message")).to_have_count(0)
    expect(bob_page.get_by_test_id("message-body").filter(has_text=live)).to_have_count(1)
    shot = web.SCREENSHOTS / "bob-unblocked.png"
    web.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    bob_page.screenshot(path=str(shot))
    assert not browsers.problems, browsers.problems
