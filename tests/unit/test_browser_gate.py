"""The console's browser tests skip without Chromium on a developer's machine, fail in CI."""

from __future__ import annotations

import pytest

from tests import browser


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "chromium_path", lambda: None)


def test_without_chromium_outside_ci_the_tests_skip(
    no_chromium: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        browser.require_chromium()


def test_without_chromium_in_ci_the_tests_fail(
    no_chromium: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI needs Chromium"):
        browser.require_chromium()


def test_a_chromium_on_the_machine_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "chromium_path", lambda: "/usr/bin/chromium")
    monkeypatch.setenv("CI", "true")
    assert browser.require_chromium() == "/usr/bin/chromium"
