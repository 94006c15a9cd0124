"""The `guichet` command: init, serve, worker, poll, parse-email, retry, resend, up."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from intake.cli.common import examples, load
from intake.config import Config, ConfigError


class UsageError(Exception):
    """Bad arguments: printed and exit status 2."""


def cmd_init(args: argparse.Namespace) -> int:
    """Create or migrate the database."""
    from intake.runtime.db import migrate

    cfg = load(args)
    migrate(cfg.sqlalchemy_url)
    print(f"base de données prête : {cfg.sqlalchemy_url.split('@')[-1]}")
    from intake.geocoding.reference import import_file
    from intake.runtime.db import make_engine, make_sessionmaker

    factory = make_sessionmaker(make_engine(cfg.sqlalchemy_url))
    for name in cfg.addresses.reference:
        path = cfg.resolve_path(name)
        if not path.is_file():
            raise ConfigError(f"addresses.reference: file not found: {path}")
        report = import_file(factory, path, citycodes=set(cfg.town.insee_codes))
        print(f"référentiel d'adresses {path.name} : {report.summary()}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the web app with gunicorn (production WSGI server)."""
    import os

    from intake.runtime.logs import gunicorn_options
    from intake.runtime.ports import PortError, check_port_free

    cfg = load(args)
    try:
        check_port_free(args.host, args.port)
    except PortError as exc:
        raise UsageError(str(exc)) from None
    os.environ["GUICHET_WEB_WARM_UP"] = "1"  # models and addresses loaded once, before gunicorn forks
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--preload",
        "--bind",
        f"{args.host}:{args.port}",
        "--workers",
        str(args.workers),
        "--access-logfile",
        "-",
        *gunicorn_options(),
        "web:create_app()",
    ]
    if args.config:
        os.environ["GUICHET_CONFIG"] = str(Path(args.config).resolve())
    del cfg  # validated before starting gunicorn so that errors are clear
    os.execv(sys.executable, argv)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run an rq worker (with the shared scheduler)."""
    from worker import run_workers

    run_workers(load(args), processes=args.processes, burst=args.burst, scheduler=not args.no_scheduler)
    return 0


def _inline_process(cfg: Config, ids: list[int]) -> list[Any]:
    from intake.outbox.send import send_outbox_row
    from intake.pipeline.process import process_raw
    from intake.runtime.resources import build_resources

    res = build_resources(cfg)
    outcomes = []
    for raw_id in ids:
        outcome = process_raw(res, raw_id, worker="cli")
        for outbox_id in outcome.outbox_ids:
            send_outbox_row(res.factory, cfg, outbox_id, res.mailer, notifiers=res.notifiers)
        outcomes.append(outcome)
    return outcomes


def cmd_poll(args: argparse.Namespace) -> int:
    """Poll mailboxes once; queue the new messages, or process them here with --inline."""
    from intake.channels.imap import ImapError
    from intake.channels.mailboxes import poll_once
    from intake.runtime.resources import build_resources

    cfg = load(args)
    names = args.mailbox or [m.name for m in cfg.mailboxes]
    for name in names:
        cfg.mailbox(name)
    res = build_resources(cfg)
    stored: list[int] = []
    enqueue: Any = stored.append
    if not args.inline:
        from intake.runtime.queue import enqueue_process, get_queue, redis_connection

        queue = get_queue(redis_connection(cfg))
        enqueue = lambda rid: enqueue_process(queue, rid, timeout=cfg.worker.job_timeout)  # noqa: E731
    status = 0
    for name in names:
        try:
            result = poll_once(res, name, enqueue=enqueue)
        except ImapError as exc:
            print(f"{name} : échec — {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{name} : {result.stored} message(s) enregistré(s), {len(result.errors)} erreur(s)")
    for outcome in _inline_process(cfg, stored) if args.inline else []:
        print(f"  message {outcome.raw_id} : {outcome.status} {outcome.tracking_number or outcome.error or ''}")
    return status


def cmd_parse_email(args: argparse.Namespace) -> int:
    """Print one JSON object per file (the contract used by other tools)."""
    from intake.cli.inspect_email import inspect_file

    unreadable = []
    for name in args.files:
        summary = inspect_file(name)
        print(json.dumps(summary, ensure_ascii=False), flush=True)
        if not summary["ok"] and str(summary["error"]).startswith("cannot read file"):
            unreadable.append(name)
    for name in unreadable:  # the JSON line is still printed (the contract); the exit status tells scripts
        print(f"guichet : parse-email : fichier illisible ou introuvable : {name}", file=sys.stderr)
    return 1 if unreadable else 0


def cmd_retry(args: argparse.Namespace) -> int:
    """Put failed (or given) raw messages back in the queue, or process them here with --inline."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from intake.models import RawMessage, utcnow
    from intake.runtime.db import make_engine, make_sessionmaker

    cfg = load(args)
    factory = make_sessionmaker(make_engine(cfg.sqlalchemy_url))
    # A message claimed by a worker that stopped answering is taken too; one in the hands of a live worker is not.
    stale = utcnow() - timedelta(seconds=cfg.worker.stale_claim_seconds)
    abandoned = (RawMessage.status == "processing") & (RawMessage.claimed_at < stale)
    with factory() as session, session.begin():
        query = select(RawMessage.id).where(RawMessage.status.in_(("failed", "pending", "held")) | abandoned)
        if args.ids:
            query = select(RawMessage.id).where(
                RawMessage.id.in_(args.ids),
                RawMessage.status.in_(("failed", "pending", "held", "discarded")) | abandoned,
            )
        ids = list(session.execute(query.order_by(RawMessage.id)).scalars())
        if ids:
            session.execute(
                update(RawMessage)
                .where(RawMessage.id.in_(ids))
                .values(status="pending", attempts=0, claimed_by=None, claimed_at=None)
            )
    if not ids:
        print("aucun message à reprendre")
        return 0
    if args.inline:
        outcomes = _inline_process(cfg, ids)
        for o in outcomes:
            print(f"message {o.raw_id} : {o.status} {o.tracking_number or o.error or ''}")
        return 0 if all(o.status != "failed" for o in outcomes) else 1
    from intake.runtime.queue import enqueue_process, get_queue, redis_connection

    queue = get_queue(redis_connection(cfg))
    for raw_id in ids:
        enqueue_process(queue, raw_id, timeout=cfg.worker.job_timeout)
    print(f"{len(ids)} message(s) remis en file")
    return 0


SEND_STATUS_FR = {
    "sent": "envoyé",
    "failed": "en échec",
    "pending": "remis en attente",
    "sending": "en cours d'envoi",
    "suppressed": "non envoyé (règles d'envoi de la commune)",
    "missing": "introuvable",
}


def cmd_resend(args: argparse.Namespace) -> int:
    """Send again the notifications in failure (or the given outbox rows), here and now."""
    from intake.models import Outbox
    from intake.outbox.send import send_outbox_row
    from intake.runtime.housekeeping import reset_for_resend
    from intake.runtime.resources import build_resources

    cfg = load(args)
    res = build_resources(cfg)
    ids = reset_for_resend(res.factory, args.ids or None)
    for missing in sorted(set(args.ids or []) - set(ids)):
        with res.factory() as session:
            row = session.get(Outbox, missing)
        state = SEND_STATUS_FR.get(row.status, row.status) if row else "introuvable"
        print(f"envoi {missing} : {state}, rien à renvoyer", file=sys.stderr)
    if not ids:
        print("aucun envoi à reprendre")
        return 1 if args.ids else 0
    status = 0
    for outbox_id in ids:
        try:
            status_code = send_outbox_row(res.factory, cfg, outbox_id, res.mailer, notifiers=res.notifiers)
            outcome = SEND_STATUS_FR.get(status_code, "?")
        except Exception as exc:  # transient: the row is pending again, the workers' sweep sends it when due
            outcome, status = f"remis en attente, le serveur d'envoi ne répond pas ({exc})", 1
        print(f"envoi {outbox_id} : {outcome}")
    return status


def cmd_up(args: argparse.Namespace) -> int:
    """Run everything for a demo or a small town: Redis if needed, worker(s), web server."""
    from intake.runtime.devstack import run_stack

    return run_stack(args)


def cmd_demo_send(args: argparse.Namespace) -> int:
    """Drop .eml files into the demo mailbox started by `guichet up --demo-mail`."""
    from intake.runtime.devmail import send_to_demo
    from intake.runtime.devstack import DEMO_MAILBOX

    missing = [name for name in args.files if not Path(name).is_file()]
    if missing:
        raise UsageError(f"demo-send : fichier introuvable : {', '.join(missing)} (aucun message déposé)")
    cfg = load(args)
    secret = cfg.resolve_path("var/demo-mailbox/password")
    if not secret.exists():
        raise UsageError("la boîte de démo n'est pas lancée (guichet up --demo-mail)")
    return send_to_demo(args.files, port=cfg.mailbox(DEMO_MAILBOX).port, password=secret.read_text().strip())


def cmd_digest(args: argparse.Namespace) -> int:
    """Queue and send the referents' daily digests of one day (default: yesterday); running twice sends once."""
    from intake.outbox.digest import parse_day, run_digests
    from intake.runtime.resources import build_resources

    cfg = load(args)
    try:
        day = parse_day(args.day, cfg)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    res = build_resources(cfg)
    run = run_digests(res.factory, cfg, res.mailer, day)
    print(
        f"récapitulatifs du {day:%d/%m/%Y} : {len(run.queued)} nouveau(x), {run.sent} envoyé(s)"
        + (f", {len(run.deferred)} en attente (renvoyés par le balayage)" if run.deferred else "")
    )
    return 0


EXAMPLES = """exemples :
  guichet up --demo-mail                          tout lancer sur cette machine (démo)
  guichet init                                    créer ou migrer la base de données
  guichet create-user marie --role agent --service voirie
  guichet serve --host 127.0.0.1 --port 8000      le back office derrière le proxy de la ville
  guichet worker                                  un worker (autant que nécessaire)
  guichet parse-email message.eml                 ce que Guichet lit dans un courriel (JSON)
  guichet --config /etc/guichet/config.yaml list-users

« guichet COMMANDE --help » donne les options et des exemples de chaque commande."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="guichet",
        description="Guichet : signalements des citoyens.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="chemin de config.yaml (défaut : GUICHET_CONFIG ou le fichier livré)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="créer ou migrer la base de données").set_defaults(func=cmd_init)
    serve = sub.add_parser(
        "serve",
        help="servir le back office (gunicorn)",
        **examples(
            "guichet serve                                  sur http://127.0.0.1:8000/",
            "guichet serve --port 8080 --workers 4          derrière nginx (voir deploy/)",
        ),
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=2)
    serve.set_defaults(func=cmd_serve)
    work = sub.add_parser("worker", help="lancer un worker rq")
    work.add_argument("--burst", action="store_true", help="s'arrêter quand la file est vide")
    work.add_argument("--no-scheduler", action="store_true", help="ne pas planifier les relèves")
    work.add_argument(
        "--processes",
        type=int,
        default=1,
        help="nombre de workers partageant un seul chargement du modèle et de la référence (défaut : 1)",
    )
    work.set_defaults(func=cmd_worker)
    poll = sub.add_parser(
        "poll",
        help="relever les boîtes aux lettres une fois",
        **examples(
            "guichet poll                 toutes les boîtes, messages mis en file pour les workers",
            "guichet poll mairie --inline une boîte, traitée ici sans Redis",
        ),
    )
    poll.add_argument("mailbox", nargs="*")
    poll.add_argument("--inline", action="store_true", help="traiter ici, sans Redis")
    poll.set_defaults(func=cmd_poll)
    parse = sub.add_parser(
        "parse-email",
        help="analyser des fichiers .eml et afficher du JSON",
        **examples(
            "guichet parse-email message.eml autre.eml      une ligne JSON par fichier",
            "code de sortie 1 si un fichier est introuvable ou illisible",
        ),
    )
    parse.add_argument("files", nargs="+")
    parse.set_defaults(func=cmd_parse_email)
    retry = sub.add_parser(
        "retry",
        help="reprendre les messages en échec",
        **examples(
            "guichet retry                tous les messages en échec, remis en file",
            "guichet retry 42 43 --inline ces deux messages, traités ici",
        ),
    )
    retry.add_argument("ids", nargs="*", type=int)
    retry.add_argument("--inline", action="store_true", help="traiter ici, sans Redis")
    retry.set_defaults(func=cmd_retry)
    resend = sub.add_parser("resend", help="renvoyer les notifications en échec (ou celles données)")
    resend.add_argument("ids", nargs="*", type=int, help="numéros d'envoi (défaut : tous ceux en échec)")
    resend.set_defaults(func=cmd_resend)
    up = sub.add_parser(
        "up",
        help="tout lancer (démo) : Redis privé si besoin, worker, web",
        **examples(
            "guichet up --demo-mail                         la démo complète (boîte IMAP et SMTP de test)",
            "guichet up --workers 2 --port 8080",
        ),
    )
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--workers", type=int, default=1, help="nombre de workers rq")
    up.add_argument("--demo-mail", action="store_true", help="démarrer la boîte de démo (Dovecot) et le SMTP de test")
    up.set_defaults(func=cmd_up)
    from intake.cli.accounts import add_parsers as add_account_parsers
    from intake.cli.privacy import add_parsers as add_privacy_parsers
    from intake.cli.understanding import add_parsers

    add_parsers(sub)
    add_account_parsers(sub)
    from intake.cli.backup import add_parsers as add_backup_parsers

    add_backup_parsers(sub)
    add_privacy_parsers(sub)
    digest = sub.add_parser(
        "digest",
        help="envoyer les récapitulatifs quotidiens aux référents des services",
        **examples("guichet digest --day 2026-12-06"),
    )
    digest.add_argument("--day", help="jour AAAA-MM-JJ (défaut : hier)")
    digest.set_defaults(func=cmd_digest)
    demo = sub.add_parser(
        "demo-send",
        help="déposer des .eml dans la boîte de démo",
        **examples("guichet demo-send tests/data/emails/guichet/fwd_outlook_fr.eml"),
    )
    demo.add_argument("files", nargs="+")
    demo.set_defaults(func=cmd_demo_send)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `guichet` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from intake.runtime.logs import configure

    configure()  # GUICHET_LOG_FORMAT=json|text: one line per event (the worker's own default otherwise)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        text = str(exc)  # one line, or every bad key on a line of its own
        print(f"guichet : configuration invalide{' :' if text.startswith(chr(10)) else ' — '}{text}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"guichet : {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # Services that are down are the usual cause here: say which, without a traceback.
        from redis.exceptions import ConnectionError as RedisConnectionError
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):
            print(f"guichet : base de données inaccessible — {exc.orig}", file=sys.stderr)
            return 1
        if isinstance(exc, RedisConnectionError):
            print(f"guichet : Redis inaccessible — {exc}", file=sys.stderr)
            return 1
        raise
