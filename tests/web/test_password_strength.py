"""Password strength (S9): twelve spaces or twelve identical characters are not a password; told in French."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from intake.backoffice.accounts import AccountError, check_password_strength
from intake.config import Config
from tests.conftest import write_config
from tests.web.test_access import run_cli

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
STRONG = ["correct horse battery staple", "Bouleau-Ciel-7-Riviere", "un mot de passe de test assez long",
          "Tr0ub4dor&3xyz"]


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


def test_create_user_and_set_password_refuse_weak_passwords(make_config: Callable[..., Config],
                                                            tmp_path: Path) -> None:
    config = write_config(make_config(), tmp_path / "config.yaml")
    for weak, reason in ((" " * 12, "espaces"), ("x" * 12, "répétitif"), ("Motdepasse2026!", "trop courant")):
        bad = run_cli(config, "create-user", "m.dupont", "--role", "admin", "--password-stdin", stdin=weak + "\n")
        assert bad.returncode == 2 and reason in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    ok = run_cli(config, "create-user", "m.dupont", "--role", "admin", "--password-stdin",
                 stdin="correct horse battery staple\n")
    assert ok.returncode == 0, ok.stderr
    bad = run_cli(config, "set-password", "m.dupont", "--password-stdin", stdin="1" * 12 + "\n")
    assert bad.returncode == 2 and "répétitif" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
