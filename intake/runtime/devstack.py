"""`guichet up`: run the whole service on one machine (private Redis if none, demo mailbox, workers, web)."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from intake.config import Config, ConfigError, load_config
from intake.runtime.outage import Backoff

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
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(var),
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(100):
        if sock.exists():
            return proc, f"unix://{sock}"
        time.sleep(0.05)
    proc.terminate()
    raise ConfigError("the private redis-server did not start")


def start_demo_mail(cfg: Config, var: Path) -> list[Child]:
    """Start the demo mailbox (Dovecot, user `mairie`) and a mail catcher writing sent mail to var/sent-mail."""
    from intake.runtime.devmail import DemoMailbox

    password_file = var / "demo-mailbox" / "password"
    password_file.parent.mkdir(parents=True, exist_ok=True)
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(12))
    _apt_install("dovecot-imapd", "/usr/sbin/dovecot")
    port = cfg.mailbox(DEMO_MAILBOX).port
    box = DemoMailbox(var / "demo-mailbox", port=port, password=password_file.read_text().strip())
    procs = [Child("boîte de démo (Dovecot)", box.start)]
    sent = var / "sent-mail"
    sent.mkdir(exist_ok=True)
    catcher = [sys.executable, "-m", "intake.runtime.devmail", "catch", str(sent), str(cfg.smtp.port)]
    procs.append(Child("SMTP de démo", lambda: subprocess.Popen(catcher, start_new_session=True)))
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
        print(
            f"compte administrateur : {created}, mot de passe dans {var / 'admin-password'} "
            "(créez les autres comptes avec « guichet create-user »)"
        )


class Child:
    """A process `guichet up` started and keeps alive: restarted with backoff when it dies."""

    def __init__(self, label: str, start: Callable[[], subprocess.Popen[bytes]], *, front: bool = False) -> None:
        self.label, self._start, self.front = label, start, front
        self.backoff = Backoff(first=1.0, cap=30.0)
        self.proc = start()
        self.started = time.monotonic()
        self.restart_at: float | None = None

    def check(self, now: float) -> None:
        """Restart the process when it died (after a delay growing with quick deaths)."""
        if self.proc.poll() is None:
            if now - self.started > 60:
                self.backoff.reset()
            return
        if self.restart_at is None:
            self.restart_at = now + self.backoff.next()
            print(
                f"guichet up : {self.label} arrêté (code {self.proc.returncode}), redémarrage dans "
                f"{self.restart_at - now:.0f} s",
                file=sys.stderr,
                flush=True,
            )
        elif now >= self.restart_at:
            _signal_group(self.proc, signal.SIGKILL)  # what the dead process left behind (its scheduler...)
            self.proc, self.started, self.restart_at = self._start(), now, None


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the process group a child leads (each child has a session of its own)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(children: list[Child], *, timeout: float) -> None:
    """SIGTERM to every child still running, then SIGKILL after `timeout` seconds."""
    for child in children:
        if child.proc.poll() is None:
            _signal_group(child.proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.proc.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"guichet up : {child.label} ne s'arrête pas : arrêt forcé", file=sys.stderr, flush=True)
            _signal_group(child.proc, signal.SIGKILL)
            child.proc.wait(timeout=5)


def run_stack(args: argparse.Namespace) -> int:
    """Start everything and keep it running (a dead worker or web server is restarted); Ctrl-C or SIGTERM stops
    it all in order within a few seconds: web and workers first, then mail and Redis. A second start with the
    same var/ folder is refused (var/guichet-up.lock), before it touches any file of the running one."""
    from intake.runtime.instance_lock import AlreadyRunning, acquire
    from intake.runtime.ports import PortError

    cfg = load_config(args.config)
    for warning in cfg.path_warnings():
        print(f"guichet up : attention — {warning}", file=sys.stderr)
    var = cfg.resolve_path("var")
    url = f"http://{args.host}:{args.port}/"
    try:
        lock = acquire(var, url=url)  # before anything under var/ (the private Redis socket, the demo mailbox)
    except AlreadyRunning as exc:
        print(f"guichet up : {exc}", file=sys.stderr)
        return 1
    try:
        return _run_locked(args, cfg, var, url)
    except PortError as exc:
        print(f"guichet up : {exc}", file=sys.stderr)
        return 2
    finally:
        lock.release()


def _ports_free(args: argparse.Namespace, cfg: Config) -> None:
    """Refuse to start when a port this instance needs is taken (another instance with a config elsewhere)."""
    from intake.runtime.ports import check_port_free

    check_port_free(args.host, args.port)
    if args.demo_mail:
        check_port_free(
            "127.0.0.1",
            cfg.mailbox(DEMO_MAILBOX).port,
            what="la boîte de démo",
            option=f"mailboxes.{DEMO_MAILBOX}.port",
        )
        check_port_free("127.0.0.1", cfg.smtp.port, what="le SMTP de démo", option="smtp.port")


def _run_locked(args: argparse.Namespace, cfg: Config, var: Path, url: str) -> int:
    """run_stack once var/'s lock is held."""
    from intake.runtime.db import migrate
    from intake.runtime.logs import gunicorn_options

    _ports_free(args, cfg)
    env = dict(os.environ)
    env["GUICHET_WEB_WARM_UP"] = "1"  # the web process loads models and addresses before forking
    if args.config:
        env["GUICHET_CONFIG"] = str(Path(args.config).resolve())
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def spawn(argv: list[str]) -> Callable[[], subprocess.Popen[bytes]]:
        # A session of their own: Ctrl-C reaches this process alone, which stops them in order.
        return lambda: subprocess.Popen(argv, env=env, start_new_session=True)

    children: list[Child] = []
    try:
        if not cfg.redis_url:
            redis_url = f"unix://{var / 'redis.sock'}"  # not `url`: that one is printed below as the web's address
            children.append(Child("Redis", lambda: start_private_redis(var)[0]))
            env["GUICHET_REDIS_URL"] = redis_url
            print(f"Redis privé : {redis_url}")
        migrate(cfg.sqlalchemy_url)
        _first_admin(cfg, var)
        if args.demo_mail:
            children.extend(start_demo_mail(cfg, var))
        for n in range(max(1, args.workers)):
            children.append(Child(f"worker {n + 1}", spawn([sys.executable, "-m", "intake.cli", "worker"]), front=True))
        children.append(
            Child(
                "serveur web",
                spawn(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "--preload",
                        "--bind",
                        f"{args.host}:{args.port}",
                        "--workers",
                        "2",
                        "--graceful-timeout",
                        "2",
                        "--access-logfile",
                        "-",
                        *gunicorn_options(),
                        "web:create_app()",
                    ]
                ),
                front=True,
            )
        )
        print(f"Guichet : {url}   (Ctrl-C pour arrêter)", flush=True)
        while not stopping.wait(0.5):
            now = time.monotonic()
            for child in children:
                child.check(now)
        return 0
    finally:
        _stop([c for c in children if c.front], timeout=4.0)
        _stop([c for c in children if not c.front], timeout=2.0)
