"""Keyed pseudonyms (issue 12, RGPD 4): stable per citizen, unusable without the key, in exports for non-admins,
statistics and log lines instead of an email or a phone."""

from __future__ import annotations

import csv
import io
import logging
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from intake.config import Config
from intake.models import Contact
from intake.outbox.notify import ConsoleMailer, build_email
from intake.pseudonyms import PseudonymFilter, load_key, pseudonym, pseudonymise_text, town_key
from tests.support.web import signed_in
from tests.web.test_map import AUTHOR, add_report, build_town

KEY = b"k" * 32


def test_pseudonyms_are_keyed_stable_and_normalised(tmp_path: Path) -> None:
    alias = pseudonym(KEY, "Jean.Dupont@Example.org")
    assert alias is not None and alias.startswith("p-") and len(alias) == 18
    assert pseudonym(KEY, " jean.dupont@example.org ") == alias
    assert pseudonym(KEY, "06 12 34 56 78") == pseudonym(KEY, "+33612345678") == pseudonym(KEY, "whatsapp:+33612345678")
    assert pseudonym(b"x" * 32, "jean.dupont@example.org") != alias  # without the key, no way back or across
    assert pseudonym(KEY, None) is None and pseudonym(KEY, "  ") is None
    key_file = tmp_path / "var" / "pseudonym.key"
    first = load_key(key_file)
    assert len(first) == 32 and load_key(key_file) == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_log_lines_carry_pseudonyms_not_addresses(cfg: Config) -> None:
    """Whoever logs it, a line (and the exception it carries) shows the pseudonym, never the email or phone."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(PseudonymFilter(town_key(cfg), region=cfg.town.phone_region))
    notify_log = logging.getLogger("intake.outbox.notify")
    notify_log.addHandler(handler)
    level = notify_log.level
    notify_log.setLevel(logging.INFO)
    try:
        from intake.models import Outbox

        row = Outbox(
            id=1,
            kind="confirmation",
            channel="email",
            recipient="jean.dupont@example.org",
            subject="Votre signalement",
            body="Bonjour",
            message_id="<1@guichet.localhost>",
        )
        ConsoleMailer().send(build_email(cfg, row))  # "mail (console) to %s: %s"
        try:
            raise ValueError("numéro de téléphone invalide : 06 12 34 56 78")
        except ValueError:
            notify_log.exception("envoi à %s impossible", "Jean.Dupont@example.org")
    finally:
        notify_log.removeHandler(handler)
        notify_log.setLevel(level)
    text = out.getvalue()
    alias = pseudonym(town_key(cfg), "jean.dupont@example.org")
    assert "jean.dupont" not in text.lower() and "06 12 34 56 78" not in text
    assert text.count(str(alias)) == 2 and str(pseudonym(town_key(cfg), "+33612345678")) in text
    assert "numéro de téléphone invalide" in text and "Traceback" in text  # the rest stays readable
    assert pseudonymise_text(KEY, "rien à cacher, report 2026-00042") == "rien à cacher, report 2026-00042"


def test_exports_and_statistics_show_the_pseudonym_to_non_admins(make_config: Callable[..., Config]) -> None:
    town = build_town(make_config())
    with town.res.factory() as s:
        author = s.execute(select(Contact.id).where(Contact.email == AUTHOR["email"])).scalar_one()
    add_report(town.res, "2026-00007", author_id=author, created_at=datetime(2026, 2, 3, 9, 0, tzinfo=UTC))
    alias = pseudonym(town_key(town.res.config), AUTHOR["email"])
    assert alias
    for role in ("accueil", "agent", "admin"):
        client = signed_in(town.app, role, "voirie" if role == "agent" else None)
        body = client.get("/exports/signalements.csv?doublons=inclus").get_data().decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(body), delimiter=";"))
        mine = {r["Numéro"]: r["Pseudonyme du citoyen"] for r in rows if r["Pseudonyme du citoyen"]}
        assert mine == {"2026-00001": alias, "2026-00004": alias, "2026-00007": alias}, role
        assert (AUTHOR["email"] in body) == (role == "admin") and (AUTHOR["phone"] in body) == (role == "admin")
        page = client.get("/statistiques?du=2026-01-01&au=2026-12-31").get_data(as_text=True)
        assert f"<code>{alias}</code></th><td>2</td>" in page, role  # two main reports, the duplicate aside
        assert AUTHOR["email"] not in page and AUTHOR["name"] not in page
