"""A signed-in agent opening a citizen's page (S8): answered at once, never a 30 s wait on SQLite's lock then a 500.

On SQLite every transaction takes the write lock (BEGIN IMMEDIATE); the page's own session held it while its
template asked Flask-Login for the signed-in user, whose loader opened a second session and waited for the lock.
"""

from __future__ import annotations

import time

from flask.testing import FlaskClient

from intake.models import Report
from intake.runtime.resources import Resources
from tests.support.web import signed_in
from tests.web.test_pin import INSIDE, file_report, res, site, token_of  # noqa: F401
from web import create_app


def _timed_get(client: FlaskClient, path: str) -> tuple[int, float, str]:
    started = time.monotonic()
    answer = client.get(path)
    return answer.status_code, time.monotonic() - started, answer.get_data(as_text=True)


def test_an_agent_opens_and_answers_the_citizens_pin_page(
    res: Resources,  # noqa: F811
    site: tuple[FlaskClient, Report, str],  # noqa: F811
) -> None:
    _, report, url = site
    app = create_app(res.config, resources=res)
    agent = signed_in(app, "agent", report.service or "voirie")
    status, seconds, page = _timed_get(agent, url)
    assert status == 200 and seconds < 5, (status, seconds)
    started = time.monotonic()
    placed = agent.post(url, data={"csrf_token": token_of(page), "lat": INSIDE[0], "lon": INSIDE[1]})
    assert placed.status_code == 303 and time.monotonic() - started < 5
    status, seconds, _ = _timed_get(agent, f"/suivi/{report.public_token}")
    assert status == 200 and seconds < 5, (status, seconds)
