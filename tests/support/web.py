"""Signing in to the back office in tests, through the real sign-in form."""

from __future__ import annotations

import re
import uuid

from flask import Flask
from flask.testing import FlaskClient

from intake.backoffice.accounts import create_user

PASSWORD = "un mot de passe de test assez long"


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form on `path`."""
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, f"no form on {path}"
    return found.group(1)


def add_user(app: Flask, role: str = "admin", service: str | None = None, username: str | None = None) -> str:
    """Create an account (agents default to the voirie service); returns its username."""
    res = app.extensions["guichet"]
    name = username or f"{role}-{uuid.uuid4().hex[:8]}"
    with res.factory() as session, session.begin():
        create_user(
            session,
            res.config,
            username=name,
            password=PASSWORD,
            role=role,
            service=service or ("voirie" if role == "agent" else None),
            display_name=name.title(),
        )
    return name


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> None:
    """Post the sign-in form like a browser would."""
    token = csrf_token(client, "/connexion")
    answer = client.post("/connexion", data={"identifiant": username, "mot_de_passe": password, "csrf_token": token})
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]


def secured(app: Flask) -> Flask:
    """The app with sign-in and the route table enforced (already the case when create_app installs them)."""
    from web import access

    access.init_app(app)
    return app


def signed_in(app: Flask, role: str = "admin", service: str | None = None) -> FlaskClient:
    """A test client signed in with a new account of `role` (agents default to the voirie service)."""
    secured(app)
    client = app.test_client()
    sign_in(client, add_user(app, role, service))
    return client
