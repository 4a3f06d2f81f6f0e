"""The web client's Notifications settings (web/src/NotificationSettings.jsx) in headless
Chromium against the local stack: the toggles show and change the server's settings, which
the API then reports; the dialog reads them fresh each time it opens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import DevStack
from .test_web import (  # noqa: F401 - browser, browsers, web_dist: fixtures
    Browsers,
    browser,
    browsers,
    expect,
    graphql,
    sign_in,
    web_dist,
)

pytestmark = pytest.mark.e2e

ME = "{ me { notificationSettings { email push emailAddress } } }"


def settings_of(stack: DevStack, name: str) -> dict[str, Any]:
    return dict(graphql(stack, stack.token(name), ME, {})["me"]["notificationSettings"])


def test_notification_settings_in_the_browser(web_dist: Path, stack: DevStack,  # noqa: F811
                                              browsers: Browsers) -> None:  # noqa: F811
    bob = stack.user("bob")
    page = browsers.page("bob")
    sign_in(page, stack.outputs["WebClientUrl"], bob)

    page.get_by_role("button", name="Notification settings").click()
    dialog = page.get_by_role("dialog", name="Notifications")
    email, push = dialog.get_by_test_id("email-notices"), dialog.get_by_test_id("push-notices")
    expect(email).not_to_be_checked()
    expect(email).to_be_enabled()  # the local stack sends e-mail notices
    expect(push).to_be_checked()
    expect(dialog.get_by_test_id("email-notices-help")).to_contain_text("verified e-mail address")

    email.click()
    expect(dialog.get_by_role("status")).to_have_text("E-mail notices are on.")
    expect(email).to_be_checked()
    expect(dialog.get_by_test_id("email-notices-help")).to_have_text(
        f"To {bob['username']}, without the message text.")
    assert settings_of(stack, "bob") == {"email": True, "push": True, "emailAddress": bob["username"]}

    push.click()
    expect(dialog.get_by_role("status")).to_have_text("Push notifications are off.")
    expect(push).not_to_be_checked()
    assert settings_of(stack, "bob")["push"] is False

    # closed and opened again: the server's settings, also when changed elsewhere (the API)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    graphql(stack, stack.token("bob"),
            "mutation { updateNotificationSettings(email: false, push: true) { email } }", {})
    page.get_by_role("button", name="Notification settings").click()
    expect(email).not_to_be_checked()
    expect(push).to_be_checked()
    assert not browsers.problems, browsers.problems
