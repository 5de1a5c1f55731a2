"""Browser-test plumbing: Debian's Chromium driven by Playwright against pytest-django's live server.

Playwright's bundled browsers are never downloaded; we launch ``/usr/bin/chromium`` headless.
Screenshots go to ``var/screenshots/`` (git-ignored) so a person can look at them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
DESKTOP = {"viewport": {"width": 1366, "height": 900}}


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    return {"executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def _browser_settings(settings: Any) -> None:
    # Axes counts failures per IP; the live server's client is always 127.0.0.1.
    settings.AXES_ENABLED = False
    # Real hashing costs a third of a second per sign-in; these tests are about the UI.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """``screenshot(page, "name")`` saves a full-page PNG under var/screenshots/."""

    def take(page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


class CspWatch:
    """Collects CSP violations and console errors seen by a page."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def attach(self, page: Any) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        page.on("response", self._on_response)
        # A listener installed before any page script runs records violations the console may not show.
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', function (e) {"
            " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI); });"
        )

    def _on_response(self, response: Any) -> None:
        if response.status >= 400 and not response.request.is_navigation_request():
            self.problems.append(f"{response.status}: {response.url}")

    def _on_console(self, msg: Any) -> None:
        # Failed sub-resources are recorded by _on_response; a 404 page's own load is expected.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {msg.text}")


@pytest.fixture
def open_page(browser: Any, live_server: Any) -> Iterator[Callable[..., tuple[Any, CspWatch]]]:
    """``open_page(PHONE|DESKTOP, locale=...)`` returns a fresh page and its CSP watcher."""
    contexts: list[Any] = []

    def make(device: dict[str, Any], locale: str = "zh-CN") -> tuple[Any, CspWatch]:
        # Reduced motion turns off Bootstrap's transitions, so menus open without waiting.
        context = browser.new_context(
            base_url=live_server.url, locale=locale, reduced_motion="reduce", **device
        )
        context.set_default_timeout(8000)
        contexts.append(context)
        page = context.new_page()
        watch = CspWatch()
        watch.attach(page)
        return page, watch

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, username: str, password: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form.login-form button[type=submit]")
    page.wait_for_load_state("load")
