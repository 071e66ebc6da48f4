"""Headless Chromium for the page tests: Debian's chromium driven by Playwright (its own
browser download does not work here)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

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
