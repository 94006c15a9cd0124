"""Staff entry: reception types in a phone call, a visit or a letter; it becomes a report like any other."""

from __future__ import annotations

import html
import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from intake.config import Config
from intake.models import Attachment, Event, Outbox, RawMessage, Report
from intake.outbox.notify import ConsoleMailer
from intake.runtime.resources import Resources, build_resources
from tests.support.mail import jpeg_with_gps
from tests.support.web import signed_in
from web import create_app

TOWN = "+33757000000"


@pytest.fixture
def res(make_config: Callable[..., Config]) -> Resources:
    return build_resources(make_config(), mailer=ConsoleMailer())


@pytest.fixture
def client(res: Resources) -> FlaskClient:
    return signed_in(create_app(res.config, resources=res), "accueil")


def form_token(client: FlaskClient) -> str:
    page = client.get("/saisie").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def submit(client: FlaskClient, **fields: Any) -> Any:
    data = {
        "csrf_token": form_token(client),
        "jeton": uuid.uuid4().hex,
        "canal": "telephone",
        "nom": "Mme Paulette Durand",
        "email": "paulette.durand@example.fr",
        "telephone": "",
        "texte": "Un lampadaire ne s'allume plus devant le 12 rue de la Roquette depuis lundi.",
        "categorie": "",
        "adresse": "",
        "lat": "",
        "lon": "",
        **fields,
    }
    return client.post("/saisie", data=data, content_type="multipart/form-data")


def only_report(res: Resources) -> Report:
    with res.factory() as s:
        report = s.execute(select(Report)).scalar_one()
        s.expunge(report)
        return report


def test_form_is_french_accessible_and_csrf_protected(client: FlaskClient) -> None:
    page = client.get("/saisie").get_data(as_text=True)
    assert "Saisir un signalement" in page and "Téléphone" in page and "Courrier" in page
    for field in ("texte", "email", "telephone", "adresse", "categorie", "lat", "lon", "photo"):
        assert f'for="{field}"' in page, field  # every input has its label
    assert "<script>" not in page and "onclick" not in page  # no inline script (CSP)
    refused = client.post("/saisie", data={"canal": "telephone", "texte": "x", "jeton": uuid.uuid4().hex})
    assert refused.status_code == 400  # no CSRF token
    anonymous = client.application.test_client()
    assert anonymous.get("/saisie").status_code == 302  # sign-in first


def test_phone_call_becomes_a_classified_located_confirmed_report(client: FlaskClient, res: Resources) -> None:
    answer = submit(client)
    assert answer.status_code == 303 and "/signalements/" in answer.headers["Location"]
    report = only_report(res)
    assert report.channel == "telephone" and report.category == "eclairage" and report.category_source == "model"
    assert report.location_source == "text" and report.address_voie and "Roquette" in report.address_voie
    assert any(n.startswith("Saisi par accueil-") and n.endswith("(téléphone).") for n in report.notes)
    with res.factory() as s:
        raw = s.execute(select(RawMessage)).scalar_one()
        confirmation = s.execute(select(Outbox).where(Outbox.kind == "confirmation")).scalar_one()
        author = s.get(Report, report.id).author  # type: ignore[union-attr]
        assert author is not None and author.name == "Mme Paulette Durand"
    assert raw.channel == "telephone" and raw.source == "back-office" and raw.status == "processed"
    assert '"entered_by": "accueil-' in raw.payload.decode()
    assert confirmation.channel == "email" and confirmation.recipient == "paulette.durand@example.fr"
    assert report.tracking_number in confirmation.subject
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert f"Signalement n° {report.tracking_number} enregistré." in page


def test_agent_category_point_and_photo_are_kept(client: FlaskClient, res: Resources) -> None:
    photo = (io.BytesIO(jpeg_with_gps(48.8534, 2.3488)), "trou.jpg", "image/jpeg")
    answer = submit(
        client,
        canal="accueil",
        categorie="voirie",
        texte="Nid de poule signalé au guichet.",
        lat="48.857876",
        lon="2.347579",
        adresse="Place de l'Hôtel de Ville",
        photo=photo,
    )
    assert answer.status_code == 303
    report = only_report(res)
    assert report.channel == "accueil" and report.category == "voirie" and report.category_source == "agent"
    assert report.location_source == "agent" and report.lat == pytest.approx(48.857876)
    assert report.address_label == "Place de l'Hôtel de Ville"
    with res.factory() as s:
        attachment = s.execute(select(Attachment)).scalar_one()
    assert attachment.is_image and attachment.gps_lat == pytest.approx(48.8534, abs=1e-4)


def test_same_form_submitted_twice_files_one_report(client: FlaskClient, res: Resources) -> None:
    nonce = uuid.uuid4().hex
    first = submit(client, jeton=nonce)
    second = submit(client, jeton=nonce)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    with res.factory() as s:
        assert s.execute(select(func.count()).select_from(Report)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(RawMessage)).scalar_one() == 1
    assert "Déjà enregistré" in client.get(second.headers["Location"]).get_data(as_text=True)


def test_same_nonce_with_other_content_is_another_entry(client: FlaskClient, res: Resources) -> None:
    # The browser's back button brings the form back with its nonce; the agent types the next call in it.
    nonce = uuid.uuid4().hex
    first = submit(client, jeton=nonce)
    second = submit(
        client,
        jeton=nonce,
        nom="M. Karim Benali",
        email="karim.benali@example.fr",
        texte="Un nid-de-poule profond devant le 3 rue de la Roquette, dangereux pour les vélos.",
    )
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] != second.headers["Location"]
    with res.factory() as s:
        assert s.execute(select(func.count()).select_from(Report)).scalar_one() == 2
        flags = s.execute(select(RawMessage.external_key, RawMessage.key_collision).order_by(RawMessage.id)).all()
    assert flags == [(f"saisie:{nonce}", False), (f"saisie:{nonce}", True)]
    assert "Déjà enregistré" not in client.get(second.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"texte": "  "}, "Décrivez le problème signalé."),
        ({"email": "pas-une-adresse"}, "Adresse électronique invalide."),
        ({"telephone": "12"}, "Numéro de téléphone invalide"),
        ({"canal": "pigeon"}, "Choisissez par où le signalement est arrivé."),
        ({"categorie": "inconnue"}, "Catégorie inconnue."),
        ({"lat": "45.76", "lon": "4.83"}, "Ce point est en dehors de la commune."),  # Lyon
        ({"lat": "abc", "lon": "2.3"}, "Coordonnées illisibles"),
        ({"lat": "91", "lon": "2.3"}, "Coordonnées hors limites."),
        ({"jeton": "x"}, "Formulaire expiré"),
        ({"photo": (io.BytesIO(b"%PDF-1.4"), "lettre.pdf", "application/pdf")}, "n'est pas une photo"),
    ],
)
def test_bad_input_gets_a_french_error_and_keeps_the_values(
    client: FlaskClient, res: Resources, fields: dict[str, Any], message: str
) -> None:
    answer = submit(client, nom="Jean Valjean", **fields)
    page = html.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 400 and message in page
    assert 'value="Jean Valjean"' in page  # what the agent typed is not lost
    with res.factory() as s:
        assert s.execute(select(func.count()).select_from(RawMessage)).scalar_one() == 0


def test_phone_only_citizen_without_sms_gets_no_confirmation_and_it_says_why(
    client: FlaskClient, res: Resources
) -> None:
    assert submit(client, email="", telephone="06 12 34 56 78", canal="courrier").status_code == 303
    report = only_report(res)
    with res.factory() as s:
        confirmations = select(func.count()).select_from(Outbox).where(Outbox.kind == "confirmation")
        assert s.execute(confirmations).scalar_one() == 0
        skipped = s.execute(
            select(Event).where(Event.report_id == report.id, Event.action == "confirmation_skipped")
        ).scalar_one()
    assert "SMS n'est pas configuré" in skipped.detail["reason"]


def test_phone_only_citizen_is_confirmed_by_sms_when_the_town_sends_sms(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_TWILIO_TOKEN", "jeton-secret")
    cfg = make_config(
        twilio={
            "enabled": True,
            "account_sid": "AC" + "0" * 32,
            "numbers": [TOWN],
            "auth_token": {"env": "TEST_TWILIO_TOKEN"},
            "public_base_url": "https://guichet.test",
        }
    )
    res = build_resources(cfg, mailer=ConsoleMailer())
    client = signed_in(create_app(cfg, resources=res), "accueil")
    assert submit(client, email="", telephone="06 12 34 56 78").status_code == 303
    with res.factory() as s:
        row = s.execute(select(Outbox).where(Outbox.kind == "confirmation")).scalar_one()
    assert row.channel == "sms" and row.recipient == "+33612345678" and row.kind == "confirmation"


def test_address_suggestions_come_from_the_commune_reference(client: FlaskClient) -> None:
    found = client.get("/adresses/suggestions?q=rue de la roq").get_json()["suggestions"]
    assert found and found[0]["label"].startswith("Rue de la Roquette") and "75011" in found[0]["label"]
    assert 48.8 < found[0]["lat"] < 48.9 and 2.3 < found[0]["lon"] < 2.4
    assert client.get("/adresses/suggestions?q=x").get_json() == {"suggestions": []}
    assert client.get("/adresses/suggestions?q=" + "a" * 5000).status_code == 200
