"""The guard itself: a page that misbehaves is caught (otherwise the other browser tests would prove nothing)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import select

from intake.models import Report
from tests.browser.conftest import GuardedPage, LiveServer


def test_guard_catches_external_requests_errors_dialogs_and_injected_scripts(
    public_page: GuardedPage, live_server: LiveServer
) -> None:
    with live_server.res.factory() as s:
        token = s.execute(select(Report.public_token).limit(1)).scalar_one()
    public_page.open(f"/suivi/{token}")
    page = public_page.page
    page.evaluate("() => fetch('http://tracker.example/fetch').catch(() => null)")  # refused by the CSP
    page.evaluate("() => console.error('boum')")
    page.evaluate("() => alert('xss')")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__xss = 1';"
        " document.body.appendChild(s); }"
    )  # refused by the CSP: a console error, nothing runs
    page.wait_for_timeout(200)
    problems = "\n".join(public_page.problems)
    assert "Refused to connect" in problems and "Executing inline script violates" in problems  # CSP refusals
    assert "console error: boum" in problems and "dialog opened (alert): xss" in problems
    page.evaluate("() => { window.__xss = 1; }")
    with pytest.raises(AssertionError, match="injected script ran"):
        public_page.assert_clean()
    # what the CSP does not cover (a navigation): the request is aborted by the guard and reported
    with pytest.raises(PlaywrightError):
        page.goto("http://tracker.example/pixel.png")
    assert public_page.external == ["http://tracker.example/pixel.png"]
    assert public_page.problems[-1] == "request to an external host: http://tracker.example/pixel.png"
    public_page.problems.clear()  # caught as expected: do not fail this test at teardown
