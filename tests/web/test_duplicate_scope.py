"""Merge and detach checked on both ends (S5): an agent never links their report to another service's."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from intake.config import Config
from intake.models import Outbox, Report
from intake.outbox.notify import ConsoleMailer
from intake.reports.dedupe import merge
from intake.runtime.resources import build_resources
from tests.support.web import signed_in
from tests.test_statuses import add_report
from web import create_app


def _office(make_config: Callable[..., Config]) -> tuple[Flask, dict[str, tuple[str, int]]]:
    """Reports of the voirie service (A) and of the eclairage service (B), one B report with an A duplicate."""
    res = build_resources(make_config(), mailer=ConsoleMailer())
    with res.factory() as s, s.begin():
        rows = {
            "a": add_report(s, email="a@example.fr"),
            "a2": add_report(s, email="a2@example.fr"),
            "b": add_report(s, email="b@example.fr"),
            "b_main": add_report(s, email="bm@example.fr"),
            "a_dup": add_report(s, email="ad@example.fr"),
        }
        for key in ("a", "a2", "a_dup"):
            rows[key].service = "voirie"
        merge(s, rows["a_dup"], rows["b_main"], "test")
        numbers = {k: (r.tracking_number, r.id) for k, r in rows.items()}
    return create_app(res.config, resources=res), numbers


def _token(client: FlaskClient, number: str) -> str:
    page = client.get(f"/signalements/{number}").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _report(app: Flask, report_id: int) -> Any:
    with app.extensions["guichet"].factory() as s:
        return s.get(Report, report_id)


def test_an_agent_cannot_merge_their_report_into_another_service(make_config: Callable[..., Config]) -> None:
    app, n = _office(make_config)
    agent = signed_in(app, "agent", "voirie")
    number = n["a"][0]
    for target in ("b", "a_dup"):  # B's report, or A's report that leads to B's main report
        answer = agent.post(
            f"/signalements/{number}/fusionner", data={"cible": n[target][0], "csrf_token": _token(agent, number)}
        )
        assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/signalements/{number}")
        page = html.unescape(agent.get(answer.headers["Location"]).get_data(as_text=True))
        assert "Fusion impossible" in page and "relève d'un autre service" in page
    assert _report(app, n["a"][1]).duplicate_of_id is None
    with app.extensions["guichet"].factory() as s:
        assert s.query(Outbox).count() == 0  # nobody was told of the other service's status
    # Within their service the merge works as before.
    ok = agent.post(
        f"/signalements/{number}/fusionner", data={"cible": n["a2"][0], "csrf_token": _token(agent, number)}
    )
    assert ok.status_code == 303 and _report(app, n["a"][1]).duplicate_of_id == n["a2"][1]


def test_an_agent_cannot_detach_their_report_from_another_services_main(make_config: Callable[..., Config]) -> None:
    app, n = _office(make_config)
    agent = signed_in(app, "agent", "voirie")
    number = n["a_dup"][0]
    answer = agent.post(f"/signalements/{number}/detacher", data={"csrf_token": _token(agent, number)})
    assert answer.status_code == 303
    page = html.unescape(agent.get(answer.headers["Location"]).get_data(as_text=True))
    assert "Détachement impossible" in page and "relève d'un autre service" in page
    assert _report(app, n["a_dup"][1]).duplicate_of_id == n["b_main"][1]
    admin = signed_in(app, "admin")  # an administrator may
    admin.post(f"/signalements/{number}/detacher", data={"csrf_token": _token(admin, number)})
    assert _report(app, n["a_dup"][1]).duplicate_of_id is None
