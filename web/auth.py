"""Sign-in for the back office: Flask-Login sessions that expire, argon2 passwords, French pages."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user

from intake.backoffice.accounts import ROLES, authenticate, session_key
from intake.backoffice.sessions import open_session, revoke, session_user
from intake.models import User

bp = Blueprint("auth", __name__)


@dataclass(frozen=True)
class Agent:
    """The signed-in user as the views see it (a plain value, not a database row)."""

    id: int
    username: str
    display_name: str
    role: str
    service: str | None
    key: str

    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        """What Flask-Login keeps in the session."""
        return self.key

    @property
    def role_label(self) -> str:
        """The role in French."""
        return ROLES.get(self.role, self.role)

    @property
    def is_admin(self) -> bool:
        """Administrators see and do everything."""
        return self.role == "admin"


def _agent(user: User, token: str) -> Agent:
    return Agent(
        user.id,
        user.username,
        user.display_name or user.username,
        user.role,
        user.service,
        f"{session_key(user)}:{token}",
    )


def _load(key: str) -> Agent | None:
    """The user of a session key (id, a piece of the hash, the session's token); None when the session was
    revoked or is over, the account is gone or disabled, or its password changed."""
    user_id, _, rest = key.partition(":")
    piece, _, token = rest.partition(":")
    if not user_id.isdigit() or not piece or not token:
        return None
    with current_app.extensions["guichet"].factory() as db:
        user = session_user(db, int(user_id), token)
        if user is None or session_key(user) != f"{user_id}:{piece}":
            return None
        return _agent(user, token)


def _safe_next(target: str | None) -> str:
    """Only paths of this site: never an absolute URL (open redirect)."""
    if not target:
        return url_for("queue.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("queue.index")
    return target


def idle_expired() -> bool:
    """True (and the user signed out) when the session saw no request for longer than the idle limit."""
    cfg = current_app.config["GUICHET"]
    now = int(time.time())
    seen = session.get("seen")
    if isinstance(seen, int) and now - seen > cfg.web.idle_minutes * 60:
        logout_user()
        session.clear()
        return True
    session["seen"] = now
    return False


@bp.route("/connexion", methods=["GET", "POST"])
def login() -> Any:
    """The sign-in page; a failure says so without telling which of the two was wrong."""
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("suivant")))
    error = None
    status = 200
    if request.method == "POST":
        username = (request.form.get("identifiant") or "")[:80]
        password = (request.form.get("mot_de_passe") or "")[:1024]
        cfg = current_app.config["GUICHET"]
        with current_app.extensions["guichet"].factory() as db, db.begin():
            outcome = authenticate(db, username, password, client=request.remote_addr or "")
            agent = None
            if outcome.user is not None:
                token = open_session(db, outcome.user, hours=cfg.web.session_hours, ip=request.remote_addr)
                agent = _agent(outcome.user, token)
        if agent is not None:
            session.clear()  # a new session on sign-in (no fixation)
            session.permanent = True
            login_user(agent)
            session["seen"] = int(time.time())
            target = _safe_next(request.form.get("suivant"))
            if agent.role == "technicien" and target == url_for("queue.index"):
                target = url_for("field.index")  # a technician's start page: the work orders of their service
            return redirect(target), 303
        error, status = outcome.error, 401
    return render_template("login.html", error=error, suivant=request.values.get("suivant", "")), status


@bp.post("/deconnexion")
def logout() -> Any:
    """Sign out: the session is revoked on the server (a copy of the cookie stops working), then forgotten."""
    agent = current_agent()
    if agent is not None:
        with current_app.extensions["guichet"].factory() as db, db.begin():
            revoke(db, agent.key.rsplit(":", 1)[-1])
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login")), 303


@bp.route("/mot-de-passe", methods=["GET", "POST"])
def change_password() -> Any:
    """The signed-in user changes their password: the current one, then a strong new one typed twice.

    Every session of the account ends (a stolen cookie included) and this browser gets a new one.
    """
    from intake.backoffice.accounts import AccountError, change_own_password, count_password_change

    agent = current_agent()
    if agent is None:  # enforce() lets no one here unsigned; kept for type checkers
        return redirect(url_for("auth.login")), 303
    error = None
    if request.method == "POST":
        current, new = (request.form.get("actuel") or "")[:1024], (request.form.get("nouveau") or "")[:1024]
        if new != (request.form.get("confirmation") or "")[:1024]:
            error = "les deux nouveaux mots de passe diffèrent"
        else:
            cfg = current_app.config["GUICHET"]
            factory = current_app.extensions["guichet"].factory
            try:
                with factory() as db, db.begin():
                    count_password_change(db, agent.id)
                with factory() as db, db.begin():
                    user = change_own_password(db, agent.id, current, new)
                    fresh = _agent(user, open_session(db, user, hours=cfg.web.session_hours, ip=request.remote_addr))
            except AccountError as exc:
                error = str(exc)
            else:
                session.clear()
                session.permanent = True
                login_user(fresh)
                session["seen"] = int(time.time())
                flash("Mot de passe changé : vos autres sessions sont fermées.", "info")
                return redirect(url_for("queue.index")), 303
    return render_template("password.html", error=error), 422 if error else 200


def init_app(app: Flask) -> None:
    """Sessions (lifetime, cookie flags) and the user loader (once per app)."""
    if "auth" in app.blueprints:
        return
    cfg = app.config["GUICHET"]
    app.config.update(
        PERMANENT_SESSION_LIFETIME=timedelta(hours=cfg.web.session_hours),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cfg.town.public_url.startswith("https://"),
        SESSION_COOKIE_NAME="guichet_session",
        REMEMBER_COOKIE_DURATION=timedelta(seconds=0),
    )
    manager = LoginManager()
    manager.session_protection = "basic"
    manager.user_loader(_load)
    manager.init_app(app)
    app.register_blueprint(bp)
    app.jinja_env.globals.update(role_labels=ROLES)


def current_agent() -> Agent | None:
    """The signed-in user, or None."""
    user = current_user
    return user if isinstance(user, Agent) else None
