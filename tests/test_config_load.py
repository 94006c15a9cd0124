"""Mistakes caught when the configuration loads, in French: templates, database URLs, paths of a copied config."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from intake.config import ConfigError, load_config, parse_config
from tests.conftest import ROOT, base_config_data
from tests.support.cli import run_guichet


def _error(data: Any, *, base_dir: str = ".") -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, base_dir=base_dir)
    return str(info.value)


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _cli(*args: str, config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    full.update(env or {})
    return run_guichet(["--config", str(config), *args], env=full, cwd=config.parent)


def test_broken_confirmation_template_names_key_template_line_and_file_line(tmp_path: Path) -> None:
    data = base_config_data()
    data["templates"]["confirmation_body"] = "Bonjour,\n\nVotre signalement n° {{ tracking_number }\n"
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "confirmation_body:" in text)
    assert "templates.confirmation_body, ligne 3 du modèle : syntaxe invalide" in message
    assert f"(config.yaml, ligne {line})" in message


@pytest.mark.parametrize(
    "key, source, expected",
    [
        (
            "referent_body",
            "Bonjour,\n{{ traking_number }}",
            "templates.referent_body, ligne 2 du modèle : variable inconnue ('traking_number' is undefined)",
        ),
        (
            "sms_stopped",
            "STOP reçu pour {{ tracking_number }}",
            "templates.sms_stopped, ligne 1 du modèle : variable inconnue",
        ),
        (
            "digest_body",
            "{% for r in reports %}{{ r.tracking_number + 1 }}{% endfor %}",
            "templates.digest_body, ligne 1 du modèle : le modèle échoue au rendu (TypeError",
        ),
        (
            "confirmation_subject",
            "{{ subject | inconnu }}",
            "templates.confirmation_subject, ligne 1 du modèle : syntaxe invalide (No filter named 'inconnu'.)",
        ),
    ],
)
def test_templates_are_rendered_once_at_load(key: str, source: str, expected: str) -> None:
    data = base_config_data()
    data["templates"][key] = source
    assert expected in _error(data)


def test_ask_location_and_status_templates_are_checked_too() -> None:
    data = base_config_data()
    data["templates"]["ask_location"] = {"subject": "Où ?", "body": "{{ location_url }}\n{% endif %}", "sms": "Où ?"}
    assert "templates.ask_location.body, ligne 2 du modèle : syntaxe invalide" in _error(data)
    data = base_config_data()
    data["templates"]["status"]["resolu"]["subject"] = "{{ statut }}"
    message = _error(data)
    assert "templates.status.resolu.subject, ligne 1 du modèle : variable inconnue" in message
    assert (
        "variables disponibles : category, note, reason, service, status, status_url, town, tracking_number" in message
    )


@pytest.mark.parametrize(
    "url, expected",
    [
        (
            "postgres://guichet@db/guichet",
            "database_url : « postgres:// » n'est pas un nom que SQLAlchemy connaît : écrire postgresql+psycopg://",
        ),
        ("mysql://guichet@db/guichet", "database_url : MySQL n'est pas pris en charge"),
        ("mysql+pymysql://guichet@db/guichet", "database_url : MySQL n'est pas pris en charge"),
        ("oracle://guichet@db/guichet", "database_url : base 'oracle' non prise en charge"),
        ("postgresql+psycopg2://guichet@db/guichet", "database_url : pilote 'psycopg2' non installé"),
        ("postgresql+psycopg:///guichet", "database_url : hôte manquant"),
        ("postgresql+psycopg://guichet@db", "database_url : nom de base manquant"),
        ("::garbled::", "database_url : adresse illisible '::garbled::'"),
        ("guichet.db", "database_url : adresse illisible 'guichet.db'"),
        ("sqlite:////nonexistent/dir/guichet.db", "database_url : le dossier /nonexistent/dir n'existe pas"),
    ],
)
def test_database_urls_are_checked(url: str, expected: str) -> None:
    data = base_config_data()
    data["database_url"] = url
    assert expected in _error(data)


def test_a_password_in_a_bad_url_is_never_shown() -> None:
    data = base_config_data()
    data["database_url"] = "postgresql+asyncpg://guichet:motdepasse@db/guichet"
    message = _error(data)
    assert "pilote 'asyncpg'" in message and "motdepasse" not in message


def test_sqlite_folder_may_be_missing_only_under_var(tmp_path: Path) -> None:
    data = base_config_data()
    data["database_url"] = "sqlite:///var/sub/guichet.db"  # var/ is created at start: allowed
    assert parse_config(data, base_dir=str(tmp_path)).sqlalchemy_url == f"sqlite:///{tmp_path}/var/sub/guichet.db"
    data["database_url"] = "sqlite:///donnees/guichet.db"
    message = _error(data, base_dir=str(tmp_path))
    assert f"database_url : le dossier {tmp_path}/donnees n'existe pas" in message
    data["database_url"] = f"sqlite:///{tmp_path}"
    assert f"database_url : {tmp_path} est un dossier" in _error(data)


def test_bare_postgresql_scheme_uses_psycopg() -> None:
    data = base_config_data()
    data["database_url"] = "postgresql://guichet@db/guichet"
    assert parse_config(data).sqlalchemy_url == "postgresql+psycopg://guichet@db/guichet"


@pytest.mark.parametrize("url", ["postgres://u:p@h/db", "mysql://u@h/db", "::garbled::"])
def test_cli_bad_database_url_from_environment_is_french_without_traceback(tmp_path: Path, url: str) -> None:
    path = _write(tmp_path, base_config_data())
    result = _cli("list-users", config=path, env={"GUICHET_DATABASE_URL": url})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "guichet : configuration invalide :\n  database_url : " in result.stderr
    assert "(valeur de GUICHET_DATABASE_URL)" in result.stderr


def test_cli_never_creates_a_database_folder_outside_var(tmp_path: Path) -> None:
    path = _write(tmp_path, base_config_data())
    target = tmp_path / "ailleurs" / "guichet.db"
    result = _cli("init", config=path, env={"GUICHET_DATABASE_URL": f"sqlite:///{target}"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"le dossier {target.parent} n'existe pas" in result.stderr
    assert not target.parent.exists()


def test_copied_config_warns_about_relative_paths_that_point_to_nothing(tmp_path: Path) -> None:
    data = base_config_data()
    assert data["addresses"]["reference"] and data["routing"]["zones_file"]
    path = _write(tmp_path, data)  # the shipped file copied elsewhere: its data/ paths are not there
    cfg = load_config(path)
    warnings = cfg.path_warnings()
    reference = tmp_path / data["addresses"]["reference"][0]
    assert (
        f"addresses.reference[0] : {reference} n'existe pas (chemin relatif au dossier de la configuration, "
        f"{tmp_path})" in warnings
    )
    assert any(w.startswith(f"routing.zones_file : {tmp_path / data['routing']['zones_file']}") for w in warnings)
    assert any(w.startswith(f"database_url : pas de base dans {tmp_path}/var/guichet.db") for w in warnings)
    result = _cli("list-users", config=path)
    assert f"guichet : attention — addresses.reference[0] : {reference} n'existe pas" in result.stderr
    shipped = load_config(ROOT / "config.yaml").path_warnings()
    assert [w for w in shipped if not w.startswith("database_url")] == []


def test_storage_folders_are_never_created_from_nothing(tmp_path: Path) -> None:
    data = base_config_data()
    data["storage"] = {**data["storage"], "root": "/nonexistent/dir/photos"}
    assert "storage.root : le dossier /nonexistent/dir n'existe pas" in _error(data, base_dir=str(tmp_path))
    data["storage"] = {**data["storage"], "root": "var/a/b/photos", "spool": "attente/spool"}
    assert f"storage.spool : le dossier {tmp_path}/attente n'existe pas" in _error(data, base_dir=str(tmp_path))
    data["storage"] = {**data["storage"], "spool": "spool"}  # var/a/b/… is created at start; spool/ in the folder
    cfg = parse_config(data, base_dir=str(tmp_path))
    assert cfg.resolve_path(cfg.storage.root) == tmp_path / "var" / "a" / "b" / "photos"
