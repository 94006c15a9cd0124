"""Debian's headless Chromium driven by Playwright: one browser per test process, shared by every test using it.

The fixture lives here and is imported by tests/conftest.py (not tests/browser/conftest.py) because Playwright's
sync API cannot run twice at once in one process: tests/browser and tests/test_readme_newcomer.py may share a
pytest-xdist worker, so they must share this session fixture instead of starting a second Playwright.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("GUICHET_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (`playwright install` cannot download here)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's `chromium` package (scripts/test.sh does)"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI must not go green by skipping the browser tests
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
