"""A real headless Chromium (Debian's package) driven by Playwright, for the console's tests.

Playwright's own browser downloads are never used: ``executable_path`` points at the system's
Chromium. Without one the tests skip, except in CI (``CI=true``), where that is a failure.
Set ``RAYLANE_CONSOLE_SCREENSHOTS=1`` to write the pages' screenshots into ``docs/console/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SHOTS = Path(__file__).resolve().parents[1] / "docs" / "console"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str | None:
    for candidate in (os.environ.get("RAYLANE_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    path = chromium_path()
    if path is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("CI needs Chromium for the console's browser tests (.ci/run installs it)")
        pytest.skip("no Chromium on this machine: `apt-get install -y chromium` runs these tests")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            # root in a container has no user namespace for the sandbox
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watch:
    """What the page said that a test must see none of: dialogs, CSP violations, page errors."""

    dialogs: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a dialog fired: {self.dialogs}"
        assert self.csp == [], f"Content-Security-Policy violations: {self.csp}"
        assert self.errors == [], f"uncaught page errors: {self.errors}"


def new_page(browser: Any, *, viewport: dict[str, int] | None = None) -> tuple[Any, Watch]:
    """A page in a fresh context (its own sessionStorage), watched for dialogs and CSP reports."""
    context = browser.new_context(viewport=viewport or DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = Watch()

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            watch.csp.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    return page, watch


def sign_in(page: Any, base_url: str, token: str, path: str = "/console/") -> None:
    page.goto(base_url + path)
    page.get_by_label("API key").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("who").wait_for()


def await_result(page: Any, test_id: str, *, timeout_ms: int = 30_000) -> Any:
    """Wait for the element an action renders, or for the error box it renders instead; an error
    fails with its text (a timeout alone would not say what the page showed)."""
    result = page.get_by_test_id(test_id)
    result.or_(page.get_by_role("alert")).first.wait_for(timeout=timeout_ms)
    if not result.is_visible():
        raise AssertionError(f"{test_id} did not render: {page.get_by_role('alert').inner_text()}")
    return result


def screenshot(page: Any, name: str) -> None:
    """Into docs/console/ when RAYLANE_CONSOLE_SCREENSHOTS is set (the docs' pictures)."""
    if os.environ.get("RAYLANE_CONSOLE_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
