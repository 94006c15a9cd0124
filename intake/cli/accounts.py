"""`guichet create-user`, `set-password`, `list-users`: back-office accounts from the command line."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from sqlalchemy import select

from intake.cli.common import examples, load


class _Usage(Exception):
    pass


def _fail(message: str) -> int:
    """A usage error: explained on stderr, exit status 2."""
    print(f"erreur : {message}", file=sys.stderr)
    return 2


def _password(args: argparse.Namespace) -> str:
    """From standard input with --password-stdin (scripts), else asked twice without echo."""
    if args.password_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise _Usage("aucun mot de passe reçu sur l'entrée standard")
        return value
    if not sys.stdin.isatty():
        raise _Usage("pas de terminal : passez le mot de passe avec --password-stdin")
    try:
        first = getpass.getpass("Mot de passe : ")
        again = getpass.getpass("Le même, encore une fois : ")
    except EOFError:  # Ctrl-D at the prompt
        print(file=sys.stderr)
        raise _Usage("saisie du mot de passe interrompue (Ctrl-D) : rien n'a été changé") from None
    if first != again:
        raise _Usage("les deux mots de passe diffèrent")
    return first


def _factory(args: argparse.Namespace) -> Any:
    from intake.runtime.db import make_engine, make_sessionmaker, migrate

    cfg = load(args)
    migrate(cfg.sqlalchemy_url)
    return cfg, make_sessionmaker(make_engine(cfg.sqlalchemy_url))


def cmd_create_user(args: argparse.Namespace) -> int:
    """Create an account; errors are explained and exit with status 2."""
    from intake.backoffice.accounts import AccountError, create_user

    try:
        cfg, factory = _factory(args)
        password = _password(args)
        with factory() as session, session.begin():
            user = create_user(
                session,
                cfg,
                username=args.username,
                password=password,
                role=args.role,
                service=args.service,
                display_name=args.name or "",
                email=args.email,
            )
            label = f"{user.username} ({user.role}{' — ' + user.service if user.service else ''})"
    except (AccountError, _Usage) as exc:
        return _fail(f"create-user : {exc}")
    print(f"compte créé : {label}")
    return 0


def cmd_set_password(args: argparse.Namespace) -> int:
    """Change a password (the user's open sessions end)."""
    from intake.backoffice.accounts import AccountError, set_password
    from intake.models import User

    try:
        _cfg, factory = _factory(args)
        password = _password(args)
        with factory() as session, session.begin():
            user = session.execute(select(User).where(User.username == args.username.lower())).scalar_one_or_none()
            if user is None:
                raise _Usage(f"pas de compte {args.username!r}")
            set_password(user, password)
            if args.enable:
                user.active = True
    except (AccountError, _Usage) as exc:
        return _fail(f"set-password : {exc}")
    print(f"mot de passe changé pour {args.username.lower()}")
    return 0


def cmd_list_users(args: argparse.Namespace) -> int:
    """Print the accounts, one per line."""
    from intake.models import User

    _cfg, factory = _factory(args)
    with factory() as session:
        users = list(session.execute(select(User).order_by(User.username)).scalars())
    if not users:
        print(
            "aucun compte : créez-en un avec « guichet create-user NOM --role admin » (ou lancez « guichet up », "
            "qui crée le compte admin)"
        )
        return 0
    for user in users:
        state = "actif" if user.active else "désactivé"
        print(f"{user.username}\t{user.role}\t{user.service or '-'}\t{state}\t{user.display_name}")
    return 0


def add_parsers(sub: Any) -> None:
    """Register the account commands on the main parser."""
    from intake.backoffice.accounts import ROLES

    create = sub.add_parser(
        "create-user",
        help="créer un compte du back office",
        **examples(
            "guichet create-user marie --role agent --service voirie --name 'Marie Dupont'",
            "guichet create-user accueil1 --role accueil",
            "guichet create-user paul --role technicien --service voirie --name 'Paul Martin'",
            "printf '%s\\n' \"$MOT_DE_PASSE\" | guichet create-user admin2 --role admin --password-stdin",
        ),
    )
    create.add_argument("username", help="identifiant (a-z, 0-9, . _ -)")
    create.add_argument("--role", required=True, choices=sorted(ROLES), help="accueil, agent, admin ou technicien")
    create.add_argument("--service", help="code du service (obligatoire pour un agent ou un technicien)")
    create.add_argument("--name", help="nom affiché")
    create.add_argument("--email", help="adresse électronique de l'agent")
    create.add_argument("--password-stdin", action="store_true", help="lire le mot de passe sur l'entrée standard")
    create.set_defaults(func=cmd_create_user)
    change = sub.add_parser("set-password", help="changer le mot de passe d'un compte")
    change.add_argument("username")
    change.add_argument("--password-stdin", action="store_true", help="lire le mot de passe sur l'entrée standard")
    change.add_argument("--enable", action="store_true", help="réactiver le compte s'il était désactivé")
    change.set_defaults(func=cmd_set_password)
    sub.add_parser("list-users", help="lister les comptes").set_defaults(func=cmd_list_users)
