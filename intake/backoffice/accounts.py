"""Back-office accounts: creation, argon2 password hashes, sign-in checks throttled per client address."""

from __future__ import annotations

import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from intake.backoffice import ratelimit
from intake.backoffice.passwords import MIN_LENGTH, weakness
from intake.config import Config
from intake.models import User, utcnow

ROLES = {"accueil": "Accueil", "agent": "Agent de service", "admin": "Administrateur", "technicien": "Technicien"}
SERVICE_ROLES = frozenset({"agent", "technicien"})  # accounts that belong to one service and see only its reports
MIN_PASSWORD = MIN_LENGTH
MAX_ATTEMPTS = 10  # failed sign-ins from one address within THROTTLE_WINDOW (successes are not counted)
THROTTLE_WINDOW = timedelta(minutes=15)
GENERIC = "identifiant ou mot de passe incorrect"
THROTTLED = "trop de tentatives de connexion depuis votre adresse : réessayez dans un quart d'heure"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
_HASHER = PasswordHasher()


_DUMMY: list[str] = []  # the dummy hash once computed
_DUMMY_LOCK = threading.Lock()


def dummy_hash() -> str:
    """A hash of no one's password, computed on first use, once per process, and kept: verifying an unknown
    username against it takes as long as a wrong password. Lazy, so that importing this module costs nothing
    (every CLI command and test worker imports it, and one argon2 hash takes tens of milliseconds)."""
    if not _DUMMY:
        with _DUMMY_LOCK:
            if not _DUMMY:
                _DUMMY.append(_HASHER.hash("mot de passe factice pour egaliser les temps"))
    return _DUMMY[0]


class AccountError(ValueError):
    """A French message saying what is wrong with an account request."""


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: the user, or why not (a French message)."""

    user: User | None
    error: str | None = None


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _HASHER.hash(password)


def check_password_strength(password: str, username: str) -> None:
    """Refuse weak passwords (intake/backoffice/passwords.py) with the French reason."""
    problem = weakness(password, username)
    if problem:
        raise AccountError(problem)


def create_user(
    session: Session,
    config: Config,
    *,
    username: str,
    password: str,
    role: str,
    service: str | None = None,
    display_name: str = "",
    email: str | None = None,
) -> User:
    """Add an account after checking the username, role, service and password."""
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise AccountError("identifiant invalide : 2 à 80 caractères parmi a-z, 0-9, « . », « _ » et « - »")
    if role not in ROLES:
        raise AccountError(f"rôle inconnu {role!r} (rôles : {', '.join(ROLES)})")
    if role in SERVICE_ROLES and config.service(service) is None:
        known = ", ".join(s.code for s in config.services)
        raise AccountError(f"un {ROLES[role].lower()} appartient à un service connu (services : {known})")
    if role not in SERVICE_ROLES and service:
        raise AccountError("seuls les agents et les techniciens sont rattachés à un service")
    check_password_strength(password, username)
    if session.execute(select(func.count()).select_from(User).where(User.username == username)).scalar_one():
        raise AccountError(f"l'identifiant {username} existe déjà")
    user = User(
        username=username,
        display_name=display_name.strip()[:200] or username,
        email=email,
        password_hash=hash_password(password),
        role=role,
        service=service if role in SERVICE_ROLES else None,
    )
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    """Replace the password; every open session of the account ends."""
    from sqlalchemy.orm import object_session

    from intake.backoffice.sessions import revoke_all

    check_password_strength(password, user.username)
    user.password_hash = hash_password(password)
    owner = object_session(user)
    if owner is not None and user.id is not None:
        revoke_all(owner, user.id)
    user.failed_logins, user.locked_until = 0, None


def count_password_change(session: Session, user_id: int) -> None:
    """Count an attempt to change `user_id`'s password (commit it apart: a refused attempt still counts), so
    that a stolen session cannot guess the current password for long; AccountError past MAX_ATTEMPTS."""
    if ratelimit.hit(session, f"mot-de-passe:{user_id}", window=THROTTLE_WINDOW) > MAX_ATTEMPTS:
        raise AccountError("trop de tentatives : réessayez dans un quart d'heure")


def change_own_password(session: Session, user_id: int, current: str, new: str) -> User:
    """A user replaces their own password: the current one checked first, then the new one's strength;
    AccountError says what is wrong."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise AccountError("compte introuvable ou désactivé")
    try:
        _HASHER.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise AccountError("mot de passe actuel incorrect") from None
    set_password(user, new)
    return user


def session_key(user: User) -> str:
    """What the session cookie holds: the id and a piece of the hash, so a new password ends old sessions."""
    return f"{user.id}:{user.password_hash[-16:]}"


def authenticate(session: Session, username: str, password: str, *, client: str = "") -> SignIn:
    """Check a sign-in from `client` (its address); too many attempts from one address are refused a while.

    Unknown and existing usernames get the same answer after the same work (one argon2 verification), and
    no account is ever locked: an address that keeps guessing is throttled, not the account for everyone.
    The attempt is counted before the password is checked, by one atomic statement, so that parallel
    guesses are all counted (and at most MAX_ATTEMPTS of them are ever checked per window).
    """
    key = f"connexion:{client[:45]}"
    if ratelimit.hit(session, key, window=THROTTLE_WINDOW) > MAX_ATTEMPTS:
        return SignIn(None, THROTTLED)  # the same for every username, so it tells nothing about them
    user = session.execute(select(User).where(User.username == username.strip().lower()[:80])).scalar_one_or_none()
    try:
        _HASHER.verify(user.password_hash if user is not None else dummy_hash(), password)
        verified = user is not None
    except (VerificationError, InvalidHashError):
        verified = False
    if not verified or user is None:
        if user is not None:
            session.execute(update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1))
        return SignIn(None, GENERIC)
    if not user.active:
        return SignIn(None, "compte désactivé : adressez-vous à l'administrateur")
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    ratelimit.release(session, key)  # not a reset: one's own account must not clear the guesses made before
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, utcnow()
    return SignIn(user)


def bootstrap_admin(session: Session, config: Config, password_file: Path) -> str | None:
    """On a database without any account, create "admin" with a random password written to `password_file`
    (readable by its owner only) and return the username; None when accounts already exist."""
    if session.execute(select(func.count()).select_from(User)).scalar_one():
        return None
    password = secrets.token_urlsafe(18)
    create_user(session, config, username="admin", password=password, role="admin", display_name="Administrateur")
    password_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return "admin"
