"""Password strength (S9): twelve spaces or twelve identical characters are not a password; told in French."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.backoffice.accounts import AccountError, check_password_strength
from intake.config import Config
from intake.models import User
from tests.conftest import write_config
from tests.support.web import PASSWORD, add_user, csrf_token, sign_in
from tests.web.test_access import run_cli
from web import create_app

WEAK = {
    " " * 12: "espaces",
    "a" * 12: "répétitif",
    "aaaaaaaaaaab": "répétitif",
    "abcabcabcabc": "répétitif",
    "123456789012": "prévisible",
    "azertyuiopqs": "prévisible",
    "zyxwvutsrqpo": "prévisible",
    "Motdepasse2026!": "trop courant",
    "P@ssword!!!!": "trop courant",
    "azerty123456": "trop courant",
    "Soleil123456!": "trop courant",
    "court": "trop court",
}
STRONG = [
    "correct horse battery staple",
    "Bouleau-Ciel-7-Riviere",
    "un mot de passe de test assez long",
    "Tr0ub4dor&3xyz",
]


@pytest.mark.parametrize(("password", "reason"), sorted(WEAK.items()))
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    with pytest.raises(AccountError, match=reason):
        check_password_strength(password, "m.dupont")


@pytest.mark.parametrize("password", STRONG)
def test_strong_passwords_are_accepted(password: str) -> None:
    check_password_strength(password, "m.dupont")


def test_the_username_is_not_a_password() -> None:
    with pytest.raises(AccountError, match="identifiant"):
        check_password_strength("M.Dupont-1987-Paris", "m.dupont")


def test_create_user_and_set_password_refuse_weak_passwords(make_config: Callable[..., Config], tmp_path: Path) -> None:
    config = write_config(make_config(), tmp_path / "config.yaml")
    for weak, reason in ((" " * 12, "espaces"), ("x" * 12, "répétitif"), ("Motdepasse2026!", "trop courant")):
        bad = run_cli(config, "create-user", "m.dupont", "--role", "admin", "--password-stdin", stdin=weak + "\n")
        assert bad.returncode == 2 and reason in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    ok = run_cli(
        config, "create-user", "m.dupont", "--role", "admin", "--password-stdin", stdin="correct horse battery staple\n"
    )
    assert ok.returncode == 0, ok.stderr
    bad = run_cli(config, "set-password", "m.dupont", "--password-stdin", stdin="1" * 12 + "\n")
    assert bad.returncode == 2 and "répétitif" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


def _change(client: FlaskClient, current: str, new: str, again: str | None = None) -> tuple[int, str]:
    token = csrf_token(client, "/mot-de-passe")
    answer = client.post(
        "/mot-de-passe",
        data={"actuel": current, "nouveau": new, "confirmation": new if again is None else again, "csrf_token": token},
    )
    return answer.status_code, html.unescape(answer.get_data(as_text=True))


def test_the_back_office_refuses_weak_passwords_in_french(make_config: Callable[..., Config]) -> None:
    app = create_app(make_config())
    name = add_user(app, "agent")
    client = app.test_client()
    sign_in(client, name)
    other = app.test_client()
    sign_in(other, name)  # another browser of the same account
    for weak, reason in (
        (" " * 12, "Le mot de passe ne peut pas être fait d'espaces"),
        ("z" * 12, "Mot de passe trop répétitif"),
        ("Azerty123456!", "Mot de passe trop courant"),
    ):
        status, page = _change(client, PASSWORD, weak)
        assert status == 422 and reason in page, page[:2000]
    assert _change(client, "pas le bon", "correct horse battery staple")[1].count("Mot de passe actuel incorrect") == 1
    assert _change(client, PASSWORD, "correct horse battery staple", "autre chose")[0] == 422
    with app.extensions["guichet"].factory() as s:
        unchanged = s.execute(select(User.password_hash).where(User.username == name)).scalar_one()
    assert check_password(unchanged, PASSWORD)
    token = csrf_token(client, "/mot-de-passe")
    done = client.post(
        "/mot-de-passe",
        data={
            "actuel": PASSWORD,
            "nouveau": "correct horse battery staple",
            "confirmation": "correct horse battery staple",
            "csrf_token": token,
        },
    )
    assert done.status_code == 303
    assert client.get("/").status_code == 200  # this browser goes on with a new session
    assert other.get("/").status_code == 302  # the other session ended
    fresh = app.test_client()
    sign_in(fresh, name, "correct horse battery staple")


def check_password(hashed: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import VerificationError

    try:
        return bool(PasswordHasher().verify(hashed, password))
    except VerificationError:
        return False
