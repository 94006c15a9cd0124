"""`guichet backup` / `guichet restore`: the database and the stored files (photos, spool) as one archive.

The database is copied first (SQLite's online backup API, or pg_dump), the files after: photos are written,
content-addressed and never changed, before the row that names them is committed, so every file the copied
database names is already on disk when the files are copied. Files that arrive in between are only extra.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from intake.cli.common import examples, load
from intake.config import Config

FORMAT = 1
MANIFEST = "manifest.json"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message (French) says why and what to do."""


def _sqlite_path(cfg: Config) -> Path | None:
    url = cfg.sqlalchemy_url
    return Path(url[len("sqlite:///") :]) if url.startswith("sqlite:///") and url != "sqlite:///:memory:" else None


def _libpq(cfg: Config) -> tuple[str, dict[str, str]]:
    """The libpq URL of the PostgreSQL database (password passed through PGPASSWORD, never on a command line)."""
    from sqlalchemy.engine import make_url

    url = make_url(cfg.sqlalchemy_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(
            f"{name} est introuvable : installez le client PostgreSQL (apt-get install "
            "postgresql-client), de la même version majeure que le serveur ou plus récente"
        )
    return found


def _run(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} a échoué : {result.stderr.strip()[-800:]}")


def _revision(cfg: Config) -> str | None:
    from sqlalchemy import text

    from intake.runtime.db import make_engine

    engine = make_engine(cfg.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # no table yet: a database never initialised
        return None
    finally:
        engine.dispose()


def _folders(cfg: Config) -> dict[str, Path]:
    return {"storage": cfg.resolve_path(cfg.storage.root), "spool": cfg.resolve_path(cfg.storage.spool)}


def backup(cfg: Config, output: Path) -> dict[str, Any]:
    """Write the archive `output` (tar.gz): manifest, database copy, stored files; return the manifest."""
    if output.exists():
        raise BackupError(f"{output} existe déjà : choisissez un autre nom (rien n'est écrasé)")
    if not output.parent.is_dir():
        raise BackupError(f"le dossier {output.parent} n'existe pas")
    database = _sqlite_path(cfg)
    if database is not None and not database.is_file():
        raise BackupError(f"pas de base de données à sauvegarder : {database} n'existe pas (database_url)")
    revision = _revision(cfg)
    with tempfile.TemporaryDirectory(prefix=".guichet-sauvegarde-", dir=output.parent) as tmp:
        if database is not None:
            dump, kind = Path(tmp) / "guichet.db", "sqlite"
            source, copy = sqlite3.connect(database), sqlite3.connect(dump)
            try:
                with copy:
                    source.backup(copy)  # a consistent snapshot while workers keep writing
            finally:
                source.close()
                copy.close()
        else:
            dump, kind = Path(tmp) / "guichet.pgdump", "postgresql"
            url, env = _libpq(cfg)
            _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file", str(dump), url], env)
        counts = {
            name: sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
            for name, folder in _folders(cfg).items()
        }
        manifest = {
            "format": FORMAT,
            "database": kind,
            "file": dump.name,
            "revision": revision,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": counts,
            "town": cfg.town.name,
        }
        partial = output.with_name(output.name + ".partiel")
        with tarfile.open(partial, "w:gz") as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
            tar.add(dump, arcname=dump.name)
            for name, folder in _folders(cfg).items():
                if folder.is_dir():
                    tar.add(folder, arcname=name)
        partial.chmod(0o600)  # citizens' messages and photos
        partial.replace(output)
    return manifest


def _instance_running(cfg: Config) -> str | None:
    """The running `guichet up` of this folder, if any (its lock is held)."""
    import fcntl

    from intake.runtime.instance_lock import LOCK_NAME, describe_holder

    path = cfg.resolve_path("var") / LOCK_NAME
    if not path.exists():
        return None
    with open(path) as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return describe_holder(path)
    return None


def _read_manifest(tar: tarfile.TarFile, archive: Path) -> dict[str, Any]:
    try:
        member = tar.extractfile(MANIFEST)
        manifest = json.loads(member.read()) if member is not None else None
    except (KeyError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive} n'est pas une sauvegarde de Guichet (pas de {MANIFEST} lisible)")
    return manifest


def restore(cfg: Config, archive: Path, *, force: bool) -> dict[str, Any]:
    """Put the archive's database and files in place of the configured ones; return its manifest."""
    if not archive.is_file():
        raise BackupError(f"fichier introuvable : {archive}")
    running = _instance_running(cfg)
    if running:
        raise BackupError(
            f"Guichet tourne avec ce dossier ({running}) : arrêtez-le (web et workers) avant de restaurer"
        )
    try:
        tar = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive} n'est pas une archive lisible ({exc})") from None
    with tar, tempfile.TemporaryDirectory(prefix=".guichet-restauration-") as tmp:
        manifest = _read_manifest(tar, archive)
        database = _sqlite_path(cfg)
        wanted = "sqlite" if database is not None else "postgresql"
        if manifest["database"] != wanted:
            raise BackupError(
                f"cette sauvegarde vient d'une base {manifest['database']}, la configuration en "
                f"désigne une {wanted} (database_url) : restaurez vers le même type de base"
            )
        tar.extract(manifest["file"], tmp, filter="data")
        dump = Path(tmp) / manifest["file"]
        if database is not None:
            _restore_sqlite(dump, database, force=force)
        else:
            _restore_postgresql(cfg, dump, force=force)
        for name, folder in _folders(cfg).items():
            members = [m for m in tar.getmembers() if m.name == name or m.name.startswith(name + "/")]
            folder.mkdir(parents=True, exist_ok=True)
            for member in members:
                member.name = member.name[len(name) :].lstrip("/") or "."
            tar.extractall(folder, members=[m for m in members if m.name != "."], filter="data")
    return manifest


def _restore_sqlite(dump: Path, database: Path, *, force: bool) -> None:
    if database.exists():
        if not force:
            raise BackupError(
                f"la base {database} existe : ajoutez --force pour la remplacer (elle sera gardée "
                f"sous {database.name}.avant-restauration-…)"
            )
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            old = database.with_name(database.name + suffix)
            if old.exists():
                old.replace(old.with_name(f"{old.name}.avant-restauration-{stamp}"))
    database.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(dump, database.with_name(database.name + ".restauration"))
    database.with_name(database.name + ".restauration").replace(database)


def _restore_postgresql(cfg: Config, dump: Path, *, force: bool) -> None:
    from sqlalchemy import inspect

    from intake.runtime.db import make_engine

    engine = make_engine(cfg.sqlalchemy_url)
    try:
        tables = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if tables and not force:
        raise BackupError(
            f"la base PostgreSQL contient déjà {len(tables)} table(s) : ajoutez --force pour la "
            "remplacer par la sauvegarde (pensez à la sauvegarder d'abord)"
        )
    url, env = _libpq(cfg)
    _run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--dbname",
            url,
            str(dump),
        ],
        env,
    )


def cmd_backup(args: argparse.Namespace) -> int:
    """Write a backup archive."""
    cfg = load(args)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    output = Path(args.output or f"guichet-sauvegarde-{stamp}.tar.gz")
    try:
        manifest = backup(cfg, output)
    except BackupError as exc:
        print(f"guichet : backup : {exc}", file=sys.stderr)
        return 1
    print(
        f"sauvegarde écrite : {output} (base {manifest['database']}, révision {manifest['revision']}, "
        f"{manifest['files']['storage']} fichier(s) stocké(s), {manifest['files']['spool']} en attente)"
    )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore a backup archive."""
    cfg = load(args)
    try:
        manifest = restore(cfg, Path(args.archive), force=args.force)
    except BackupError as exc:
        print(f"guichet : restore : {exc}", file=sys.stderr)
        return 1
    print(
        f"restauré : sauvegarde du {manifest['created_at']} (révision {manifest['revision']}) ; lancez "
        "« guichet init » pour amener la base à la version installée, puis redémarrez le service"
    )
    return 0


def add_parsers(sub: Any) -> None:
    """Register backup and restore on the main parser."""
    save = sub.add_parser(
        "backup",
        help="sauvegarder la base et les fichiers stockés (une archive)",
        **examples(
            "guichet backup                                  guichet-sauvegarde-AAAAMMJJ-HHMMSS.tar.gz ici",
            "guichet backup -o /srv/sauvegardes/guichet.tar.gz",
        ),
    )
    save.add_argument("-o", "--output", help="fichier à écrire (.tar.gz ; jamais écrasé)")
    save.set_defaults(func=cmd_backup)
    back = sub.add_parser(
        "restore",
        help="restaurer une sauvegarde (service arrêté)",
        **examples(
            "guichet restore guichet-sauvegarde-20261207-0300.tar.gz",
            "guichet restore --force sauvegarde.tar.gz       remplace la base existante (gardée à côté si SQLite)",
        ),
    )
    back.add_argument("archive")
    back.add_argument("--force", action="store_true", help="remplacer une base qui contient déjà des données")
    back.set_defaults(func=cmd_restore)
