"""Actions on a selection of the queue: the single actions' code and roles, one audit entry per report."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.config import Config
from intake.models import AuditLog, Event, Outbox, Report, User
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.resources import build_resources
from tests.support.mail import citizen_email
from tests.support.web import add_user, csrf_token, secured, sign_in
from web import create_app

SERVICES = ("voirie", "voirie", "eclairage")


@pytest.fixture
def office(make_config: Callable[..., Config]) -> tuple[Flask, list[str]]:
    """The back office over three reports from three citizens: two of voirie, one of eclairage."""
    res = build_resources(make_config(), mailer=ConsoleMailer())
    numbers = []
    for i, service in enumerate(SERVICES):
        raw = citizen_email(
            sender=f"Citoyen {i} <citoyen{i}.{uuid.uuid4().hex[:6]}@example.org>",
            subject=f"Problème {i}",
            body=f"Bonjour, problème numéro {i} dans ma rue.",
            message_id=f"{uuid.uuid4().hex}@example.org",
        )
        rid, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
        outcome = process_raw(res, rid)
        assert outcome.status == "processed" and outcome.tracking_number
        with res.factory() as s, s.begin():
            report = s.execute(select(Report).where(Report.id == outcome.report_id)).scalar_one()
            report.service, report.category = service, service
        numbers.append(outcome.tracking_number)
    return secured(create_app(res.config, resources=res)), numbers


def _client(app: Flask, role: str, service: str | None = None) -> tuple[FlaskClient, str]:
    client = app.test_client()
    name = add_user(app, role, service)
    sign_in(client, name)
    return client, name


def _post(client: FlaskClient, data: dict[str, object]) -> str:
    """Post the queue's selection form and follow to the page it leads to; its text, unescaped."""
    answer = client.post("/selection", data={"csrf_token": csrf_token(client, "/"), "retour": "/?ouverts=1", **data})
    assert answer.status_code == 303, answer.get_data(as_text=True)[:300]
    assert answer.headers["Location"].endswith("/?ouverts=1")
    return html.unescape(client.get(answer.headers["Location"]).get_data(as_text=True))


def _audit(app: Flask, action: str) -> list[tuple[str, int, int | None]]:
    with app.extensions["guichet"].factory() as s:
        rows = s.execute(
            select(AuditLog.detail, AuditLog.status, AuditLog.report_id)
            .where(AuditLog.action == action)
            .order_by(AuditLog.id)
        ).all()
    return [(d["numero"], status, rid) for d, status, rid in rows]


def test_queue_offers_the_selection_to_each_role_as_its_single_actions(office: tuple[Flask, list[str]]) -> None:
    app, numbers = office
    agent, _ = _client(app, "agent", "voirie")
    page = agent.get("/").get_data(as_text=True)
    assert "tout sélectionner sur la page" in page and 'name="n" value="' + numbers[0] in page
    assert numbers[2] not in page  # the eclairage report is not in a voirie agent's queue
    assert 'value="attribuer"' in page and 'value="statut"' in page and 'value="exporter"' in page
    reception, _ = _client(app, "accueil")
    page = reception.get("/").get_data(as_text=True)
    assert 'value="service"' in page and 'value="exporter"' in page
    assert 'value="attribuer"' not in page and 'value="statut"' not in page


def test_agent_assigns_the_selection_within_their_service_only(office: tuple[Flask, list[str]]) -> None:
    app, numbers = office
    agent, name = _client(app, "agent", "voirie")
    with app.extensions["guichet"].factory() as s:
        me = s.execute(select(User).where(User.username == name)).scalar_one()
    text = _post(agent, {"action": "attribuer", "agent": str(me.id), "n": numbers})
    assert f"2 signalement(s) attribué(s) : {numbers[0]}, {numbers[1]}." in text
    assert f"Non modifié(s) : {numbers[2]} (relève d'un autre service)." in text
    with app.extensions["guichet"].factory() as s:
        assignees = dict(s.execute(select(Report.tracking_number, Report.assignee_id)).all())
        events = s.execute(select(Event.report_id).where(Event.action == "assigned")).scalars().all()
    assert assignees == {numbers[0]: me.id, numbers[1]: me.id, numbers[2]: None}
    assert len(events) == 2
    technician = add_user(app, "technicien", "voirie")
    with app.extensions["guichet"].factory() as s:
        tech_id = s.execute(select(User.id).where(User.username == technician)).scalar_one()
    refused = _post(agent, {"action": "attribuer", "agent": str(tech_id), "n": numbers[:1]})
    assert f"Non modifié(s) : {numbers[0]} (un signalement s'attribue à un agent ou à un administrateur)." in refused
    audited = _audit(app, "selection.attribuer")[:3]
    assert [(n, st) for n, st, _ in audited] == [(numbers[0], 200), (numbers[1], 200), (numbers[2], 409)]
    assert all(rid is not None for _, _, rid in audited)  # one entry per report, naming it


def test_status_of_a_selection_is_previewed_then_confirmed(office: tuple[Flask, list[str]]) -> None:
    app, numbers = office
    admin, _ = _client(app, "admin")
    token = csrf_token(admin, "/")
    preview = admin.post(
        "/selection",
        data={
            "csrf_token": token,
            "action": "statut",
            "apercu": "1",
            "statut": "resolu",
            "note": "Réparé ce matin",
            "n": numbers[:2],
        },
    )
    assert preview.status_code == 200
    page = html.unescape(preview.get_data(as_text=True))
    assert "Passage au statut « Résolu » de 2 signalement(s)" in page
    assert page.count("Réparé ce matin") >= 2 and "citoyen0." in page and "citoyen1." in page
    with app.extensions["guichet"].factory() as s:
        assert s.execute(select(Outbox.id).where(Outbox.kind == "status_resolu")).first() is None  # nothing sent yet
    hidden = dict(re.findall(r'<input type="hidden" name="(statut|motif|note)" value="([^"]*)"', page))
    assert hidden == {"statut": "resolu", "motif": "", "note": "Réparé ce matin"}
    text = _post(admin, {"action": "statut", **hidden, "n": numbers[:2]})
    assert "2 signalement(s) passé(s) au nouveau statut" in text and "2 message(s) en cours d'envoi" in text
    with app.extensions["guichet"].factory() as s:
        statuses = dict(s.execute(select(Report.tracking_number, Report.status)).all())
        told = s.execute(select(Outbox.recipient).where(Outbox.kind == "status_resolu")).scalars().all()
    assert statuses[numbers[0]] == statuses[numbers[1]] == "resolu" and statuses[numbers[2]] != "resolu"
    assert sorted(r.split(".")[0] for r in told) == ["citoyen0", "citoyen1"]
    assert [n for n, _, _ in _audit(app, "selection.statut")] == numbers[:2]
    again = _post(admin, {"action": "statut", **hidden, "n": numbers[:1]})  # nothing twice
    assert f"Non modifié(s) : {numbers[0]} (déjà au statut « Résolu »)." in again


def test_rejecting_a_selection_needs_a_reason_in_french(office: tuple[Flask, list[str]]) -> None:
    app, numbers = office
    admin, _ = _client(app, "admin")
    text = _post(admin, {"action": "statut", "statut": "rejete", "n": numbers[:1]})
    assert "Non modifié(s) :" in text and "motif" in text.lower()
    token = csrf_token(admin, "/")
    answer = admin.post(
        "/selection",
        data={"csrf_token": token, "action": "statut", "apercu": "1", "statut": "inexistant", "n": numbers[:1]},
    )
    assert answer.status_code == 303
    assert "Statut inconnu : inexistant." in html.unescape(admin.get("/").get_data(as_text=True))


def test_reception_reroutes_but_may_not_assign_or_change_status(office: tuple[Flask, list[str]]) -> None:
    app, numbers = office
    reception, _ = _client(app, "accueil")
    text = _post(reception, {"action": "statut", "statut": "resolu", "n": numbers})
    assert "Votre rôle ne permet pas cette action." in text
    text = _post(
        reception, {"action": "service", "service": "proprete", "note_service": "Plutôt propreté", "n": numbers}
    )
    assert f"3 signalement(s) réaffecté(s) : {', '.join(numbers)}." in text
    with app.extensions["guichet"].factory() as s:
        assert set(s.execute(select(Report.service)).scalars()) == {"proprete"}
    assert len(_audit(app, "selection.service")) == 3
    assert "Service inconnu" not in text
    text = _post(reception, {"action": "service", "service": "nulle-part", "n": numbers[:1]})
    assert "service inconnu : choisissez un service de la liste" in text
    assert "Aucun signalement sélectionné" in _post(reception, {"action": "service", "service": "voirie"})
    assert "Action inconnue" in _post(reception, {"action": "supprimer", "n": numbers})


def test_export_of_a_selection_holds_the_ticked_reports_only(office: tuple[Flask, list[str]]) -> None:
    app, numbers = office
    agent, _ = _client(app, "agent", "voirie")
    answer = agent.post(
        "/selection", data={"csrf_token": csrf_token(agent, "/"), "action": "exporter", "n": [numbers[1], numbers[2]]}
    )
    assert answer.status_code == 303 and "/exports/signalements.csv" in answer.headers["Location"]
    download = agent.get(answer.headers["Location"])
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    found = {cell for row in rows[1:] for cell in row if cell in numbers}
    assert found == {numbers[1]}  # the eclairage report stays out of a voirie agent's export
