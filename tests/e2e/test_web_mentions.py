"""Mentions in the web client (issue 14 part 6), in headless Chromium against the local stack:
alice types "@bo" in a group's composer and picks bob from the suggestions (keyboard) and carol
(mouse); her message shows the mentioned names highlighted. bob, who muted the group, gets an
"@" badge on it in his list, live (the MENTION user event); opening it shows the message marked
as mentioning him, and the badge goes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cloudchat_client import document

from .conftest import DevStack
from .test_web import (  # noqa: F401 (module fixtures: the built app, one Chromium)
    SCREENSHOTS,
    Browsers,
    browser,
    conversation_with,
    expect,
    graphql,
    sign_in,
    web_dist,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def tabs(request: pytest.FixtureRequest) -> Iterator[Browsers]:
    opened = Browsers(request.getfixturevalue("browser"))
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.usefixtures("web_dist")
def test_at_completes_members_highlights_mentions_and_badges_them(stack: DevStack, tabs: Browsers) -> None:
    url = stack.outputs["WebClientUrl"]
    alice, bob = stack.user("alice"), stack.user("bob")
    title = f"mentions {uuid.uuid4().hex[:6]}"
    token = stack.token("alice")
    cid = graphql(stack, token, document("CreateConversation"), {"input": {
        "memberIds": [bob["sub"], stack.user("carol")["sub"]], "title": title}})["createConversation"]["id"]
    graphql(stack, stack.token("bob"), document("MuteConversation"),
            {"conversationId": cid, "until": "2999-01-01T00:00:00Z"})

    alice_page, bob_page = tabs.page("alice"), tabs.page("bob")
    sign_in(alice_page, url, alice)
    sign_in(bob_page, url, bob)
    bob_item = conversation_with(bob_page, title)
    expect(bob_item.get_by_test_id("muted")).to_be_visible()
    expect(bob_item.get_by_test_id("mention-badge")).to_have_count(0)

    conversation_with(alice_page, title).click()
    expect(alice_page.get_by_test_id("conversation-title")).to_have_text(title)
    box = alice_page.get_by_label("Message", exact=True)
    expect(box).to_be_editable()  # (disabled while the history loads: keys would go nowhere)
    box.press_sequentially("Hi @bo")
    suggestions = alice_page.get_by_role("listbox", name="Mention suggestions")
    expect(suggestions.get_by_role("option")).to_have_text(["@bob"])
    box.press("Enter")  # picks the highlighted suggestion; does not send
    expect(box).to_have_value("Hi @bob ")
    expect(suggestions).to_have_count(0)
    box.press_sequentially("and @ca")
    suggestions.get_by_role("option", name="@carol").click()
    box.press_sequentially("please look")
    expect(box).to_have_value("Hi @bob and @carol please look")
    box.press("Enter")
    sent = alice_page.get_by_test_id("message").filter(has_text="please look")
    expect(sent).to_have_count(1)
    expect(sent.get_by_test_id("mention")).to_have_text(["@bob", "@carol"])
    expect(sent).not_to_have_attribute("data-mentions-me", "true")  # (alice mentioned others)

    # bob: the @ badge, live, although he muted the conversation
    expect(bob_item.get_by_test_id("mention-badge")).to_have_text("@1")
    expect(bob_item.get_by_test_id("mention-badge")).to_have_attribute("aria-label", "1 unread mention of you")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    bob_page.screenshot(path=str(SCREENSHOTS / "mention-badge.png"))
    bob_item.click()
    mine = bob_page.get_by_test_id("message").filter(has_text="please look")
    expect(mine).to_have_attribute("data-mentions-me", "true")
    expect(mine.locator(".mention-me")).to_have_text("@bob")
    expect(bob_item.get_by_test_id("mention-badge")).to_have_count(0)
    bob_page.screenshot(path=str(SCREENSHOTS / "mention-highlight.png"))

    # a plain "@word" that was typed, not picked, mentions no one
    box = alice_page.get_by_label("Message", exact=True)
    box.fill("mail @nobody later")
    box.press("Enter")
    plain = alice_page.get_by_test_id("message").filter(has_text="mail @nobody later")
    expect(plain).to_have_count(1)
    expect(plain.get_by_test_id("mention")).to_have_count(0)
    problems: list[Any] = tabs.problems
    assert not problems, problems
