"""The report page's one-click actions through the web: pin, address, assignment, reply, status preview."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.config import Config
from intake.models import AuditLog, Outbox, Report, User
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.resources import build_resources
from tests.support.mail import citizen_email
from tests.support.web import add_user, csrf_token, sign_in, signed_in
from web import create_app


@pytest.fixture
def app(make_config: Callable[..., Config]) -> Flask:
    cfg = make_config()
    res = build_resources(cfg, mailer=ConsoleMailer())
    raw = citizen_email(subject="Banc cassé", body="Un banc est cassé dans le square, quelqu'un va se blesser.")
    rid, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    assert process_raw(res, rid).status == "processed"
    with res.factory() as s, s.begin():
        report = s.execute(select(Report)).scalar_one()
        report.category, report.service = "mobilier_urbain", "voirie"
    return create_app(cfg, resources=res)


def number(app: Flask) -> str:
    with app.extensions["guichet"].factory() as s:
        return str(s.execute(select(Report.tracking_number)).scalar_one())


def report_row(app: Flask) -> Report:
    with app.extensions["guichet"].factory() as s:
        report = s.execute(select(Report)).scalar_one()
        s.expunge(report)
        return report


def post(client: FlaskClient, path: str, **data: Any) -> str:
    token = csrf_token(client, "/saisie")
    answer = client.post(path, data={"csrf_token": token, **data})
    assert answer.status_code in (200, 303), answer.status_code
    if answer.status_code == 303:
        answer = client.get(answer.headers["Location"])
    return html.unescape(answer.get_data(as_text=True))


def test_report_page_offers_the_map_and_every_action(app: Flask) -> None:
    page = html.unescape(signed_in(app, "agent", "voirie").get(f"/signalements/{number(app)}").get_data(as_text=True))
    for text in (
        "Position sur la carte",
        'class="pin-map"',
        "Attribuer à",
        "Répondre au citoyen",
        "Voir le message au citoyen",
        "vendor/leaflet/leaflet.js",
        "proposée par le modèle",
    ):
        assert text in page, text
    assert "<script>" not in page


def test_agent_moves_the_pin_then_types_an_address(app: Flask) -> None:
    client = signed_in(app, "agent", "voirie")
    page = post(client, f"/signalements/{number(app)}/position", lat="48.853989", lon="2.371195", mode="point")
    assert "Position enregistrée" in page and "placé par un agent" in page
    assert report_row(app).lat == pytest.approx(48.853989)
    page = post(
        client,
        f"/signalements/{number(app)}/position",
        lat="48.853989",
        lon="2.371195",
        adresse="23 rue de la roquette",
        mode="adresse",
    )
    assert "Position enregistrée : 23 Rue de la Roquette" in page
    assert report_row(app).lat == pytest.approx(48.854752)
    page = post(client, f"/signalements/{number(app)}/position", lat="45.76", lon="4.83", mode="point")
    assert "Position non enregistrée : ce point est en dehors de la commune." in page
    page = post(client, f"/signalements/{number(app)}/position", lat="abc", lon="2", mode="point")
    assert "coordonnées illisibles" in page


def test_assignment_through_the_page(app: Flask) -> None:
    admin = signed_in(app, "admin")
    name = add_user(app, "agent", "voirie", username="paul.voirie")
    other = add_user(app, "agent", "eclairage", username="lea.lumiere")
    with app.extensions["guichet"].factory() as s:
        ids = dict(s.execute(select(User.username, User.id)).all())
    page = post(admin, f"/signalements/{number(app)}/attribution", agent=str(ids[name]))
    assert "Attribué à Paul.Voirie." in page
    assert "Lea.Lumiere" not in page.split("Attribuer à")[1].split("</select>")[0]  # not offered
    page = post(admin, f"/signalements/{number(app)}/attribution", agent=str(ids[other]))
    assert "Attribution impossible : Lea.Lumiere n'appartient pas au service" in page
    assert report_row(app).assignee_id == ids[name]
    desk = signed_in(app, "accueil")
    token = csrf_token(desk, "/saisie")
    assert (
        desk.post(f"/signalements/{number(app)}/attribution", data={"agent": "", "csrf_token": token}).status_code
        == 403
    )


def test_reply_reaches_the_outbox_and_the_history(app: Flask) -> None:
    client = signed_in(app, "accueil")
    page = post(client, f"/signalements/{number(app)}/reponse", texte="Une équipe passe jeudi.")
    assert "Réponse en cours d'envoi (1 destinataire(s))." in page
    assert "envoyé par courriel à jeanne.martin@example.org" in page
    with app.extensions["guichet"].factory() as s:
        row = s.execute(select(Outbox).where(Outbox.kind == "reply:1")).scalar_one()
    assert "Une équipe passe jeudi." in row.body and row.recipient == "jeanne.martin@example.org"
    assert "Réponse non envoyée : le message est vide." in post(
        client, f"/signalements/{number(app)}/reponse", texte="  "
    )


def test_status_preview_shows_the_message_then_confirming_sends_it(app: Flask) -> None:
    client = signed_in(app, "agent", "voirie")
    page = post(
        client,
        f"/signalements/{number(app)}/statut/apercu",
        statut="rejete",
        motif="domaine_prive",
        note="Le banc appartient à la copropriété.",
    )
    assert "Aperçu : passage au statut « Rejeté »" in page
    assert "Courriel à jeanne.martin@example.org" in page
    assert "Motif : problème situé sur le domaine privé" in page and "Le banc appartient à la copropriété." in page
    with app.extensions["guichet"].factory() as s:
        assert s.execute(select(Outbox).where(Outbox.kind == "status_rejete")).first() is None  # nothing sent yet
    hidden = dict(
        re.findall(r'<input type="hidden" name="(statut|motif|note)" value="([^"]*)"', page.split('id="apercu"')[1])
    )
    assert hidden == {"statut": "rejete", "motif": "domaine_prive", "note": "Le banc appartient à la copropriété."}
    page = post(client, f"/signalements/{number(app)}/statut", **hidden)
    assert "Statut « Rejeté » enregistré." in page
    with app.extensions["guichet"].factory() as s:
        assert s.execute(select(Outbox).where(Outbox.kind == "status_rejete")).scalar_one().status == "pending"
    missing = post(client, f"/signalements/{number(app)}/statut/apercu", statut="rejete")
    assert "Un motif est obligatoire" in missing


def test_actions_are_audited_with_who_did_them(app: Flask) -> None:
    name = add_user(app, "agent", "voirie", username="agent.audit")
    client = app.test_client()
    sign_in(client, name)
    post(client, f"/signalements/{number(app)}/reponse", texte="Bonjour")
    with app.extensions["guichet"].factory() as s:
        actions = s.execute(select(AuditLog.action, AuditLog.username).order_by(AuditLog.id)).all()
    assert ("report.reply", "agent.audit") in actions and ("report.page", "agent.audit") in actions
