"""The minimal back office: queue, report page, safe display of hostile content, attachments."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from intake.config import Config
from intake.notify import ConsoleMailer
from intake.processing import process_raw
from intake.rawstore import email_key, store_raw
from intake.resources import build_resources
from tests.support.mail import citizen_email, jpeg_with_gps
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
        citizen_email(attachments=[("photo du trou.jpg", "image/jpeg", jpeg_with_gps(48.85, 2.35)),
                                   ("../../etc/passwd.html", "text/html", b"<script>x</script>")]),
        HOSTILE_HTML.encode(),
    ):
        rid, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
        numbers.append(process_raw(res, rid).tracking_number)
    app = create_app(cfg, resources=res)
    return app.test_client(), numbers


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
    assert correction.new_value == "voirie" and correction.actor == "back-office"
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
    done = c.post(f"/signalements/{numbers[0]}/statut",
                  data={"statut": "resolu", "note": "Réparé", "csrf_token": token.group(1)})
    assert done.status_code == 303
    assert "1 message(s) au citoyen" in c.get(f"/signalements/{numbers[0]}").get_data(as_text=True)
    res = c.application.extensions["guichet"]
    with res.factory() as s:
        report = s.execute(select(Report).where(Report.tracking_number == numbers[0])).scalar_one()
        row = s.execute(select(Outbox).where(Outbox.kind == "status_resolu")).scalar_one()
    assert report.status == "resolu" and row.recipient == "jeanne.martin@example.org" and row.status == "pending"
