"""The configuration loader: the shipped file is valid; every mistake is named, never a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from intake.config import ConfigError, load_config, parse_config
from tests.conftest import ROOT, base_config_data
from tests.support.cli import run_guichet


def test_shipped_config_is_valid() -> None:
    cfg = load_config(ROOT / "config.yaml")
    assert cfg.town.insee_codes[0] == "75056" and "75120" in cfg.town.insee_codes
    assert {c.code for c in cfg.categories} >= {"voirie", "eclairage", "proprete", "autre"}
    assert cfg.mailboxes[0].password is not None


def _error(data: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value)


def test_missing_key_is_named() -> None:
    data = base_config_data()
    del data["smtp"]["from_address"]
    assert "smtp.from_address: missing key" in _error(data)


def test_wrong_type_is_named_with_expectation() -> None:
    data = base_config_data()
    data["mailboxes"][0]["port"] = "imap"
    message = _error(data)
    assert "mailboxes[0].port" in message and "integer" in message and "'imap'" in message


def test_bad_insee_code() -> None:
    data = base_config_data()
    data["town"]["insee_codes"] = ["7505"]
    assert "town.insee_codes[0]" in _error(data)


def test_phone_region() -> None:
    data = base_config_data()
    assert parse_config(data).town.phone_region == "FR"
    data["town"]["phone_region"] = "gf"
    assert parse_config(data).town.phone_region == "GF"
    data["town"]["phone_region"] = "Guyane"
    message = _error(data)
    assert "town.phone_region" in message and "région téléphonique inconnue 'Guyane'" in message


def test_plain_password_refused_with_hint() -> None:
    data = base_config_data()
    data["mailboxes"][0]["password"] = "secret"
    message = _error(data)
    assert "mailboxes[0].password" in message


def test_unknown_key_is_reported() -> None:
    data = base_config_data()
    data["town"]["nom"] = "x"
    assert "town.nom: unknown key" in _error(data)


def test_socket_timeout_must_stay_below_job_timeout() -> None:
    data = base_config_data()
    data["mailboxes"][0]["timeout"] = 200
    data["worker"]["job_timeout"] = 300
    assert "mailboxes[0].timeout: 200.0 s must be under half of worker.job_timeout" in _error(data)


def test_category_with_unknown_service() -> None:
    data = base_config_data()
    data["categories"][0]["service"] = "nulle-part"
    assert "unknown service 'nulle-part'" in _error(data)


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = parse_config(base_config_data(), base_dir=str(tmp_path))
    secret = cfg.mailboxes[0].password
    assert secret is not None
    monkeypatch.delenv("GUICHET_IMAP_MAIRIE_PASSWORD", raising=False)
    (tmp_path / "var/demo-mailbox").mkdir(parents=True)
    (tmp_path / "var/demo-mailbox/password").write_text("from-file\n")
    monkeypatch.chdir("/")  # relative to the config's folder, whatever the current directory
    assert secret.reveal() == "from-file"
    monkeypatch.setenv("GUICHET_IMAP_MAIRIE_PASSWORD", "from-env")
    assert secret.reveal() == "from-env"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUICHET_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("GUICHET_REDIS_URL", "redis://127.0.0.1:6379/3")
    cfg = parse_config(base_config_data())
    assert cfg.database_url == "postgresql+psycopg://u@h/db" and cfg.redis_url == "redis://127.0.0.1:6379/3"


def test_relative_sqlite_path_resolved_against_config_folder(tmp_path: Path) -> None:
    cfg = parse_config(base_config_data(), base_dir=str(tmp_path))
    assert cfg.sqlalchemy_url == f"sqlite:///{tmp_path / 'var' / 'guichet.db'}"


def _cli(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_guichet([*(["--config", str(config)] if config else []), *args])


@pytest.mark.parametrize(
    "content,expected",
    [
        ("town: [unclosed", "not valid YAML"),
        ("- a list", "expected a mapping"),
        ("town: {name: X}\n", "town.insee_codes: missing key"),
    ],
)
def test_cli_reports_bad_config_without_traceback(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(content)
    proc = _cli("init", config=path)
    assert proc.returncode == 2
    assert expected in proc.stderr and "Traceback" not in proc.stderr


def test_cli_missing_config_file(tmp_path: Path) -> None:
    proc = _cli("init", config=tmp_path / "absent.yaml")
    assert proc.returncode == 2 and "cannot read configuration file" in proc.stderr


def test_cli_usage_error_exit_2() -> None:
    proc = _cli("no-such-command")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["mailboxes"][0].update(tls=True, starttls=True),
            "mailboxes[0].starttls : incompatible avec tls: true",
        ),
        (
            lambda d: d["mailboxes"][0].update(folder="Traités"),
            "mailboxes[0].processed_folder : 'Traités' est aussi le dossier relevé (folder)",
        ),
        (lambda d: d["smtp"].update(tls=True, starttls=True), "smtp.starttls : incompatible avec tls: true"),
        (
            lambda d: d["services"].append(dict(d["services"][0], name="Voirie bis")),
            "services[7].code : 'voirie' est déjà utilisé par services[0]",
        ),
        (
            lambda d: d["categories"].append(dict(d["categories"][1])),
            "categories[11].code : 'eclairage' est déjà utilisé par categories[1]",
        ),
        (
            lambda d: d["open311"].update(
                api_keys=[{"name": "appli", "key": {"env": "A"}}, {"name": "appli", "key": {"env": "B"}}]
            ),
            "open311.api_keys[1].name : 'appli' est déjà utilisé par open311.api_keys[0]",
        ),
        (lambda d: d["dedupe"]["radius_m"].update(eclairrage=40), "dedupe.radius_m.eclairrage : catégorie inconnue"),
        (
            lambda d: d["worker"].update(job_timeout=900),
            "worker.stale_claim_seconds : 600 s doit dépasser worker.job_timeout (900 s)",
        ),
    ],
)
def test_contradictions_are_refused_at_start_naming_the_key(change: Any, expected: str) -> None:
    data = base_config_data()
    change(data)
    message = _error(data)
    assert expected in message and "Value error" not in message and "(root)" not in message


def test_flag_mode_may_keep_mail_in_the_folder_it_reads() -> None:
    data = base_config_data()
    data["mailboxes"][0].update(after_store="flag", folder="Traités")  # processed_folder is not used then
    assert parse_config(data).mailboxes[0].after_store == "flag"


def test_cli_names_a_contradiction_in_french(tmp_path: Path) -> None:
    data = base_config_data()
    data["mailboxes"][0].update(tls=True, starttls=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    proc = _cli("init", config=path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "mailboxes[0].starttls : incompatible avec tls: true" in proc.stderr
