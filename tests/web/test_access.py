"""Sign-in, roles and the route × role table: every route is listed, and each role gets exactly what it may."""

from __future__ import annotations

import html
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.config import Config
from intake.models import Attachment, AuditLog, Report, User
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.resources import build_resources
from tests.conftest import write_config
from tests.support.cli import run_guichet
from tests.support.mail import citizen_email, jpeg_with_gps
from tests.support.web import PASSWORD, add_user, csrf_token, secured, sign_in, signed_in
from web import create_app
from web.access import JSON_ENDPOINTS, PUBLIC, ROUTES, missing_routes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The back office with every optional door open (Twilio webhooks, Open311), and one voirie report."""
    monkeypatch.setenv("ACCESS_TWILIO_TOKEN", "jeton")
    monkeypatch.setenv("ACCESS_OPEN311_KEY", "cle-0123456789")
    cfg = make_config(
        twilio={
            "enabled": True,
            "account_sid": "AC" + "0" * 32,
            "numbers": ["+33757000000"],
            "auth_token": {"env": "ACCESS_TWILIO_TOKEN"},
            "public_base_url": "https://g.test",
        },
        open311={"api_keys": [{"name": "appli", "key": {"env": "ACCESS_OPEN311_KEY"}}]},
    )
    res = build_resources(cfg, mailer=ConsoleMailer())
    raw = citizen_email(
        subject="Nid de poule",
        body="Un gros nid de poule devant le 24 rue de la Roquette.",
        attachments=[("trou.jpg", "image/jpeg", jpeg_with_gps(48.854, 2.3712))],
    )
    rid, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    assert process_raw(res, rid).status == "processed"
    with res.factory() as s, s.begin():
        report = s.execute(select(Report)).scalar_one()
        report.category, report.service = "voirie", "voirie"
    return secured(create_app(cfg, resources=res))


def report_facts(app: Flask) -> dict[str, Any]:
    with app.extensions["guichet"].factory() as s:
        report = s.execute(select(Report)).scalar_one()
        attachment = s.execute(select(Attachment)).scalar_one()
        return {
            "number": report.tracking_number,
            "token": report.public_token,
            "attachment_id": attachment.id,
            "kind": "original",
            "fmt": "json",
            "code": "voirie",
            "rid": report.tracking_number,
            "ident": "x",
            "anything": "x",
            "filename": "guichet.css",
            "event_id": 1,
        }


def url_for_rule(rule: Any, facts: dict[str, Any]) -> str:
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(r"<(?:[a-z]+:)?" + name + ">", str(facts[name]), path)
    return path


def test_every_route_has_an_entry_in_the_table(app: Flask) -> None:
    assert missing_routes(app) == []
    assert all(roles <= {PUBLIC, "accueil", "agent", "admin", "technicien"} for roles in ROUTES.values())


def test_a_route_missing_from_the_table_is_refused_to_everyone(app: Flask) -> None:
    app.add_url_rule("/nouvelle-page", "nouvelle_page", lambda: "secret")
    assert missing_routes(app) == ["nouvelle_page"]
    admin = signed_in(app, "admin")
    answer = admin.get("/nouvelle-page")
    assert answer.status_code == 403 and "secret" not in answer.get_data(as_text=True)


def test_the_report_page_and_every_action_on_it_live_in_web_report(app: Flask) -> None:
    """One home (web/report/) for /signalements/<number> and everything below it; the URLs are those of before."""
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/signalements/<number>")]
    assert {r.endpoint for r in rules} <= set(ROUTES)
    assert all(app.view_functions[r.endpoint].__module__.startswith("web.report.") for r in rules)
    found = {(r.rule.removeprefix("/signalements/<number>"), m) for r in rules for m in r.methods - {"HEAD", "OPTIONS"}}
    assert found == {
        ("", "GET"),
        ("/fiche-intervention.pdf", "GET"),
        ("/categorie", "POST"),
        ("/service", "POST"),
        ("/statut", "POST"),
        ("/statut/apercu", "POST"),
        ("/position", "POST"),
        ("/attribution", "POST"),
        ("/reponse", "POST"),
        ("/detacher", "POST"),
        ("/fusionner", "POST"),
    }


def clients(app: Flask) -> dict[str, FlaskClient]:
    return {
        "anonyme": app.test_client(),
        "accueil": signed_in(app, "accueil"),
        "agent": signed_in(app, "agent", "voirie"),
        "agent_autre": signed_in(app, "agent", "eclairage"),
        "technicien": signed_in(app, "technicien", "voirie"),
        "technicien_autre": signed_in(app, "technicien", "eclairage"),
        "admin": signed_in(app, "admin"),
    }


def test_route_by_role_matrix(app: Flask) -> None:
    facts = report_facts(app)
    who = clients(app)
    tokens = {name: csrf_token(c, "/connexion" if name == "anonyme" else "/mot-de-passe") for name, c in who.items()}
    checked = 0
    for rule in app.url_map.iter_rules():
        roles = ROUTES[rule.endpoint]
        if PUBLIC in roles or rule.endpoint == "auth.logout":
            continue
        path = url_for_rule(rule, facts)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for name, client in who.items():
                data = {"csrf_token": tokens[name]} if method == "POST" else None
                answer = client.open(path, method=method, data=data)
                answer.close()
                role = name.split("_")[0]
                if name == "anonyme":
                    expected = {302} if method == "GET" and rule.endpoint not in JSON_ENDPOINTS else {401}
                    assert answer.status_code in expected, (rule.endpoint, method, name, answer.status_code)
                    if answer.status_code == 302:
                        assert "/connexion" in answer.headers["Location"]
                elif role not in roles or (name.endswith("_autre") and {"number", "attachment_id"} & rule.arguments):
                    assert answer.status_code == 403, (rule.endpoint, method, name, answer.status_code)
                else:
                    assert answer.status_code not in {401, 403}, (rule.endpoint, method, name, answer.status_code)
                checked += 1
    assert checked >= 7 * 12


def test_public_pages_need_no_sign_in(app: Flask) -> None:
    facts = report_facts(app)
    anonymous = app.test_client()
    assert anonymous.get(f"/suivi/{facts['token']}").status_code == 200
    assert anonymous.get("/open311/v2/services.json").status_code == 200
    assert anonymous.get("/sante").status_code == 200
    assert anonymous.get("/connexion").status_code == 200


def test_sign_in_failures_are_generic_then_throttle_the_address(app: Flask) -> None:
    from intake.backoffice.accounts import MAX_ATTEMPTS

    name = add_user(app, "accueil")
    client = app.test_client()
    for _ in range(MAX_ATTEMPTS):
        token = csrf_token(client, "/connexion")
        answer = client.post("/connexion", data={"identifiant": name, "mot_de_passe": "faux", "csrf_token": token})
        assert answer.status_code == 401
        assert "Identifiant ou mot de passe incorrect" in html.unescape(answer.get_data(as_text=True))
    token = csrf_token(client, "/connexion")
    throttled = client.post("/connexion", data={"identifiant": name, "mot_de_passe": PASSWORD, "csrf_token": token})
    assert throttled.status_code == 401 and "Trop de tentatives" in html.unescape(throttled.get_data(as_text=True))
    with app.extensions["guichet"].factory() as s:
        user = s.execute(select(User).where(User.username == name)).scalar_one()
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


def test_sign_in_redirects_only_within_the_site(app: Flask) -> None:
    name = add_user(app, "admin")
    client = app.test_client()
    token = csrf_token(client, "/connexion")
    answer = client.post(
        "/connexion",
        data={
            "identifiant": name,
            "mot_de_passe": PASSWORD,
            "csrf_token": token,
            "suivant": "https://pirate.example/vol",
        },
    )
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    assert "guichet_session" in answer.headers.get("Set-Cookie", "")
    assert "HttpOnly" in answer.headers["Set-Cookie"] and "SameSite=Lax" in answer.headers["Set-Cookie"]


def test_idle_session_expires_and_logout_ends_it(app: Flask) -> None:
    client = signed_in(app, "admin")
    assert client.get("/").status_code == 200
    with client.session_transaction() as session:
        session["seen"] = int(time.time()) - 61 * 60
    assert client.get("/").status_code == 302  # idle for more than web.idle_minutes
    client = signed_in(app, "admin")
    token = csrf_token(client, "/saisie")
    assert client.post("/deconnexion", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 302


def test_new_password_ends_open_sessions(app: Flask) -> None:
    from intake.backoffice.accounts import set_password

    name = add_user(app, "admin")
    client = app.test_client()
    sign_in(client, name)
    assert client.get("/").status_code == 200
    with app.extensions["guichet"].factory() as s, s.begin():
        set_password(s.execute(select(User).where(User.username == name)).scalar_one(), "un tout autre mot de passe")
    assert client.get("/").status_code == 302


def test_agent_reaches_only_the_reports_of_their_service(app: Flask) -> None:
    facts = report_facts(app)
    own, other = signed_in(app, "agent", "voirie"), signed_in(app, "agent", "eclairage")
    assert own.get(f"/signalements/{facts['number']}").status_code == 200
    with own.get(f"/fichiers/{facts['attachment_id']}/original") as answer:
        assert answer.status_code == 200
    refused = other.get(f"/signalements/{facts['number']}")
    assert refused.status_code == 403 and "autre service" in refused.get_data(as_text=True)
    assert other.get(f"/fichiers/{facts['attachment_id']}/original").status_code == 403


def test_views_and_changes_of_a_report_are_audited(app: Flask) -> None:
    facts = report_facts(app)
    client = signed_in(app, "agent", "voirie")
    client.get("/")
    client.get(f"/signalements/{facts['number']}")
    token = csrf_token(client, "/saisie")
    client.post(
        f"/signalements/{facts['number']}/statut",
        data={"statut": "en_cours", "note": "équipe partie", "csrf_token": token},
    )
    with app.extensions["guichet"].factory() as s:
        rows = s.execute(select(AuditLog).order_by(AuditLog.id)).scalars().all()
    assert [(r.action, r.method) for r in rows] == [("report.page", "GET"), ("report.change_status", "POST")]
    assert all(r.username.startswith("agent-") and r.report_id is not None for r in rows)
    assert rows[1].detail == {"statut": "en_cours", "note": "équipe partie"} and rows[1].status == 303


def test_security_headers_on_every_kind_of_page(app: Flask) -> None:
    client = app.test_client()
    for path in ("/connexion", "/", "/inexistant", "/static/guichet.css"):
        with client.get(path) as answer:
            headers = answer.headers
        assert "script-src 'self'" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff", path


def run_cli(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_guichet(["--config", str(config), *args], input=stdin)


def test_create_user_command(make_config: Callable[..., Config], tmp_path: Path) -> None:
    config = write_config(make_config(), tmp_path / "config.yaml")
    ok = run_cli(
        config,
        "create-user",
        "m.dupont",
        "--role",
        "agent",
        "--service",
        "voirie",
        "--name",
        "Marie Dupont",
        "--password-stdin",
        stdin="correct horse battery staple\n",
    )
    assert ok.returncode == 0 and "compte créé : m.dupont (agent — voirie)" in ok.stdout, ok.stderr
    for args, stdin, message in [
        (("m.dupont", "--role", "admin"), "un autre mot de passe long\n", "existe déjà"),
        (("x.y", "--role", "agent"), "un autre mot de passe long\n", "service connu"),
        (("x.y", "--role", "admin"), "court\n", "trop court"),
        (("Pas Valide!", "--role", "admin"), "un autre mot de passe long\n", "identifiant invalide"),
        (("x.y", "--role", "accueil"), "", "aucun mot de passe"),
    ]:
        bad = run_cli(config, "create-user", *args, "--password-stdin", stdin=stdin)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    unknown_role = run_cli(config, "create-user", "x.y", "--role", "maire", "--password-stdin")
    assert unknown_role.returncode == 2 and "Traceback" not in unknown_role.stderr
    listed = run_cli(config, "list-users")
    assert listed.returncode == 0 and "m.dupont\tagent\tvoirie\tactif\tMarie Dupont" in listed.stdout
