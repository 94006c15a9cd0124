"""`guichet rgpd export|erase EMAIL|PHONE` and `guichet purge [--dry-run]`: citizens' rights and retention."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intake.cli.common import load

if TYPE_CHECKING:  # the command line's parser is built without the database layer
    from intake.privacy.erasure import Actor


def _fail(message: str) -> int:
    """A usage error: explained in French on stderr, exit status 2."""
    print(f"guichet : {message}", file=sys.stderr)
    return 2


def _setup(args: argparse.Namespace) -> Any:
    from intake.media.storage import FileStore
    from intake.pseudonyms import town_key
    from intake.runtime.db import make_engine, make_sessionmaker, migrate

    cfg = load(args)
    migrate(cfg.sqlalchemy_url)
    return (
        cfg,
        make_sessionmaker(make_engine(cfg.sqlalchemy_url)),
        FileStore(cfg.resolve_path(cfg.storage.root)),
        town_key(cfg),
    )


def _actor() -> Actor:
    """The account running the command, as the audit log names it."""
    from intake.privacy.erasure import Actor

    try:
        return Actor(f"cli:{getpass.getuser()}")
    except Exception:  # no user name in this environment (a container without passwd entry)
        return Actor("cli")


def _write_private(path: Path, text: str) -> None:
    """Write personal data to a file only its owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def cmd_rgpd_export(args: argparse.Namespace) -> int:
    """Everything held about an email or a phone: the French summary on stdout, the JSON in a file (or stdout)."""
    from intake.privacy.rights import audit_export, export_subject, find_subject, parse_identifier, summary_fr
    from intake.pseudonyms import pseudonym

    cfg, factory, _store, key = _setup(args)
    try:
        identifier = parse_identifier(args.identifier, region=cfg.town.phone_region)
    except ValueError as exc:
        return _fail(f"rgpd export : {exc}")
    with factory() as session, session.begin():
        subject = find_subject(session, identifier)
        data = export_subject(session, cfg, subject)
        audit_export(session, cfg, subject, key=key, actor=_actor())
    document = json.dumps(data, ensure_ascii=False, indent=2)
    if args.json == "-":
        print(document)
        return 0
    target = Path(args.json or f"rgpd-{pseudonym(key, identifier, region=cfg.town.phone_region)}.json")
    try:
        _write_private(target, document + "\n")
    except OSError as exc:
        return _fail(f"rgpd export : impossible d'écrire {target} ({exc.strerror})")
    print(summary_fr(cfg, data))
    print(f"\nExport complet (JSON) : {target}")
    return 0


def cmd_rgpd_erase(args: argparse.Namespace) -> int:
    """Anonymise everything held about an email or a phone (after confirmation, or --oui)."""
    from intake.privacy.rights import erase_subject, find_subject, parse_identifier

    cfg, factory, store, key = _setup(args)
    try:
        identifier = parse_identifier(args.identifier, region=cfg.town.phone_region)
    except ValueError as exc:
        return _fail(f"rgpd erase : {exc}")
    with factory() as session:
        subject = find_subject(session, identifier)
        held = (len(subject.contacts), len(subject.reports), len(subject.messages))
    if not any(held):
        print(f"aucune donnée détenue sur {identifier} : rien à effacer")
        return 0
    if not args.oui:
        if not sys.stdin.isatty():
            return _fail("rgpd erase : pas de terminal pour confirmer ; ajoutez --oui")
        answer = input(
            f"Effacer {held[0]} contact(s), {held[1]} signalement(s) et {held[2]} message(s) de "
            f"{identifier} ? C'est définitif. Tapez « oui » : "
        )
        if answer.strip().lower() != "oui":
            print("effacement annulé")
            return 1
    with factory() as session, session.begin():
        done = erase_subject(session, cfg, store, find_subject(session, identifier), key=key, actor=_actor())
    print(
        f"effacé : {done.contacts} contact(s), {done.reports} signalement(s) anonymisé(s) (catégorie, lieu et "
        f"état conservés), {done.messages} autre(s) message(s), {done.sent} message(s) envoyé(s)"
    )
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Apply the retention durations now (workers do it daily); --dry-run only counts."""
    from intake.privacy.retention import purge

    cfg, factory, store, _key = _setup(args)
    done = purge(factory, cfg, store, dry_run=args.dry_run, actor=_actor())
    keep = cfg.privacy.retention
    print(
        f"conservation : messages reçus {keep.raw_months} mois, identité {keep.identity_months} mois, "
        f"journal d'audit {keep.audit_months} mois après la clôture"
    )
    print(("simulation : " if args.dry_run else "") + done.summary_fr())
    return 0


def add_parsers(sub: Any) -> None:
    """Register `rgpd` and `purge` on the main parser."""
    rgpd = sub.add_parser("rgpd", help="droits des citoyens : export ou effacement de leurs données")
    actions = rgpd.add_subparsers(dest="rgpd_command", required=True)
    export = actions.add_parser("export", help="tout ce qui est détenu sur une adresse ou un numéro")
    export.add_argument("identifier", metavar="EMAIL|TELEPHONE")
    export.add_argument(
        "--json",
        metavar="FICHIER",
        help="fichier JSON à écrire (défaut : rgpd-<pseudonyme>.json ; « - » : sortie standard)",
    )
    export.set_defaults(func=cmd_rgpd_export)
    erase = actions.add_parser("erase", help="anonymiser tout ce qui est détenu sur une adresse ou un numéro")
    erase.add_argument("identifier", metavar="EMAIL|TELEPHONE")
    erase.add_argument("--oui", action="store_true", help="ne pas demander de confirmation")
    erase.set_defaults(func=cmd_rgpd_erase)
    purge = sub.add_parser("purge", help="appliquer les durées de conservation (les workers le font chaque jour)")
    purge.add_argument("--dry-run", action="store_true", help="compter sans rien supprimer")
    purge.set_defaults(func=cmd_purge)
