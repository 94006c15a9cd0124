"""The minimal back office: queue, report page, safe display of hostile content, attachments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from intake.config import Config
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.resources import build_resources
from tests.support.mail import citizen_email, jpeg_with_gps
from tests.support.web import signed_in
from web import create_app

HOSTILE_HTML = """\
MIME-Version: 1.0
From: Attaquant <evil@example.org>
To: mairie@mairie.localhost
Subject: <script>alert('sujet')</script>
Message-ID: <hostile-1@example.org>
Content-Type: multipart/alternative; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

Texte <script>alert(1)</script>
--b
Content-Type: text/html; charset=utf-8

<p onclick="steal()">Bonjour<script>alert(2)</script><img src="http://tracker.example/x.png"></p>
--b--
"""


@pytest.fixture
def client(make_config: Callable[..., Config]) -> tuple[FlaskClient, list[str]]:
    cfg = make_config()
    res = build_resources(cfg, mailer=ConsoleMailer())
    numbers = []
    for raw in (
        citizen_email(
            attachments=[
                ("photo du trou.jpg", "image/jpeg", jpeg_with_gps(48.85, 2.35)),
                ("../../etc/passwd.html", "text/html", b"<script>x</script>"),
            ]
        ),
        HOSTILE_HTML.encode(),
    ):
        rid, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
        numbers.append(process_raw(res, rid).tracking_number)
    app = create_app(cfg, resources=res)
    return signed_in(app, "admin"), numbers


def test_queue_lists_reports_in_french(client: tuple[FlaskClient, list[str]]) -> None:
    c, numbers = client
    page = c.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "File des signalements" in html and all(n in html for n in numbers)
    assert html.index(numbers[1]) < html.index(numbers[0])  # newest first


def test_security_headers(client: tuple[FlaskClient, list[str]]) -> None:
    c, _ = client
    page = c.get("/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_report_page_escapes_and_sanitises(client: tuple[FlaskClient, list[str]]) -> None:
    c, numbers = client
    html = c.get(f"/signalements/{numbers[1]}").get_data(as_text=True)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;sujet&#39;)" in html
    assert "onclick" not in html and "tracker.example" not in html


def test_report_page_shows_photo_and_downloads(client: tuple[FlaskClient, list[str]]) -> None:
    c, numbers = client
    html = c.get(f"/signalements/{numbers[0]}").get_data(as_text=True)
    assert "photo du trou.jpg" in html and "GPS 48.85" in html
    with c.get("/fichiers/1/miniature") as thumb:
        assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    with c.get("/fichiers/2/original") as original:
        assert original.mimetype == "application/octet-stream"
        disposition = original.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "/" not in disposition.split("filename=")[1]
    assert c.get("/fichiers/2/image").status_code == 404  # not an image: only downloadable


def test_unknown_report_404(client: tuple[FlaskClient, list[str]]) -> None:
    c, _ = client
    assert c.get("/signalements/1999-00001").status_code == 404


def test_agent_reclassifies_with_csrf_and_the_correction_is_kept(client: tuple[FlaskClient, list[str]]) -> None:
    import re

    from sqlalchemy import select

    from intake.models import Correction, Report

    c, numbers = client
    page = c.get(f"/signalements/{numbers[0]}").get_data(as_text=True)
    assert "proposée par le modèle" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    refused = c.post(f"/signalements/{numbers[0]}/categorie", data={"categorie": "voirie"})
    assert refused.status_code == 400  # no CSRF token
    done = c.post(f"/signalements/{numbers[0]}/categorie", data={"categorie": "voirie", "csrf_token": token.group(1)})
    assert done.status_code == 303
    after = c.get(f"/signalements/{numbers[0]}").get_data(as_text=True)
    assert "Catégorie enregistrée." in after and "choisie par un agent" in after
    res = c.application.extensions["guichet"]
    with res.factory() as s:
        report = s.execute(select(Report).where(Report.tracking_number == numbers[0])).scalar_one()
        correction = s.execute(select(Correction)).scalar_one()
    assert report.category == "voirie" and report.category_source == "agent" and report.service == "voirie"
    assert correction.new_value == "voirie" and correction.actor.startswith("admin-")
    bad = c.post(f"/signalements/{numbers[0]}/categorie", data={"categorie": "nimporte", "csrf_token": token.group(1)})
    assert bad.status_code == 303
    assert "catégorie inconnue" in c.get(f"/signalements/{numbers[0]}").get_data(as_text=True)


def test_agent_resolves_and_the_citizen_notification_is_queued(client: tuple[FlaskClient, list[str]]) -> None:
    import re

    from sqlalchemy import select

    from intake.models import Outbox, Report

    c, numbers = client
    page = c.get(f"/signalements/{numbers[0]}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    done = c.post(
        f"/signalements/{numbers[0]}/statut", data={"statut": "resolu", "note": "Réparé", "csrf_token": token.group(1)}
    )
    assert done.status_code == 303
    assert "1 message(s) aux citoyens" in c.get(f"/signalements/{numbers[0]}").get_data(as_text=True)
    res = c.application.extensions["guichet"]
    with res.factory() as s:
        report = s.execute(select(Report).where(Report.tracking_number == numbers[0])).scalar_one()
        row = s.execute(select(Outbox).where(Outbox.kind == "status_resolu")).scalar_one()
    assert report.status == "resolu" and row.recipient == "jeanne.martin@example.org" and row.status == "pending"


# --- statuses, duplicates and the public page --------------------------------------------------------------


def _agent_client(app: Any) -> FlaskClient:
    """A client of the back office, signed in as an administrator."""
    return signed_in(app, "admin")


def _csrf(c: FlaskClient, number: str) -> str:
    import re

    found = re.search(r'name="csrf_token" value="([^"]+)"', c.get(f"/signalements/{number}").get_data(as_text=True))
    assert found is not None
    return found.group(1)


@pytest.fixture
def office(make_config: Callable[..., Config]) -> tuple[Any, dict[str, Any]]:
    """The back office over a main email report with an SMS and an app duplicate, and an unrelated report."""
    from intake.reports.dedupe import merge
    from tests.test_statuses import add_report

    cfg = make_config()
    res = build_resources(cfg, mailer=ConsoleMailer())
    with res.factory() as s, s.begin():
        main = add_report(
            s,
            email="jeanne.martin@example.org",
            name="Jeanne Martin",
            phone="+33611223344",
            text="Le lampadaire devant chez moi, au 72 rue des Pyrénées, est éteint. Jeanne",
        )
        by_sms = add_report(s, channel="sms", phone="+33612345678")
        by_app = add_report(s, channel="open311", email="paul@example.net")
        other = add_report(s, email="voisin@example.net", status="en_cours")
        merge(s, by_sms, main, "agent")
        merge(s, by_app, main, "agent")
        rows = {"main": main, "sms": by_sms, "app": by_app, "other": other}
        numbers = {k: (r.tracking_number, r.id, r.public_token) for k, r in rows.items()}
    app = create_app(cfg, resources=res)
    return app, numbers


def _report(app: Any, report_id: int) -> Any:
    from intake.models import Report

    with app.extensions["guichet"].factory() as s:
        return s.get(Report, report_id)


def test_status_form_asks_a_reason_to_reject_and_answers_in_french(office: tuple[Any, dict[str, Any]]) -> None:
    from sqlalchemy import select

    from intake.models import Event, Outbox

    app, n = office
    c = _agent_client(app)
    number, report_id, _ = n["main"]
    page = c.get(f"/signalements/{number}").get_data(as_text=True)
    assert 'name="motif"' in page and "hors compétence de la commune" in page and "js/statut.js" in page
    url = f"/signalements/{number}/statut"
    assert c.post(url, data={"statut": "rejete", "motif": "doublon"}).status_code == 400  # no CSRF token
    token = _csrf(c, number)
    for data, error in (
        ({"statut": "rejete"}, "Un motif est obligatoire pour rejeter un signalement."),
        ({"statut": "rejete", "motif": "flemme"}, "Motif de rejet inconnu : flemme."),
        ({"statut": "perdu"}, "Statut inconnu : perdu."),
        ({}, "Statut inconnu"),
    ):
        answer = c.post(url, data={**data, "csrf_token": token})
        assert answer.status_code == 303
        assert error in c.get(f"/signalements/{number}").get_data(as_text=True)
    assert _report(app, report_id).status == "nouveau"
    done = c.post(
        url, data={"statut": "rejete", "motif": "hors_competence", "note": "Voie départementale", "csrf_token": token}
    )
    assert done.status_code == 303
    after = c.get(f"/signalements/{number}").get_data(as_text=True)
    assert "Statut « Rejeté » enregistré. Les 2 doublon(s) suivent ce statut. 3 message(s)" in after
    assert "motif : hors compétence de la commune" in after and "Nouveau → Rejeté" in after
    report = _report(app, report_id)
    assert (report.status, report.status_reason) == ("rejete", "hors_competence")
    with app.extensions["guichet"].factory() as s:
        channels = sorted(s.execute(select(Outbox.channel).where(Outbox.kind == "status_rejete")).scalars())
        actors = set(s.execute(select(Event.actor).where(Event.action == "status")).scalars())
    assert channels == ["email", "email", "sms"] and len(actors) == 1 and "agent" not in actors


def test_report_page_counts_reports_and_an_agent_detaches_one(office: tuple[Any, dict[str, Any]]) -> None:
    from sqlalchemy import select

    from intake.models import Event

    app, n = office
    c = _agent_client(app)
    number, main_id, _ = n["main"]
    page = c.get(f"/signalements/{number}").get_data(as_text=True)
    assert "Signalé 3 fois (email, SMS, application)" in page
    assert f'href="/signalements/{n["sms"][0]}"' in page and f'href="/signalements/{n["app"][0]}"' in page
    assert "signalé 3 fois" in c.get("/").get_data(as_text=True)
    dup_page = c.get(f"/signalements/{n['sms'][0]}").get_data(as_text=True)
    assert "Doublon du signalement" in dup_page and f'href="/signalements/{number}"' in dup_page
    token = _csrf(c, number)
    assert c.post(f"/signalements/{n['sms'][0]}/detacher", data={"retour": number}).status_code == 400  # no CSRF
    done = c.post(f"/signalements/{n['sms'][0]}/detacher", data={"retour": number, "csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/signalements/{number}")
    page = c.get(f"/signalements/{number}").get_data(as_text=True)
    assert f"n° {n['sms'][0]} est détaché du n° {number}" in page and "Signalé 2 fois (email, application)" in page
    assert _report(app, n["sms"][1]).duplicate_of_id is None
    again = c.post(f"/signalements/{n['sms'][0]}/detacher", data={"csrf_token": token})
    assert again.status_code == 303 and "n&#39;est lié à aucun autre" in c.get(again.headers["Location"]).get_data(
        as_text=True
    )
    with app.extensions["guichet"].factory() as s:
        events = s.execute(select(Event.report_id, Event.actor).where(Event.action == "duplicate_unlinked")).all()
    assert sorted(r for r, _ in events) == sorted([main_id, n["sms"][1]])
    assert all(actor != "agent" for _, actor in events)


def test_agent_merges_two_reports_by_hand(office: tuple[Any, dict[str, Any]]) -> None:
    from sqlalchemy import select

    from intake.models import Outbox

    app, n = office
    c = _agent_client(app)
    number, _, _ = n["other"]
    token = _csrf(c, number)
    url = f"/signalements/{number}/fusionner"
    for typed, error in (
        ("n'importe quoi", "n&#39;est pas un numéro de signalement"),
        ("2019-00001", "Aucun signalement n° 2019-00001."),
        (number, "Fusion impossible : un signalement ne peut pas être fusionné avec lui-même"),
    ):
        answer = c.post(url, data={"cible": typed, "csrf_token": token})
        assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/signalements/{number}")
        assert error in c.get(answer.headers["Location"]).get_data(as_text=True)
    assert _report(app, n["other"][1]).duplicate_of_id is None
    main_number, main_id, _ = n["main"]
    # typed as agents do, with spaces; a duplicate's number leads to its main report
    done = c.post(url, data={"cible": f" n° {n['sms'][0]} ", "csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/signalements/{main_number}")
    page = c.get(done.headers["Location"]).get_data(as_text=True)
    assert f"n° {number} est fusionné avec le n° {main_number}" in page and "Signalé 4 fois" in page
    merged = _report(app, n["other"][1])
    assert merged.duplicate_of_id == main_id and merged.status == "nouveau"  # takes its main report's status
    # the main report resolved: every reporter hears of it, the merged one's author included
    c.post(f"/signalements/{main_number}/statut", data={"statut": "resolu", "csrf_token": token})
    with app.extensions["guichet"].factory() as s:
        told = sorted(s.execute(select(Outbox.recipient).where(Outbox.kind == "status_resolu")).scalars())
    assert told == ["+33612345678", "jeanne.martin@example.org", "paul@example.net", "voisin@example.net"]


def test_public_status_page_shows_progress_and_no_personal_data(office: tuple[Any, dict[str, Any]]) -> None:
    app, n = office
    c = _agent_client(app)
    number, _, token = n["main"]
    csrf = _csrf(c, number)
    c.post(
        f"/signalements/{number}/statut",
        data={"statut": "en_cours", "note": "Rappeler Jeanne Martin au 06 11 22 33 44", "csrf_token": csrf},
    )
    public = app.test_client()  # a citizen, not signed in
    page = public.get(f"/suivi/{token}")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store" and "noindex" in page.headers["X-Robots-Tag"]
    html = page.get_data(as_text=True)
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert f"Suivi du signalement n° {number}" in html and "En cours" in html
    # The reference street only: no house number, never an address as typed (issue 12, P2).
    assert "Éclairage public" in html and "Rue des Pyrénées" in html and "72 Rue" not in html
    assert html.count("<li>") == 2  # received, then the status change with its date
    for personal in (
        "Jeanne",
        "Martin",
        "jeanne.martin@example.org",
        "+33611223344",
        "06 11 22 33 44",
        "devant chez moi",
        "Rappeler",
        "/signalements/",
        "/fichiers/",
    ):
        assert personal not in html, personal
    assert public.get("/suivi/" + "x" * 32).status_code == 404
    assert public.get(f"/suivi/{n['other'][2]}").status_code == 200


def test_public_page_of_an_ingested_email_has_no_personal_data(client: tuple[FlaskClient, list[str]]) -> None:
    from sqlalchemy import select

    from intake.models import Report, ReportMessage

    c, numbers = client
    res = c.application.extensions["guichet"]
    with res.factory() as s:
        report = s.execute(select(Report).where(Report.tracking_number == numbers[0])).scalar_one()
        text = s.execute(select(ReportMessage.text).where(ReportMessage.report_id == report.id)).scalar_one()
    html = c.application.test_client().get(f"/suivi/{report.public_token}").get_data(as_text=True)
    assert numbers[0] in html
    assert "allume plus" in text
    for personal in ("Jeanne", "jeanne.martin@example.org", "allume plus", "depuis lundi", "photo du trou.jpg"):
        assert personal not in html, personal
