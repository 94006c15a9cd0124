"""Server-side sessions (S4): signing out revokes the session and its copied cookies; the lifetime is absolute."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from intake.config import Config
from intake.models import UserSession
from tests.support.web import add_user, csrf_token, sign_in
from web import create_app

COOKIE = "guichet_session"


def _app(make_config: Callable[..., Config], **web: object) -> Flask:
    return create_app(make_config(web=web) if web else make_config())


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def _with_cookie(app: Flask, value: str) -> FlaskClient:
    other = app.test_client()
    other.set_cookie(COOKIE, value)
    return other


def test_a_copied_cookie_stops_working_when_its_owner_signs_out(make_config: Callable[..., Config]) -> None:
    app = _app(make_config)
    client = app.test_client()
    sign_in(client, add_user(app, "admin"))
    copied = _cookie(client)
    assert _with_cookie(app, copied).get("/").status_code == 200  # the copy works while the session lives
    assert client.post("/deconnexion", data={"csrf_token": csrf_token(client, "/saisie")}).status_code == 303
    assert _with_cookie(app, copied).get("/").status_code == 302  # revoked on the server
    with app.extensions["guichet"].factory() as s:
        assert (
            s.execute(
                select(func.count()).select_from(UserSession).where(UserSession.revoked_at.is_not(None))
            ).scalar_one()
            == 1
        )


def test_signing_out_ends_only_that_session(make_config: Callable[..., Config]) -> None:
    app = _app(make_config)
    name = add_user(app, "accueil")
    desk, laptop = app.test_client(), app.test_client()
    sign_in(desk, name)
    sign_in(laptop, name)
    desk.post("/deconnexion", data={"csrf_token": csrf_token(desk, "/saisie")})
    assert desk.get("/").status_code == 302
    assert laptop.get("/").status_code == 200


def test_session_hours_is_absolute_not_sliding(make_config: Callable[..., Config]) -> None:
    lifetime = 3.0  # seconds: web.session_hours is in hours
    app = _app(make_config, session_hours=lifetime / 3600)
    client = app.test_client()
    sign_in(client, add_user(app, "admin"))
    signed_in_at = time.monotonic()
    # An agent busy all along: a request every 0.2 s. The session must still end `lifetime` after the sign-in.
    while time.monotonic() - signed_in_at < lifetime - 1:
        assert client.get("/").status_code == 200
        time.sleep(0.2)
    while time.monotonic() - signed_in_at < lifetime + 0.5:
        client.get("/")
        time.sleep(0.2)
    answer = client.get("/")
    assert answer.status_code == 302 and "/connexion" in answer.headers["Location"]
