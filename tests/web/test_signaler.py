"""/signaler, the citizens' web form: a door of its own into the same pipeline, with anti-abuse and no tracking."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from intake.config import Config
from intake.media.exif import read_image_info
from intake.models import Attachment, Event, Outbox, RawMessage, Report
from intake.outbox.notify import ConsoleMailer
from intake.runtime.resources import Resources, build_resources
from tests.support.mail import jpeg_with_gps
from web import create_app, limits
from web.signaler import HONEYPOT, TOKEN_SALT

TOWN = "+33757000000"
LAMP = "Un lampadaire ne s'allume plus devant le 12 rue de la Roquette depuis lundi."
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss=1"><script>alert(1)</script></svg>'


@pytest.fixture
def res(make_config: Callable[..., Config]) -> Resources:
    return build_resources(make_config(), mailer=ConsoleMailer())


@pytest.fixture
def client(res: Resources) -> FlaskClient:
    return create_app(res.config, resources=res).test_client()


def aged_token(app: Flask, seconds: float = 10, nonce: str | None = None) -> str:
    """A form token signed with the app's key as if the form had been opened `seconds` ago."""

    class Past(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - seconds)

    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=TOKEN_SALT, signer=Past)
    return serializer.dumps(nonce or f"{time.time_ns():032x}"[-32:])


def send(client: FlaskClient, *, token: str | None = None, **fields: Any) -> Any:
    data = {
        "jeton": token or aged_token(client.application),
        "categorie": "",
        "description": LAMP,
        "adresse": "",
        "lat": "",
        "lon": "",
        "nom": "Paulette Durand",
        "email": "paulette.durand@example.fr",
        "telephone": "",
        "suivi": "email",
        HONEYPOT: "",
        **fields,
    }
    return client.post("/signaler", data=data, content_type="multipart/form-data")


def reports(res: Resources) -> list[Report]:
    with res.factory() as s:
        found = list(s.execute(select(Report).order_by(Report.id)).scalars())
        for report in found:
            s.expunge(report)
        return found


def raw_count(res: Resources) -> int:
    with res.factory() as s:
        return int(s.execute(select(func.count()).select_from(RawMessage)).scalar_one())


def test_form_is_french_labelled_without_inline_script_and_not_framable_by_default(client: FlaskClient) -> None:
    answer = client.get("/signaler")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and '<html lang="fr">' in page and "Signaler un problème" in page
    for name in (
        "categorie",
        "description",
        "adresse",
        "lat",
        "lon",
        "photo",
        "nom",
        "email",
        "telephone",
        "suivi-email",
        "suivi-sms",
    ):
        assert f'for="{name}"' in page and f'id="{name}"' in page, name
    assert "Je ne sais pas (la mairie choisira)" in page and "Éclairage public" in page
    assert re.search(r'<div class="piege" aria-hidden="true">', page) and f'name="{HONEYPOT}"' in page
    assert "<script>" not in page and " style=" not in page and "onclick" not in page
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert 'name="csrf_token"' not in page  # signed time token instead: the form must work in an iframe


def test_a_report_from_the_form_is_filed_confirmed_and_its_number_and_link_shown(
    client: FlaskClient, res: Resources
) -> None:
    answer = send(client, adresse="12 rue de la Roquette")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200, page[:2000]
    [report] = reports(res)
    assert report.channel == "formulaire" and report.category == "eclairage" and report.category_source == "model"
    assert report.address_voie and "Roquette" in report.address_voie
    assert f'<strong id="numero">{report.tracking_number}</strong>' in page
    assert f"/suivi/{report.public_token}" in page and "confirmation par courriel" in page
    with res.factory() as s:
        raw = s.execute(select(RawMessage)).scalar_one()
        confirmation = s.execute(select(Outbox).where(Outbox.kind == "confirmation")).scalar_one()
    assert raw.channel == "formulaire" and raw.source == "signaler" and raw.status == "processed"
    assert raw.external_key.startswith("signaler:")
    assert confirmation.channel == "email" and confirmation.recipient == "paulette.durand@example.fr"
    assert client.get(f"/suivi/{report.public_token}").status_code == 200


def test_chosen_category_and_pin_are_kept(client: FlaskClient, res: Resources) -> None:
    answer = send(
        client, categorie="voirie", description="Un trou profond sur la chaussée.", lat="48.857876", lon="2.347579"
    )
    assert answer.status_code == 200
    [report] = reports(res)
    assert report.category == "voirie" and report.category_source == "app"
    assert report.location_source == "pin" and report.lat == pytest.approx(48.857876)


def test_photo_gps_places_the_report_and_every_stored_copy_is_stripped(client: FlaskClient, res: Resources) -> None:
    photo = (io.BytesIO(jpeg_with_gps(48.8534, 2.3488)), "trou.jpg", "image/jpeg")
    answer = send(client, description="Dépôt sauvage de gravats.", photo=photo)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:2000]
    [report] = reports(res)
    assert report.location_source == "exif" and report.lat == pytest.approx(48.8534, abs=1e-4)
    with res.factory() as s:
        payload = json.loads(s.execute(select(RawMessage.payload)).scalar_one())
        attachment = s.execute(select(Attachment)).scalar_one()
    [media] = payload["media"]
    stored = base64.b64decode(media["data"])
    info = read_image_info(stored)
    assert info is not None and info.gps is None and b"Exif" not in stored[:200]
    assert media["filename"] == "trou.jpg" and attachment.is_image and attachment.gps_lat is None


def test_svg_and_non_images_are_refused_in_french_and_nothing_is_stored(client: FlaskClient, res: Resources) -> None:
    for upload in (
        (io.BytesIO(SVG), "<img src=x onerror=alert(1)>.svg", "image/svg+xml"),
        (io.BytesIO(SVG), "photo.png", "image/png"),
        (io.BytesIO(b"GIF89a" + b"\0" * 40), "anim.gif", "application/octet-stream"),
    ):
        answer = send(client, adresse="12 rue de la Roquette", photo=upload)
        page = answer.get_data(as_text=True)
        assert answer.status_code == 422 and 'role="alert"' in page
        assert "pas une photo (JPEG, PNG, WebP ou HEIC)" in page
        assert "<img src=x" not in page and "<svg" not in page
    first = send(
        client,
        adresse="12 rue de la Roquette",
        photo=(io.BytesIO(SVG), "<img src=x onerror=alert(1)>.svg", "image/svg+xml"),
    )
    assert "« &lt;img src=x onerror=alert(1)&gt;.svg » n&#39;est pas une photo" in first.get_data(as_text=True)
    assert raw_count(res) == 0


def test_more_photos_than_allowed_are_refused(client: FlaskClient, res: Resources) -> None:
    photos = [(io.BytesIO(jpeg_with_gps(48.8534, 2.3488)), f"p{i}.jpg", "image/jpeg") for i in range(4)]
    answer = send(client, adresse="12 rue de la Roquette", photo=photos)
    assert answer.status_code == 422 and "Au plus 3 photos." in answer.get_data(as_text=True)
    assert raw_count(res) == 0


def test_honeypot_fresh_forged_and_expired_tokens_are_refused(client: FlaskClient, res: Resources) -> None:
    app = client.application
    cases = [
        ({HONEYPOT: "https://spam.example"}, "champ réservé aux robots"),
        ({"token": aged_token(app, seconds=0)}, "Envoi trop rapide"),
        ({"token": aged_token(app, seconds=13 * 3600)}, "Ce formulaire a expiré"),
        ({"token": "abc.def.ghi"}, "Formulaire invalide"),
    ]
    for fields, message in cases:
        answer = send(client, adresse="12 rue de la Roquette", **fields)
        page = answer.get_data(as_text=True)
        assert answer.status_code == 400 and message in page and 'role="alert"' in page, message
    assert raw_count(res) == 0
    assert send(client, adresse="12 rue de la Roquette").status_code == 200  # the same form, by a person


def test_the_same_form_sent_twice_files_one_report(client: FlaskClient, res: Resources) -> None:
    token = aged_token(client.application)
    first = send(client, token=token, adresse="12 rue de la Roquette")
    second = send(client, token=token, adresse="12 rue de la Roquette")
    assert first.status_code == second.status_code == 200
    [report] = reports(res)
    for answer in (first, second):
        assert report.tracking_number in answer.get_data(as_text=True)
    assert raw_count(res) == 1


def test_reports_per_client_address_are_limited(make_config: Callable[..., Config]) -> None:
    cfg = make_config(webform={"max_reports_per_address_per_hour": 2})
    res = build_resources(cfg, mailer=ConsoleMailer())
    client = create_app(cfg, resources=res).test_client()
    for _ in range(2):
        assert send(client, adresse="12 rue de la Roquette").status_code == 200
    refused = send(client, adresse="12 rue de la Roquette")
    assert refused.status_code == 429 and "2 par heure au plus" in refused.get_data(as_text=True)
    other = client.post(
        "/signaler",
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
        content_type="multipart/form-data",
        data={
            "jeton": aged_token(client.application),
            "description": LAMP,
            "adresse": "12 rue de la Roquette",
            "suivi": "email",
        },
    )
    assert other.status_code == 200  # another connection is not blocked
    assert len(reports(res)) == 3


def test_errors_are_announced_on_their_fields_and_the_values_kept(client: FlaskClient, res: Resources) -> None:
    answer = send(client, description="", email="pas-une-adresse", telephone="", nom="Jean <b>Dupont</b>")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and 'role="alert"' in page and "3 points à corriger" in page
    assert "Décrivez le problème en quelques mots." in page and "Adresse électronique invalide" in page
    assert 'aria-describedby="description-aide description-erreur"' in page and 'aria-invalid="true"' in page
    assert "Indiquez où se trouve le problème" in page
    assert "Jean &lt;b&gt;Dupont&lt;/b&gt;" in page and "<b>Dupont" not in page
    outside = send(client, lat="43.2965", lon="5.3698")
    assert outside.status_code == 422 and "en dehors de la commune" in outside.get_data(as_text=True)
    sms = send(client, adresse="12 rue de la Roquette", suivi="sms", telephone="")
    assert sms.status_code == 422 and "Pour être informé par SMS" in sms.get_data(as_text=True)
    assert raw_count(res) == 0


def test_citizen_who_chooses_sms_is_confirmed_by_sms_not_email(
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
    client = create_app(cfg, resources=res).test_client()
    answer = send(client, adresse="12 rue de la Roquette", suivi="sms", telephone="06 12 34 56 78")
    assert answer.status_code == 200 and "par SMS" in answer.get_data(as_text=True)
    with res.factory() as s:
        rows = list(s.execute(select(Outbox).where(Outbox.kind == "confirmation")).scalars())
    assert [(r.channel, r.recipient) for r in rows] == [("sms", "+33612345678")]


def test_anonymous_report_is_filed_without_confirmation(client: FlaskClient, res: Resources) -> None:
    answer = send(client, adresse="12 rue de la Roquette", nom="", email="", telephone="")
    assert answer.status_code == 200
    [report] = reports(res)
    with res.factory() as s:
        assert s.execute(select(func.count()).select_from(Outbox)).scalar_one() == 0
        assert (
            s.execute(
                select(Event).where(Event.report_id == report.id, Event.action == "confirmation_skipped")
            ).scalar_one()
            is not None
        )


def test_embedding_origins_drive_frame_ancestors_on_the_form_only(make_config: Callable[..., Config]) -> None:
    cfg = make_config(webform={"embed_origins": ["https://www.ville-exemple.fr"]})
    client = create_app(cfg, resources=build_resources(cfg, mailer=ConsoleMailer())).test_client()
    answer = client.get("/signaler")
    assert "frame-ancestors 'self' https://www.ville-exemple.fr;" in answer.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in answer.headers
    other = client.get("/connexion")
    assert "frame-ancestors 'none'" in other.headers["Content-Security-Policy"]
    assert other.headers["X-Frame-Options"] == "DENY"


def test_bad_embed_origin_is_a_clear_config_error(make_config: Callable[..., Config]) -> None:
    with pytest.raises(Exception, match="embed_origins"):
        make_config(webform={"embed_origins": ["https://ville.fr; script-src *"]})


def test_disabled_form_is_not_found(make_config: Callable[..., Config]) -> None:
    cfg = make_config(webform={"enabled": False})
    client = create_app(cfg, resources=build_resources(cfg, mailer=ConsoleMailer())).test_client()
    assert client.get("/signaler").status_code == 404


def test_oversized_body_is_refused_before_reading(make_config: Callable[..., Config]) -> None:
    cfg = make_config(storage={"max_attachment_mb": 1})
    res = build_resources(cfg, mailer=ConsoleMailer())
    app = create_app(cfg, resources=res)
    limit = limits.route_limits(cfg)["signaler.submit"]
    assert limit == 3 * 1_000_000 + limits.MULTIPART_MARGIN  # three photos and the fields
    answer = app.test_client().post(
        "/signaler", data=b"x" * (limit + 1), content_type="multipart/form-data; boundary=x"
    )
    assert answer.status_code == 413 and "Requête trop volumineuse" in answer.get_data(as_text=True)
    assert raw_count(res) == 0


def test_address_suggestions_are_public_and_from_the_commune(client: FlaskClient) -> None:
    found = client.get("/signaler/adresses?q=rue de la roq").get_json()["suggestions"]
    assert found and all("Roquette" in s["label"] for s in found[:3])
