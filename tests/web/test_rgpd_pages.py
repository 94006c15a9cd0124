"""The administrators' RGPD pages (issue 12, RGPD 2): export and erasure from the back office, audited."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select

from intake.config import Config
from intake.models import AuditLog, Contact, Report
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.resources import build_resources
from tests.support.mail import citizen_email
from tests.support.web import csrf_token, signed_in
from web import create_app

JEAN = "jean.dupont@example.org"


@pytest.fixture
def app(make_config: Callable[..., Config]) -> Flask:
    res = build_resources(make_config(), mailer=ConsoleMailer())
    raw = citizen_email(
        sender=f"Jean Dupont <{JEAN}>",
        subject="Nid de poule",
        body="Un gros nid de poule devant le 24 rue de la Roquette. Jean Dupont",
    )
    rid, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    assert process_raw(res, rid).status == "processed"
    return create_app(res.config, resources=res)


def test_admin_exports_and_erases_from_the_back_office(app: Flask) -> None:
    admin = signed_in(app, "admin")
    token = csrf_token(admin, "/admin/rgpd")
    shown = admin.post("/admin/rgpd/export", data={"csrf_token": token, "identifiant": JEAN})
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "Données détenues" in page and "1 signalement(s)" in page
    download = admin.post("/admin/rgpd/export", data={"csrf_token": token, "identifiant": JEAN, "format": "json"})
    assert download.headers["Content-Disposition"].startswith('attachment; filename="rgpd-p-')
    assert json.loads(download.get_data())["contacts"][0]["courriel"] == JEAN
    bad = admin.post("/admin/rgpd/export", data={"csrf_token": token, "identifiant": "n'importe quoi"})
    assert bad.status_code == 400 and "ni une adresse électronique" in bad.get_data(as_text=True)
    unconfirmed = admin.post(
        "/admin/rgpd/effacer", data={"csrf_token": token, "identifiant": JEAN, "confirmation": "autre@example.org"}
    )
    assert unconfirmed.status_code == 400 and "retapez" in unconfirmed.get_data(as_text=True)
    with app.extensions["guichet"].factory() as s:
        assert s.execute(select(Contact.email)).scalar_one() == JEAN
    erased = admin.post(
        "/admin/rgpd/effacer", data={"csrf_token": token, "identifiant": JEAN, "confirmation": JEAN.upper()}
    )
    assert erased.status_code == 200 and "Effacé : 1 contact(s), 1 signalement(s)" in erased.get_data(as_text=True)
    with app.extensions["guichet"].factory() as s:
        assert s.execute(select(Contact.email)).scalar_one() is None
        report = s.execute(select(Report)).scalar_one()
        assert report.anonymised_at is not None and "Dupont" not in report.description
        entries = s.execute(select(AuditLog).order_by(AuditLog.id)).scalars().all()
    actions = [e.action for e in entries]
    assert actions.count("rgpd_export") == 2 and actions.count("rgpd_erase") == 1  # the refused request: none
    assert not [e for e in entries if JEAN in json.dumps(e.detail).lower() or JEAN in e.path]


def test_only_administrators_reach_the_rgpd_pages(app: Flask) -> None:
    for role in ("accueil", "agent"):
        client = signed_in(app, role)
        assert client.get("/admin/rgpd").status_code == 403
        token = csrf_token(client, "/saisie")
        assert client.post("/admin/rgpd/export", data={"csrf_token": token, "identifiant": JEAN}).status_code == 403
    assert "Demandes RGPD" in signed_in(app, "admin").get("/").get_data(as_text=True)
    assert "Demandes RGPD" not in signed_in(app, "accueil").get("/").get_data(as_text=True)
