"""Headless Chromium for the page tests: Debian's chromium driven by Playwright (its own
browser download does not work here)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"

if not os.path.exists(CHROMIUM):
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    pytest.skip(f"no {CHROMIUM} here (apt-get install chromium)", allow_module_level=True)


@contextmanager
def chromium() -> Iterator:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
        )  # fmt: skip
        yield browser
        browser.close()


def page_errors(page) -> list[str]:
    """What went wrong in the page: script errors and console errors. A refusal is an answer
    the page shows, not an error of the page; the browser still logs "Failed to load
    resource" for its 4xx, so those are left out."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            msg.type == "error"
            and "Failed to load resource" not in msg.text
            and errors.append(msg.text)
        ),
    )
    return errors


# ---------------------------------------------------------------- driving the terminal page

SHOTS = Path(__file__).resolve().parent / "screenshots"  # git-ignored


def shoot(page, name: str) -> None:
    """A screenshot to look at, named by the viewport: tests/screenshots/NAME-WxH.png."""
    SHOTS.mkdir(exist_ok=True)
    size = page.viewport_size
    page.screenshot(path=str(SHOTS / f"{name}-{size['width']}x{size['height']}.png"))


def key(page, name: str) -> None:
    """Tap a key of the terminal's keypad (digits, enter, cancel, reprint…)."""
    page.locator(f'[data-key="{name}"]').click()


def type_keys(page, digits: str) -> None:
    for d in digits:
        key(page, d)


def screen(page, name: str) -> None:
    """Wait until the terminal shows the screen of that name."""
    expect(page.locator("#terminal")).to_have_attribute("data-screen", name)


def sign_in(page, operator: str = "01", password: str = "2580", home: str = "standby") -> None:
    """签到 from the welcome screen, as a cashier does (the password already set)."""
    screen(page, "welcome")
    key(page, "enter")
    type_keys(page, operator)
    key(page, "enter")
    type_keys(page, password)
    key(page, "enter")
    screen(page, "signed-in")
    key(page, "enter")
    screen(page, home)
