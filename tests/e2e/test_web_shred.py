"""Deleting a conversation in the web client (headless Chromium, the local stack): the
owner deletes a group from its settings after a confirm dialog; it leaves both members'
lists live, and a plain member is never offered the button."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import DevStack
from .test_web import Browsers, browser, browsers, conversation_with, expect, sign_in, web_dist

__all__ = ["browser", "browsers", "web_dist"]  # (fixtures this module uses)

pytestmark = pytest.mark.e2e

CREATE = "mutation($i: CreateConversationInput!) { createConversation(input: $i) { id } }"
SEND = "mutation($i: SendMessageInput!) { sendMessage(input: $i) { id } }"


def test_the_owner_deletes_a_group_for_everyone(web_dist: Path, stack: DevStack, browsers: Browsers) -> None:
    url = stack.outputs["WebClientUrl"]
    alice, bob = stack.user("alice"), stack.user("bob")
    title = f"Doomed {uuid.uuid4().hex[:6]}"
    token = stack.token("alice")

    def gql(query: str, variables: dict[str, Any]) -> Any:  # (Playwright's loop is running)
        got = requests.post(stack.url, json={"query": query, "variables": variables},
                            headers={"Authorization": token}, timeout=30).json()
        assert not got.get("errors"), got
        return got["data"]

    cid = gql(CREATE, {"i": {"memberIds": [bob["sub"]], "title": title}})["createConversation"]["id"]
    gql(SEND, {"i": {"conversationId": cid, "body": "the last words", "clientMessageId": uuid.uuid4().hex[:16]}})
    alice_page, bob_page = browsers.page("alice"), browsers.page("bob")
    sign_in(alice_page, url, alice)
    sign_in(bob_page, url, bob)

    # bob, a plain member, is not offered deletion
    conversation_with(bob_page, title).click()
    expect(bob_page.get_by_test_id("message").filter(has_text="the last words")).to_have_count(1)
    bob_page.get_by_role("button", name="Conversation settings").click()
    bob_settings = bob_page.get_by_role("dialog", name="Conversation settings")
    expect(bob_settings.get_by_role("button", name="Leave conversation")).to_be_visible()
    expect(bob_settings.get_by_role("button", name="Delete conversation")).to_have_count(0)
    bob_settings.get_by_role("button", name="Close").click()

    # alice, the owner: settings -> Delete conversation -> a confirm dialog; Cancel keeps it
    conversation_with(alice_page, title).click()
    alice_page.get_by_role("button", name="Conversation settings").click()
    settings = alice_page.get_by_role("dialog", name="Conversation settings")
    settings.get_by_role("button", name="Delete conversation").click()
    confirm = alice_page.get_by_role("dialog", name="Delete conversation?")
    expect(confirm).to_contain_text("cannot be undone")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    expect(conversation_with(alice_page, title)).to_have_count(1)
    settings.get_by_role("button", name="Delete conversation").click()
    alice_page.get_by_role("dialog", name="Delete conversation?").get_by_role(
        "button", name="Delete for everyone").click()

    # gone from alice's list at once, and from bob's live (REMOVED_FROM_CONVERSATION), with a notice
    expect(conversation_with(alice_page, title)).to_have_count(0)
    expect(alice_page.get_by_test_id("conversation-title")).to_have_count(0)
    expect(conversation_with(bob_page, title)).to_have_count(0)
    expect(bob_page.get_by_text(f"You are no longer a member of “{title}”.")).to_be_visible()
    problems: list[Any] = [p for p in browsers.problems if "page error" in p]
    assert not problems, problems
