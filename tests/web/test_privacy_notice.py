"""The privacy notice (issue 12, RGPD 3): generated from config.yaml, linked from confirmations and public pages."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from intake.config import Config
from intake.models import Outbox, Report
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.resources import build_resources
from tests.support.mail import citizen_email
from web import create_app


def test_notice_says_what_config_yaml_says(make_config: Callable[..., Config]) -> None:
    cfg = make_config(
        privacy={
            "controller": "Commune de Saint-Test, représentée par son maire",
            "dpo_contact": "dpo@saint-test.fr",
            "purposes": ["réparer la voirie signalée"],
            "retention": {"raw_months": 3, "identity_months": 18, "audit_months": 6},
        }
    )
    page = create_app(cfg, resources=build_resources(cfg, mailer=ConsoleMailer())).test_client().get("/confidentialite")
    text = page.get_data(as_text=True)
    assert page.status_code == 200  # public: no sign-in
    for expected in (
        "Commune de Saint-Test, représentée par son maire",
        "dpo@saint-test.fr",
        "réparer la voirie signalée",
        "3 mois après la clôture",
        "18 mois après la clôture",
        ": 6 mois",
        "article 6.1.e",
        "CNIL",
        "rectifier ou effacer",
    ):
        assert expected in text, expected


def test_confirmation_and_public_pages_link_to_the_notice(make_config: Callable[..., Config]) -> None:
    cfg = make_config()
    res = build_resources(cfg, mailer=ConsoleMailer())
    raw = citizen_email()
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    outcome = process_raw(res, raw_id)
    assert outcome.status == "processed"
    with res.factory() as s:
        body = s.execute(select(Outbox.body).where(Outbox.kind == "confirmation")).scalar_one()
        token = s.execute(select(Report.public_token)).scalar_one()
    assert f"Vos données personnelles et vos droits : {cfg.town.public_url}/confidentialite" in body
    client = create_app(cfg, resources=res).test_client()
    for path in (f"/suivi/{token}", f"/suivi/{token}/position"):
        assert 'href="/confidentialite"' in client.get(path).get_data(as_text=True), path
