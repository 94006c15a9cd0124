"""`guichet up`: run the whole service on one machine (private Redis if none, demo mailbox, workers, web)."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from intake.config import Config, ConfigError, load_config

DEMO_MAILBOX = "mairie"  # the demo mailbox of the shipped config.yaml (host 127.0.0.1, its port)


def _apt_install(package: str, binary: str) -> str:
    """Return the path of `binary`, installing Debian's `package` when it is missing (root only)."""
    found = shutil.which(binary) or (binary if os.path.exists(binary) else None)
    if found:
        return found
    if os.geteuid() != 0:
        raise ConfigError(f"{binary} is missing: install the Debian package {package} (apt-get install {package})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env)
    found = shutil.which(binary) or (binary if os.path.exists(binary) else None)
    if not found:
        raise ConfigError(f"{binary} still missing after installing {package}")
    return found


def start_private_redis(var: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start a redis-server for Guichet alone, on a unix socket under var/ (nothing kept on disk)."""
    binary = _apt_install("redis-server", "redis-server")
    sock = var / "redis.sock"
    sock.unlink(missing_ok=True)
    proc = subprocess.Popen([binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
                             "--save", "", "--appendonly", "no", "--dir", str(var)],
                            stdout=subprocess.DEVNULL)
    for _ in range(100):
        if sock.exists():
            return proc, f"unix://{sock}"
        time.sleep(0.05)
    proc.terminate()
    raise ConfigError("the private redis-server did not start")


def start_demo_mail(cfg: Config, var: Path) -> list[subprocess.Popen[bytes]]:
    """Start the demo mailbox (Dovecot, user `mairie`) and a mail catcher writing sent mail to var/sent-mail."""
    from intake.runtime.devmail import DemoMailbox

    password_file = var / "demo-mailbox" / "password"
    password_file.parent.mkdir(parents=True, exist_ok=True)
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(12))
    _apt_install("dovecot-imapd", "/usr/sbin/dovecot")
    port = cfg.mailbox(DEMO_MAILBOX).port
    box = DemoMailbox(var / "demo-mailbox", port=port, password=password_file.read_text().strip())
    procs = [box.start()]
    sent = var / "sent-mail"
    sent.mkdir(exist_ok=True)
    catcher = [sys.executable, "-m", "intake.runtime.devmail", "catch", str(sent), str(cfg.smtp.port)]
    procs.append(subprocess.Popen(catcher))
    print(f"boîte de démo : IMAP 127.0.0.1:{port}, utilisateur mairie, mot de passe dans {password_file}")
    print(f"déposez un message : guichet demo-send FICHIER.eml   (courriels envoyés : {sent})")
    return procs


def _first_admin(cfg: Config, var: Path) -> None:
    """A fresh installation gets an "admin" account; its password is in var/admin-password."""
    from intake.backoffice.accounts import bootstrap_admin
    from intake.runtime.db import make_engine, make_sessionmaker

    factory = make_sessionmaker(make_engine(cfg.sqlalchemy_url))
    with factory() as session, session.begin():
        created = bootstrap_admin(session, cfg, var / "admin-password")
    if created:
        print(f"compte administrateur : {created}, mot de passe dans {var / 'admin-password'} "
              "(créez les autres comptes avec « guichet create-user »)")


def run_stack(args: argparse.Namespace) -> int:
    """Start everything and wait; Ctrl-C stops it all."""
    from intake.runtime.db import migrate

    cfg = load_config(args.config)
    var = cfg.resolve_path("var")
    var.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["GUICHET_WEB_WARM_UP"] = "1"  # the web process loads models and addresses before forking
    if args.config:
        env["GUICHET_CONFIG"] = str(Path(args.config).resolve())
    children: list[subprocess.Popen[bytes]] = []
    try:
        if not cfg.redis_url:
            proc, url = start_private_redis(var)
            children.append(proc)
            env["GUICHET_REDIS_URL"] = url
            print(f"Redis privé : {url}")
        migrate(cfg.sqlalchemy_url)
        _first_admin(cfg, var)
        if args.demo_mail:
            children.extend(start_demo_mail(cfg, var))
        for _ in range(max(1, args.workers)):
            children.append(subprocess.Popen([sys.executable, "-m", "intake.cli", "worker"], env=env))
        children.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--preload", "--bind", f"{args.host}:{args.port}", "--workers", "2",
             "--access-logfile", "-", "web:create_app()"], env=env))
        print(f"Guichet : http://{args.host}:{args.port}/   (Ctrl-C pour arrêter)")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(child.poll() is None for child in children):
            time.sleep(1)
        failed = [c.args for c in children if c.poll() not in (None, 0)]
        if failed:
            print(f"arrêt : un processus s'est terminé en erreur : {failed[0]!r}", file=sys.stderr)
            return 1
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
