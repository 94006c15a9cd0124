"""French error pages in the back office's layout, with a way back: 400, 403, 404, 405, 413, 429, 500, CSRF."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from flask import Flask, abort

from intake.config import Config
from tests.support.web import signed_in
from web import access, create_app

ENGLISH = (
    "Not Found",
    "Method Not Allowed",
    "Bad Request",
    "CSRF token",
    "Internal Server Error",
    "Request Entity Too Large",
    "Too Many Requests",
    "Forbidden",
)


@pytest.fixture
def app(make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    application = create_app(make_config())

    def broken() -> str:
        raise RuntimeError("a bug")

    for name, view in (
        ("essai_400", lambda: abort(400)),
        ("essai_429", lambda: abort(429)),
        ("essai_403", lambda: abort(403)),
        ("essai_500", broken),
    ):
        application.add_url_rule(f"/{name}", name, view, methods=["GET"])
        monkeypatch.setitem(access.ROUTES, name, access.OPEN)
    yield application
    application.extensions["guichet"].dispose()


def _french(page: str, title: str) -> None:
    assert f"<h1>{title}</h1>" in page and 'class="bandeau"' in page and '<html lang="fr">' in page
    assert not any(word in page for word in ENGLISH), page


def test_unknown_report_number_signed_in(app: Flask) -> None:
    client = signed_in(app, "admin")
    page = client.get("/signalements/1", headers={"Referer": "http://localhost/"})
    text = page.get_data(as_text=True)
    assert page.status_code == 404
    _french(text, "Page introuvable")
    assert "Un signalement s&#39;ouvre par son numéro de suivi, par exemple /signalements/2026-00042" in text
    assert 'href="/">Retour aux signalements</a>' in text and "Se déconnecter" in text
    assert 'href="http://localhost/">Revenir à la page précédente</a>' in text
    missing = client.get("/signalements/2026-99999").get_data(as_text=True)
    assert "Aucun signalement n° 2026-99999." in missing


def test_anonymous_404_offers_the_sign_in_and_never_an_outside_referrer(app: Flask) -> None:
    page = app.test_client().get("/nulle-part", headers={"Referer": "https://ailleurs.example/piege"})
    text = page.get_data(as_text=True)
    assert page.status_code == 404
    _french(text, "Page introuvable")
    assert 'href="/connexion">Accès des agents : se connecter</a>' in text and "ailleurs.example" not in text


def test_wrong_method_and_missing_csrf_token(app: Flask) -> None:
    client = signed_in(app, "admin")
    page = client.get("/signalements/2026-00001/categorie")
    assert page.status_code == 405
    _french(page.get_data(as_text=True), "Action impossible ici")
    refused = client.post("/signalements/2026-00001/categorie", data={"categorie": "voirie"})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400
    _french(text, "Demande invalide")
    assert "Le formulaire a expiré ou n&#39;a pas été envoyé depuis cette page" in text
    assert "rien n&#39;a été enregistré" in text


def test_too_large_a_request(app: Flask) -> None:
    # The sign-in form's own limit (web/limits.py) is far below 3 MB: refused from its Content-Length.
    page = app.test_client().post("/connexion", data={"identifiant": "x" * 3_000_000})
    text = page.get_data(as_text=True)
    assert page.status_code == 413
    _french(text, "Envoi trop volumineux")
    assert "Requête trop volumineuse : " in text and " au plus pour cette page." in text


@pytest.mark.parametrize(
    "path, status, title",
    [
        ("/essai_400", 400, "Demande invalide"),
        ("/essai_403", 403, "Accès refusé"),
        ("/essai_429", 429, "Trop de demandes"),
    ],
)
def test_other_statuses(app: Flask, path: str, status: int, title: str) -> None:
    page = app.test_client().get(path)
    assert page.status_code == status
    _french(page.get_data(as_text=True), title)


def test_internal_error_is_logged_with_a_reference(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="web.errors"):
        page = app.test_client().get("/essai_500")
    text = page.get_data(as_text=True)
    assert page.status_code == 500
    _french(text, "Erreur interne")
    (record,) = [r for r in caplog.records if r.name == "web.errors"]
    reference = record.getMessage().split()[2]
    assert f"Référence de l'erreur : <strong>{reference}</strong>" in text
    assert record.exc_info is not None and "a bug" in str(record.exc_info[1])
    assert "RuntimeError" not in text


def test_json_callers_get_json_and_open311_keeps_its_format(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/nulle-part", headers={"Accept": "application/json"})
    assert page.status_code == 404 and page.get_json() == {
        "erreur": "Aucune page ne correspond à cette adresse : le lien est peut-être ancien ou incomplet."
    }
    spec = client.get("/open311/v2/inconnu.json")
    assert spec.status_code == 404 and "bandeau" not in spec.get_data(as_text=True)
