"""The web client's search box in real headless Chromium against the local stack: results
with the matched words marked, a click opens the conversation at the message (loaded from
before the newest page), scoped to the open conversation, and a query with no match."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .conftest import DevStack, run
from .test_features import group, send
from .test_web import Browsers, browser, browsers, conversation_with, expect, sign_in, web_dist  # noqa: F401

pytestmark = pytest.mark.e2e


def test_search_box_finds_marks_and_jumps_to_the_message(web_dist: Path, stack: DevStack,  # noqa: F811
                                                         browsers: Browsers) -> None:  # noqa: F811
    url = stack.outputs["WebClientUrl"]
    word = f"Needle{uuid.uuid4().hex[:4]}"
    title = f"haystack {word[-4:]}"

    async def prepare() -> dict[str, Any]:
        alice = stack.token("alice")
        cid = await group(stack, alice, "bob", title=title)
        target = await send(stack, alice, cid, f"the {word} is here, café au lait")
        for i in range(40):  # more than the first page (30): the hit is not loaded at first
            await send(stack, stack.token("bob"), cid, f"straw {i}")
        return target

    # (Playwright's sync API runs an event loop on this thread: the gql calls run on another)
    with ThreadPoolExecutor(1) as pool:
        target = pool.submit(lambda: run(prepare(), timeout=120)).result()
    page = browsers.page("bob")
    sign_in(page, url, stack.user("bob"))
    expect(conversation_with(page, title)).to_have_count(1)

    box = page.get_by_role("searchbox", name="Search messages")
    box.fill(word.lower())
    box.press("Enter")
    hits = page.get_by_test_id("search-hit")
    expect(hits).to_have_count(1)
    expect(hits.first.locator("mark")).to_have_text(word)
    expect(hits.first).to_contain_text(title)
    hits.first.click()
    expect(page.get_by_test_id("conversation-title")).to_have_text(title)
    shown = page.locator(f'[data-testid="message"][data-seq="{target["seq"]}"]')
    expect(shown).to_have_attribute("data-focused", "true")
    expect(shown).to_be_in_viewport()
    expect(shown.get_by_test_id("message-body")).to_have_text(target["body"])

    # scoped to the open conversation, accents and case ignored; then a query with no match
    page.get_by_role("combobox", name="Search in").select_option("here")
    box.fill("CAFE STRAW")
    box.press("Enter")
    expect(page.get_by_test_id("search-results")).to_contain_text("No messages match")
    box.fill("café")
    box.press("Enter")
    expect(hits).to_have_count(1)
    expect(hits.first.locator("mark")).to_have_text("café")
    box.fill("🎉")
    box.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("no words")
    assert not browsers.problems, browsers.problems
