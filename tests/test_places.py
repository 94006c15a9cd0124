"""Exact about places (issue 14 item 3): a number the reference lacks stays the citizen's, its estimated position
is said so wherever the report is read, and an estimate too loose for `addresses.max_estimate_m` waits for an
agent instead of being transmitted."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select

from intake.config import Config
from intake.geocoding.precision import PRECISION, UNCERTAINTY, describe
from intake.models import Event, Outbox, Report
from intake.outbox.notify import ConsoleMailer
from intake.outbox.workorder import workorder_html
from intake.reports.relocate import locate_answer
from intake.runtime.resources import Resources, build_resources
from tests.support.mail import citizen_email
from tests.support.web import signed_in
from tests.test_understanding import ingest
from web import create_app

ROUTED = {"auto_transmit": True}
# The shipped reference has the 72 and the 78 of rue des Pyrénées (even side), not the 74 nor the 200.
NEAR = (
    "Bonjour, depuis lundi le lampadaire en face du 74 r. des Pyrenees ne s'allume plus, on ne voit rien le "
    "soir. Cordialement"
)
FAR = NEAR.replace("74 r.", "200 r.")


def _report(res: Resources, body: str) -> Report:
    return ingest(res, citizen_email(subject="Lampadaire", body=body, message_id=f"{uuid.uuid4().hex}@example.org"))


def _referent_bodies(res: Resources, report_id: int) -> list[str]:
    with res.factory() as s:
        rows = s.execute(select(Outbox).where(Outbox.report_id == report_id)).scalars()
        return [o.body for o in rows if o.kind.startswith("referent:")]


@pytest.fixture
def res(make_config: Callable[..., Config]) -> Resources:
    return build_resources(make_config(routing=ROUTED), mailer=ConsoleMailer())


def test_a_close_estimate_keeps_the_number_and_is_transmitted_saying_so(res: Resources) -> None:
    report = _report(res, NEAR)
    assert report.address_label == "74 Rue des Pyrénées 75020 Paris"  # not the 72 nor the 78 of the reference
    assert report.address_numero == "74" and report.location_source == "text"
    assert report.confidence[PRECISION] == "estimated"
    assert 0 < report.confidence[UNCERTAINTY] <= res.config.addresses.max_estimate_m
    assert report.status == "transmis" and report.review_reasons == []
    [body] = _referent_bodies(res, report.id)
    assert "Adresse : vers le 74 Rue des Pyrénées 75020 Paris (position estimée, à " in body
    with res.factory() as s:
        located = s.execute(
            select(Event.detail).where(Event.report_id == report.id, Event.action == "located")
        ).scalar_one()
    assert located["precision"] == "estimated" and located["uncertainty_m"] == report.confidence[UNCERTAINTY]


def test_a_far_estimate_waits_for_an_agent_with_a_french_reason(res: Resources) -> None:
    report = _report(res, FAR)
    assert report.address_label == "200 Rue des Pyrénées 75020 Paris"
    assert report.confidence[UNCERTAINTY] > res.config.addresses.max_estimate_m
    assert report.status == "a_qualifier" and _referent_bodies(res, report.id) == []
    [reason] = report.review_reasons
    assert reason.startswith("position estimée : n° 200 absent de la référence (à ")
    with res.factory() as s:  # an agent checks it; the citizen is not asked again where it is
        assert (
            s.execute(select(Outbox).where(Outbox.report_id == report.id, Outbox.kind == "ask_location")).first()
            is None
        )


def test_max_estimate_m_decides_what_is_far(make_config: Callable[..., Config]) -> None:
    loose = build_resources(make_config(routing=ROUTED, addresses={"max_estimate_m": 1000}), mailer=ConsoleMailer())
    report = _report(loose, FAR)
    assert report.status == "transmis" and report.review_reasons == []
    strict = build_resources(make_config(routing=ROUTED, addresses={"max_estimate_m": 5}), mailer=ConsoleMailer())
    assert _report(strict, NEAR).status == "a_qualifier"


def test_an_exact_number_is_not_marked(res: Resources) -> None:
    report = _report(res, NEAR.replace("74 r.", "72 r."))
    assert report.address_label == "72 Rue des Pyrénées 75020 Paris" and report.confidence[PRECISION] == "exact"
    assert describe(report) == "72 Rue des Pyrénées 75020 Paris"
    [body] = _referent_bodies(res, report.id)
    assert "position estimée" not in body


def test_an_intersection_is_marked_as_a_crossing(res: Resources) -> None:
    report = _report(
        res,
        "Le lampadaire à l'angle de la rue de Belleville et de la rue des Pyrénées est éteint "
        "depuis lundi, on ne voit rien le soir.",
    )
    assert report.confidence[PRECISION] == "intersection"
    assert describe(report) is not None and describe(report).startswith(  # type: ignore[union-attr]
        "à l'angle Rue de Belleville / Rue des Pyrénées 75020 Paris (croisement estimé, à "
    )


def test_a_landmark_is_placed_only_when_the_town_knows_it(res: Resources) -> None:
    known = _report(res, "Le lampadaire devant l'Hôtel de Ville est éteint depuis lundi, on ne voit rien le soir.")
    assert known.confidence[PRECISION] == "landmark" and known.address_label == "Hôtel de Ville"
    unknown = _report(res, "Le lampadaire devant la piscine Château-Landon est éteint depuis lundi.")
    assert unknown.lat is None and unknown.address_label is None  # no invented place


def test_report_page_work_order_and_map_popup_say_estimated(res: Resources) -> None:
    report = _report(res, NEAR)
    app = create_app(res.config, resources=res)
    client = signed_in(app)
    page = client.get(f"/signalements/{report.tracking_number}").get_data(as_text=True)
    assert "vers le 74 Rue des Pyrénées 75020 Paris (position estimée, à " in page
    assert ", position estimée, à " in page  # next to the coordinates too
    with res.factory() as s:
        row = s.get(Report, report.id)
        assert row is not None
        html = workorder_html(s, res.config, row, res.file_store)
    assert "vers le 74 Rue des Pyrénées 75020 Paris (position estimée" in html
    data = json.loads(client.get("/carte/signalements.geojson").get_data(as_text=True))
    [feature] = [f for f in data["features"] if f["properties"]["numero"] == report.tracking_number]
    assert feature["properties"]["position"].startswith("position estimée, à ")
    exact = _report(res, NEAR.replace("74 r.", "150 r."))  # far enough not to be its duplicate
    data = json.loads(client.get("/carte/signalements.geojson").get_data(as_text=True))
    [feature] = [f for f in data["features"] if f["properties"]["numero"] == exact.tracking_number]
    assert "position" not in feature["properties"]
    field = signed_in(app).get(f"/terrain/{report.tracking_number}").get_data(as_text=True)
    assert "vers le 74 Rue des Pyrénées 75020 Paris (position estimée" in field


def test_a_citizens_loose_answer_still_waits_for_an_agent(res: Resources) -> None:
    report = _report(res, "Le lampadaire est éteint depuis lundi, on ne voit rien le soir.")
    assert report.lat is None and report.status == "a_qualifier"
    understanding = res.understanding()
    with res.factory() as s, s.begin():
        row = s.get(Report, report.id)
        assert row is not None
        assert locate_answer(s, res.config, understanding, row, text="au 200 rue des Pyrénées", detail={})
        assert row.address_label == "200 Rue des Pyrénées 75020 Paris" and row.status == "a_qualifier"
        assert [r.split(" :")[0] for r in row.review_reasons] == ["position estimée"]
    with res.factory() as s, s.begin():
        row = s.get(Report, report.id)
        assert row is not None
        assert locate_answer(s, res.config, understanding, row, text="au 72 rue des Pyrénées", detail={})
        assert row.review_reasons == [] and row.confidence[PRECISION] == "exact"
