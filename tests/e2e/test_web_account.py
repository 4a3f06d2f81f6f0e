"""The web client's Settings → Delete account in headless Chromium against the local stack:
the confirmation dialog (nothing happens until DELETE is typed), the account deleted, the
session signed out, sign-in refused; a member in another browser sees "Deleted user left"."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudchat_client import document

from . import test_web as web
from ._matrix import PASSWORD, create_user, idp, sign_in
from .conftest import DevStack, poll

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dist() -> Path:
    """web/dist, built when missing or older than its sources (test_web.built_dist)."""
    return web.built_dist()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not web.CHROMIUM.exists():
        pytest.fail(f"{web.CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(web.CHROMIUM), headless=True,
                                             args=web.CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_app(pages: web.Browsers, stack: DevStack, who: str, username: str) -> Any:
    page = pages.page(who)
    page.goto(stack.outputs["WebClientUrl"])
    page.get_by_label("Email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="New conversation")).to_be_enabled()
    return page


def test_delete_account_from_settings(dist: Path, stack: DevStack, chromium: Any) -> None:
    doomed = create_user(stack, "doomed")
    witness = create_user(stack, "witness")
    token = sign_in(stack, doomed.username, kind="IdToken")
    witness_token = sign_in(stack, witness.username, kind="IdToken")
    title = f"Goodbye {uuid.uuid4().hex[:6]}"

    def gql(token: str, name: str, variables: dict[str, Any] | None = None) -> Any:
        return web.graphql(stack, token, document(name), variables or {})

    gql(witness_token, "Me")
    gql(token, "Me")
    cid = gql(token, "CreateConversation", {"input": {
        "memberIds": [witness.sub], "title": title}})["createConversation"]["id"]
    gql(token, "SendMessage", {"input": {
        "conversationId": cid, "body": "see you", "clientMessageId": uuid.uuid4().hex[:16]}})
    pages = web.Browsers(chromium)
    try:
        page = open_app(pages, stack, "doomed", doomed.username)
        page.get_by_role("button", name="Settings", exact=True).click()
        dialog = page.get_by_role("dialog", name="Settings", exact=True)
        dialog.get_by_role("button", name="Delete account…").click()
        confirm = dialog.get_by_role("form", name="Confirm account deletion")
        delete = confirm.get_by_role("button", name="Delete my account")
        expect(delete).to_be_disabled()  # until DELETE is typed
        confirm.get_by_label("Type DELETE to confirm").fill("delete")
        expect(delete).to_be_disabled()
        confirm.get_by_label("Type DELETE to confirm").fill("DELETE")
        confirm.get_by_label("Also erase every message I sent").check()
        delete.click()
        # signed out, and the account is gone: signing in again is refused
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        with pytest.raises(Exception, match="UserNotFoundException"):
            idp(stack).admin_get_user(UserPoolId=stack.outputs["UserPoolId"], Username=doomed.username)
        page.get_by_label("Email").fill(doomed.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_be_visible()
        expect(page.get_by_test_id("me-name")).to_have_count(0)
        page.screenshot(path=str(web.SCREENSHOTS / "account-deleted.png"))

        # the other member: "Deleted user left", the message erased (once the background part ran)
        # (departures first, then erasure: a later step of the job)
        poll(lambda: gql(witness_token, "MessagesSince", {"conversationId": cid, "afterSeq": 0,
                                                          "limit": 100})["messagesSince"]["items"],
             lambda items: items[-1]["kind"] == "SYSTEM" and all(
                 m["erased"] for m in items if m["kind"] == "TEXT"), timeout=30)
        other = open_app(pages, stack, "witness", witness.username)
        web.conversation_with(other, title).click()
        expect(other.get_by_test_id("message").filter(has_text="Deleted user left")).to_have_count(1)
        expect(other.get_by_test_id("message-body").filter(
            has_text="Erased with its author")).to_have_count(1)
        assert not pages.problems, pages.problems
    finally:
        pages.close()
