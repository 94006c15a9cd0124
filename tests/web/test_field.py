"""The field page: a technician of the service records a photo after the work, a note and the status."""

from __future__ import annotations

import html
import io
import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select

from intake.backoffice.accounts import AccountError, create_user
from intake.config import Config
from intake.models import Event, Outbox, Report
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.resources import build_resources
from tests.support.mail import citizen_email, jpeg_with_gps
from tests.support.web import PASSWORD, add_user, csrf_token, secured, sign_in
from web import create_app

CITIZEN = "jeanne.martin@example.org"


def _office(make_config: Callable[..., Config], **web: object) -> tuple[Flask, str]:
    res = build_resources(make_config(web=web) if web else make_config(), mailer=ConsoleMailer())
    raw = citizen_email(
        subject="Banc cassé",
        body="Le banc du square est cassé, appelez-moi au 06 12 34 56 78.",
        message_id=f"{uuid.uuid4().hex}@example.org",
        attachments=[("banc.jpg", "image/jpeg", jpeg_with_gps(48.853989, 2.371195))],
    )
    rid, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    outcome = process_raw(res, rid)
    assert outcome.status == "processed" and outcome.tracking_number
    with res.factory() as s, s.begin():
        report = s.execute(select(Report).where(Report.id == outcome.report_id)).scalar_one()
        report.service, report.category, report.status = "voirie", "mobilier_urbain", "transmis"
    return secured(create_app(res.config, resources=res)), outcome.tracking_number


@pytest.fixture
def office(make_config: Callable[..., Config]) -> tuple[Flask, str]:
    return _office(make_config)


def _technician(app: Flask, service: str = "voirie") -> FlaskClient:
    client = app.test_client()
    name = add_user(app, "technicien", service)
    token = csrf_token(client, "/connexion")
    answer = client.post("/connexion", data={"identifiant": name, "mot_de_passe": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/terrain")  # their start page
    return client


def _after_photo() -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", (80, 60), (30, 160, 30))
    exif = Image.Exif()
    exif[0x010F] = "Fabricant secret"  # metadata that must not survive in the served copy
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def test_technician_role_belongs_to_one_service(make_config: Callable[..., Config]) -> None:
    res = build_resources(make_config(), mailer=ConsoleMailer())
    with res.factory() as s, s.begin():
        with pytest.raises(AccountError, match="un technicien appartient à un service connu"):
            create_user(s, res.config, username="paul", password=PASSWORD, role="technicien")
        user = create_user(s, res.config, username="paul", password=PASSWORD, role="technicien", service="voirie")
        assert (user.role, user.service) == ("technicien", "voirie")


def test_technician_records_the_visit_and_the_citizen_is_told(office: tuple[Flask, str]) -> None:
    app, number = office
    tech = _technician(app)
    listing = tech.get("/terrain").get_data(as_text=True)
    assert number in listing and "Mes interventions" in listing
    assert tech.get("/").status_code == 403  # the back office's queue is not theirs
    page = html.unescape(tech.get(f"/terrain/{number}").get_data(as_text=True))
    assert "Le banc du square est cassé" in page and "06 12 34 56 78" not in page  # contacts masked
    assert "geo:48.853989,2.371195" in page and f"/signalements/{number}/fiche-intervention.pdf" in page
    assert tech.get(f"/signalements/{number}/fiche-intervention.pdf").mimetype == "application/pdf"
    answer = tech.post(
        f"/terrain/{number}",
        data={
            "csrf_token": csrf_token(tech, f"/terrain/{number}"),
            "note": "Planche changée, vis resserrées.",
            "statut": "resolu",
            "photo": (io.BytesIO(_after_photo()), "apres.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303
    done = html.unescape(tech.get(f"/terrain/{number}").get_data(as_text=True))
    assert "Intervention enregistrée (statut : Résolu). 1 message(s) aux citoyens en cours d'envoi." in done
    assert "Planche changée, vis resserrées." in done
    res = app.extensions["guichet"]
    with res.factory() as s:
        report = s.execute(select(Report).where(Report.tracking_number == number)).scalar_one()
        events = {e.action: e for e in s.execute(select(Event).where(Event.report_id == report.id)).scalars()}
        told = (
            s.execute(select(Outbox.recipient).where(Outbox.report_id == report.id, Outbox.kind == "status_resolu"))
            .scalars()
            .all()
        )
    assert report.status == "resolu" and told == [CITIZEN]
    photo = events["field_photo"]
    assert photo.detail["filename"] == "apres.jpg" and res.file_store.read(photo.detail["sha256"]) == _after_photo()
    served = res.file_store.read(photo.detail["served"])
    assert b"Fabricant secret" not in served  # the stripped copy is what is shown
    assert events["field_note"].detail["note"] == "Planche changée, vis resserrées."
    assert events["status"].actor.startswith("technicien-")

    # agents see the photo after on the report page, and its history
    agent = app.test_client()
    sign_in(agent, add_user(app, "agent", "voirie"))
    report_page = html.unescape(agent.get(f"/signalements/{number}").get_data(as_text=True))
    url = f"/terrain/{number}/photos/{photo.id}/miniature"
    assert "Photos après intervention" in report_page and url in report_page and "note de terrain" in report_page
    image = agent.get(url)
    assert image.status_code == 200 and image.mimetype == "image/jpeg"


def test_technicians_of_another_service_and_bad_input_are_refused(office: tuple[Flask, str]) -> None:
    app, number = office
    other = _technician(app, "eclairage")
    assert number not in other.get("/terrain").get_data(as_text=True)
    refused = other.get(f"/terrain/{number}")
    assert refused.status_code == 403 and "autre service" in refused.get_data(as_text=True)
    tech = _technician(app)
    token = csrf_token(tech, f"/terrain/{number}")
    cases = [
        ({"statut": "rejete"}, "statut non permis sur le terrain"),
        ({}, "rien à enregistrer"),
        ({"photo": (io.BytesIO(b"<svg onload=alert(1)>"), "photo.svg")}, "photo refusée"),
    ]
    for fields, message in cases:
        answer = tech.post(
            f"/terrain/{number}", data={"csrf_token": token, **fields}, content_type="multipart/form-data"
        )
        assert answer.status_code == 303
        assert message in html.unescape(tech.get(f"/terrain/{number}").get_data(as_text=True)), message
    with app.extensions["guichet"].factory() as s:
        report = s.execute(select(Report).where(Report.tracking_number == number)).scalar_one()
        actions = s.execute(select(Event.action).where(Event.report_id == report.id)).scalars().all()
    assert report.status == "transmis" and "field_photo" not in actions and "field_note" not in actions


def _photo_on_public_page(app: Flask, number: str) -> tuple[FlaskClient, str, int]:
    tech = _technician(app)
    tech.post(
        f"/terrain/{number}",
        data={"csrf_token": csrf_token(tech, f"/terrain/{number}"), "photo": (io.BytesIO(_after_photo()), "apres.jpg")},
        content_type="multipart/form-data",
    )
    with app.extensions["guichet"].factory() as s:
        report = s.execute(select(Report).where(Report.tracking_number == number)).scalar_one()
        event_id = s.execute(
            select(Event.id).where(Event.report_id == report.id, Event.action == "field_photo")
        ).scalar_one()
    return app.test_client(), report.public_token, event_id


def test_photo_after_is_public_only_when_the_town_wants(make_config: Callable[..., Config]) -> None:
    app, number = _office(make_config)
    citizen, token, event_id = _photo_on_public_page(app, number)
    assert "Après l'intervention" not in html.unescape(citizen.get(f"/suivi/{token}").get_data(as_text=True))
    assert citizen.get(f"/suivi/{token}/photo-apres/{event_id}").status_code == 404

    app, number = _office(make_config, public_after_photo=True)
    citizen, token, event_id = _photo_on_public_page(app, number)
    page = html.unescape(citizen.get(f"/suivi/{token}").get_data(as_text=True))
    assert "Après l'intervention" in page and f"/suivi/{token}/photo-apres/{event_id}" in page
    image = citizen.get(f"/suivi/{token}/photo-apres/{event_id}")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert b"Fabricant secret" not in image.get_data()
    assert citizen.get(f"/suivi/{'x' * 32}/photo-apres/{event_id}").status_code == 404  # another token: nothing
