"""Real Chromium (Debian's) driven by Playwright, one browser per test module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


#: Screenshots the page tests keep for people to look at (CI can publish this folder).
ARTIFACTS = Path(os.environ.get("MINEWATCH_TEST_ARTIFACTS", "test-artifacts")) / "pages"
#: The widths every page is checked at: a desk monitor and a phone.
WIDTHS = (1400, 390)


def overflow_px(page: Page) -> int:
    """How far the page, or any card on it, scrolls sideways: 0 when nothing is wider than the
    window and no table is clipped inside its card."""
    return int(
        page.evaluate(
            """() => Math.max(
                document.documentElement.scrollWidth - window.innerWidth,
                ...[...document.querySelectorAll('.card')]
                    .filter((c) => c.offsetParent !== null)
                    .map((c) => c.scrollWidth - c.clientWidth))"""
        )
    )


def screenshot_at_widths(page: Page, name: str) -> dict[int, int]:
    """Full-page screenshots at each of ``WIDTHS`` kept under ``ARTIFACTS``; the sideways overflow
    at each width, for the test to assert on."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    overflow = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)  # let the layout settle after the resize
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        overflow[width] = overflow_px(page)
    return overflow
