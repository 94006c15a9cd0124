"""The command line fails well: a French message, a non-zero exit status, never a traceback; --help has examples."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, base_config_data
from tests.support.cli import run_guichet

EMAIL = ROOT / "tests" / "data" / "emails" / "guichet" / "fwd_outlook_fr.eml"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The shipped configuration on an SQLite database of its own (under the test's var/)."""
    data = base_config_data()
    data["database_url"] = "sqlite:///var/guichet.db"
    data["addresses"]["reference"] = []
    data["routing"] = {**data["routing"], "zones_file": None, "rules": []}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}


def _cli(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_guichet(["--config", str(config), *args], input=stdin, env=_env(), cwd=config.parent)


def test_parse_email_on_a_missing_file_exits_non_zero(tmp_path: Path) -> None:
    missing = tmp_path / "absent.eml"
    result = subprocess.run(
        [sys.executable, "-m", "intake.cli", "parse-email", str(EMAIL), str(missing)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert result.returncode == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["ok"] for r in rows] == [True, False]
    assert result.stderr.strip() == f"guichet : parse-email : fichier illisible ou introuvable : {missing}"
    good = subprocess.run(
        [sys.executable, "-m", "intake.cli", "parse-email", str(EMAIL)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert good.returncode == 0 and good.stderr == ""


def test_demo_send_on_a_missing_file_names_the_file(config_file: Path) -> None:
    missing = config_file.parent / "nulle-part.eml"
    result = _cli(config_file, "demo-send", str(EMAIL), str(missing))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"demo-send : fichier introuvable : {missing} (aucun message déposé)" in result.stderr
    assert "boîte de démo" not in result.stderr


def test_list_users_on_an_empty_database_says_so(config_file: Path) -> None:
    result = _cli(config_file, "list-users")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("aucun compte : créez-en un avec « guichet create-user NOM --role admin »")
    created = _cli(
        config_file,
        "create-user",
        "marie",
        "--role",
        "accueil",
        "--password-stdin",
        stdin="Un mot de passe assez long 42\n",
    )
    assert created.returncode == 0, created.stderr
    listed = _cli(config_file, "list-users")
    assert listed.stdout.startswith("marie\taccueil\t-\tactif") and "aucun compte" not in listed.stdout


def _read_until(fd: int, needle: bytes, *, timeout: float = 60) -> bytes:
    """Read a pty until `needle` appears (or the child closes it)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed its terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_create_user_with_ctrl_d_at_the_password_prompt(config_file: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty, as in an SSH session
        os.chdir(config_file.parent)
        os.execve(
            sys.executable,
            [
                sys.executable,
                "-m",
                "intake.cli",
                "--config",
                str(config_file),
                "create-user",
                "marie",
                "--role",
                "admin",
            ],
            _env(),
        )
    try:
        assert b"Mot de passe : " in _read_until(fd, b"Mot de passe : ")
        os.write(fd, b"\x04")  # Ctrl-D
        rest = _read_until(fd, b"\x00never")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    text = rest.decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 2, text
    assert "saisie du mot de passe interrompue (Ctrl-D) : rien n'a été changé" in text
    assert "Traceback" not in text and "EOFError" not in text
    assert "aucun compte" in _cli(config_file, "list-users").stdout


def test_serve_on_a_busy_port_says_so_in_french(config_file: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _cli(config_file, "serve", "--port", str(port))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"guichet : le port {port} est déjà utilisé sur 127.0.0.1" in result.stderr
    assert "Connection in use" not in result.stderr  # gunicorn was never started


def test_serve_on_an_address_of_another_machine(config_file: Path) -> None:
    result = _cli(config_file, "serve", "--host", "192.0.2.1", "--port", "8000")
    assert result.returncode == 2
    assert "guichet : l'adresse 192.0.2.1 n'appartient pas à cette machine (--host)" in result.stderr


@pytest.mark.parametrize(
    "args, example",
    [
        ((), "guichet create-user marie --role agent --service voirie"),
        (("create-user",), "--password-stdin"),
        (("parse-email",), "code de sortie 1 si un fichier est introuvable ou illisible"),
        (("serve",), "guichet serve --port 8080 --workers 4"),
        (("demo-send",), "guichet demo-send tests/data/emails/guichet/fwd_outlook_fr.eml"),
        (("train",), "guichet train --dry-run"),
    ],
)
def test_help_has_examples(args: tuple[str, ...], example: str) -> None:
    result = run_guichet([*args, "--help"], env=_env())
    assert result.returncode == 0
    assert "exemples :" in result.stdout and example in result.stdout
