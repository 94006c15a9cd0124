"""`guichet backup` and `guichet restore`: database and stored files as one archive, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from intake.config import Config
from intake.runtime.instance_lock import acquire
from tests.conftest import ROOT, write_config
from tests.support.cli import run_guichet

PHOTO = b"\xff\xd8\xff\xe0 a stored photo"


def _cli(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    return run_guichet(["--config", str(config), *args], input=stdin, env=env, timeout=300, cwd=config.parent)


@pytest.fixture
def setup(make_config: Callable[..., Config], tmp_path: Path) -> tuple[Config, Path]:
    cfg = make_config()
    path = write_config(cfg, tmp_path / "config.yaml")
    created = _cli(
        path, "create-user", "marie", "--role", "accueil", "--password-stdin", stdin="Un mot de passe assez long 42\n"
    )
    assert created.returncode == 0, created.stderr
    photo = cfg.resolve_path(cfg.storage.root) / "ab" / "abcdef.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(PHOTO)
    return cfg, path


def test_backup_then_restore_brings_back_accounts_and_photos(setup: tuple[Config, Path], tmp_path: Path) -> None:
    cfg, path = setup
    archive = tmp_path / "sauvegarde.tar.gz"
    saved = _cli(path, "backup", "-o", str(archive))
    assert saved.returncode == 0, saved.stderr
    assert f"sauvegarde écrite : {archive}" in saved.stdout and "1 fichier(s) stocké(s)" in saved.stdout
    assert archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        names = tar.getnames()
    kind = "sqlite" if cfg.sqlalchemy_url.startswith("sqlite") else "postgresql"
    assert manifest["database"] == kind and manifest["revision"] and "storage/ab/abcdef.jpg" in names
    again = _cli(path, "backup", "-o", str(archive))
    assert again.returncode == 1 and "existe déjà" in again.stderr  # never overwritten

    # Lose the account and the photo, then restore.
    dropped = _cli(
        path, "create-user", "paul", "--role", "accueil", "--password-stdin", stdin="Un autre mot de passe long 43\n"
    )
    assert dropped.returncode == 0
    photo = cfg.resolve_path(cfg.storage.root) / "ab" / "abcdef.jpg"
    photo.unlink()
    refused = _cli(path, "restore", str(archive))
    assert refused.returncode == 1 and "--force" in refused.stderr and "Traceback" not in refused.stderr
    restored = _cli(path, "restore", "--force", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "lancez « guichet init »" in restored.stdout
    assert photo.read_bytes() == PHOTO
    listed = _cli(path, "list-users").stdout
    assert "marie\taccueil" in listed and "paul" not in listed  # the database as it was at the backup
    if kind == "sqlite":
        database = Path(cfg.sqlalchemy_url[len("sqlite:///") :])
        assert list(database.parent.glob(f"{database.name}.avant-restauration-*"))  # the replaced one is kept


def test_restore_refuses_while_guichet_runs_and_bad_archives(setup: tuple[Config, Path], tmp_path: Path) -> None:
    cfg, path = setup
    archive = tmp_path / "sauvegarde.tar.gz"
    assert _cli(path, "backup", "-o", str(archive)).returncode == 0
    lock = acquire(cfg.resolve_path("var"), url="http://127.0.0.1:8000/")
    try:
        running = _cli(path, "restore", "--force", str(archive))
    finally:
        lock.release()
    assert running.returncode == 1 and "Guichet tourne avec ce dossier" in running.stderr
    bogus = tmp_path / "pas-une-sauvegarde.tar.gz"
    with tarfile.open(bogus, "w:gz") as tar:
        tar.add(ROOT / "README.md", arcname="README.md")
    result = _cli(path, "restore", str(bogus))
    assert result.returncode == 1 and "n'est pas une sauvegarde de Guichet" in result.stderr
    missing = _cli(path, "restore", str(tmp_path / "absente.tar.gz"))
    assert missing.returncode == 1 and "fichier introuvable" in missing.stderr
