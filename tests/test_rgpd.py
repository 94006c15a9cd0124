"""A citizen's rights (issue 12, RGPD 2): `guichet rgpd export` and `guichet rgpd erase`, audited."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intake.config import Config
from intake.models import Attachment, AuditLog, Base, Contact, Correction, RawMessage, Report, ReportMessage
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.reports.statuses import change_status
from intake.runtime.resources import Resources, build_resources
from tests.conftest import write_config
from tests.support.cli import run_guichet
from tests.support.mail import citizen_email, jpeg_with_gps

JEAN = "jean.dupont@example.org"
JEAN_MAIL = "Bonjour,\nLe lampadaire devant le 12 rue des Lilas est éteint.\nJean Dupont\n06 12 34 56 78\n"


@pytest.fixture
def res(make_config: Callable[..., Config]) -> Resources:
    return build_resources(make_config(), mailer=ConsoleMailer())


@pytest.fixture
def config_file(res: Resources, tmp_path: Path) -> Path:
    return write_config(res.config, tmp_path / "config.yaml")


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_guichet(["--config", str(config), *args], cwd=config.parent)


def ingest(res: Resources, raw: bytes) -> Any:
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    outcome = process_raw(res, raw_id)
    assert outcome.status == "processed", outcome.error
    return outcome


def jean_reports(res: Resources) -> tuple[Any, Any, bytes]:
    """Jean's report with a photo, his reply to our confirmation, then it is resolved; and someone else's report."""
    raw = citizen_email(
        sender=f"Jean Dupont <{JEAN}>",
        subject="Lampadaire éteint",
        body=JEAN_MAIL,
        attachments=[("photo.jpg", "image/jpeg", jpeg_with_gps(48.857876, 2.347579))],
    )
    first = ingest(res, raw)
    other = ingest(
        res,
        citizen_email(
            sender="Léa Petit <lea@example.net>", subject="Banc cassé", body="Un banc est cassé square Lamartine."
        ),
    )
    with res.factory() as s, s.begin():
        ours = (
            s.execute(select(ReportMessage.message_id).where(ReportMessage.report_id == first.report_id))
            .scalars()
            .first()
        )
        report = s.get(Report, first.report_id)
        assert report is not None
        change_status(s, res.config, report, "resolu", actor="agent", note="Ampoule changée, M. Dupont")
        s.add(
            Correction(
                report_id=report.id,
                field="address",
                old_value="chez M. Dupont, 12 rue des Lilas",
                new_value="12 Rue des Lilas",
                subject=report.subject,
                text=report.description,
                actor="agent",
            )
        )
    ingest(
        res,
        citizen_email(
            sender=f"Jean Dupont <{JEAN}>",
            subject="Re: Lampadaire éteint",
            body="Merci, c'est réparé.",
            in_reply_to=(ours or "").strip("<>"),
        ),
    )
    return first, other, raw


def every_row(res: Resources) -> str:
    """Every row of every table as text (the raw payloads decoded), to look for what should be gone."""
    out = []
    with res.factory() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(table.select()).all():
                out.append(" ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row))
    return "\n".join(out)


def test_export_gives_everything_held_as_json_and_french_summary(res: Resources, config_file: Path) -> None:
    first, other, _ = jean_reports(res)
    answer = run_cli(config_file, "rgpd", "export", JEAN.upper(), "--json", "jean.json")
    assert answer.returncode == 0, answer.stderr
    assert f"Données détenues par {res.config.town.name} concernant {JEAN}" in answer.stdout
    assert f"1 signalement(s) :\n- n° {first.tracking_number}" in answer.stdout
    data = json.loads((config_file.parent / "jean.json").read_text(encoding="utf-8"))
    assert (config_file.parent / "jean.json").stat().st_mode & 0o077 == 0
    assert [c["courriel"] for c in data["contacts"]] == [JEAN]
    [report] = data["signalements"]
    assert report["numero"] == first.tracking_number and report["auteur"] is True
    texts = [m["texte"] for m in report["messages"]]
    assert any("lampadaire" in t for t in texts) and any("réparé" in t for t in texts)
    assert report["messages"][0]["pieces_jointes"][0]["nom"] == "photo.jpg"
    assert report["messages"][0]["telephone_lu_dans_le_message"] == "+33612345678"
    assert {m["destinataire"] for m in data["messages_envoyes"]} == {JEAN}
    assert other.tracking_number not in json.dumps(data) and "lea@" not in json.dumps(data)
    with res.factory() as s:
        entry = s.execute(select(AuditLog).where(AuditLog.action == "rgpd_export")).scalar_one()
    assert entry.username.startswith("cli") and str(entry.detail["subject"]).startswith("p-")
    assert JEAN not in json.dumps(entry.detail)


def test_bad_identifiers_are_explained_in_french(config_file: Path) -> None:
    for command in ("export", "erase"):
        answer = run_cli(config_file, "rgpd", command, "pas une adresse")
        assert answer.returncode == 2 and "Traceback" not in answer.stderr
        assert "ni une adresse électronique ni un numéro de téléphone valide" in answer.stderr
    nothing = run_cli(config_file, "rgpd", "erase", "personne@example.org", "--oui")
    assert nothing.returncode == 0 and "aucune donnée" in nothing.stdout
    no_tty = run_cli(config_file, "rgpd", "erase", "06 12 34 56 78")
    assert no_tty.returncode in (0, 2) and "Traceback" not in no_tty.stderr


def test_erase_anonymises_identity_and_words_and_keeps_the_problem(res: Resources, config_file: Path) -> None:
    first, other, raw = jean_reports(res)
    with res.factory() as s:
        before = s.execute(
            select(Report.category, Report.lat, Report.lon, Report.status, Report.address_voie).where(
                Report.id == first.report_id
            )
        ).one()
        files = [d for a in s.execute(select(Attachment)).scalars() for d in (a.sha256, a.served_sha256) if d]
    assert files and all(res.file_store.exists(d) for d in files)
    refused = run_cli(config_file, "rgpd", "erase", JEAN)
    assert refused.returncode == 2 and "--oui" in refused.stderr  # no terminal: no silent erasure
    answer = run_cli(config_file, "rgpd", "erase", JEAN, "--oui")
    assert answer.returncode == 0, answer.stderr
    assert "effacé : 1 contact(s), 1 signalement(s)" in answer.stdout
    dump = every_row(res)
    for trace in (JEAN, "Jean Dupont", "Dupont", "12 34 56 78", "+33612345678", "lampadaire devant"):
        assert trace not in dump, trace
    with res.factory() as s:
        after = s.execute(
            select(Report.category, Report.lat, Report.lon, Report.status, Report.address_voie).where(
                Report.id == first.report_id
            )
        ).one()
        assert tuple(after) == tuple(before)  # statistics and hotspots still count it where it was
        report = s.get(Report, first.report_id)
        assert report is not None and report.anonymised_at is not None and report.author is not None
        assert report.author.anonymised_at is not None
        raws = (
            s.execute(select(RawMessage).where(RawMessage.channel == "email").order_by(RawMessage.id)).scalars().all()
        )
        assert [r.payload for r in raws if r.purged_at is not None] == [b"", b""]
        assert s.execute(select(Attachment)).scalars().all() == []
        assert s.get(Report, other.report_id).description.startswith("Un banc")  # type: ignore[union-attr]
        assert s.execute(select(Contact.email).where(Contact.email == "lea@example.net")).scalar_one()
        entry = s.execute(select(AuditLog).where(AuditLog.action == "rgpd_erase")).scalar_one()
        assert entry.detail["reports"] == 1 and entry.detail["contacts"] == 1
    assert not any(res.file_store.exists(d) for d in files)
    # The same mail fetched again is recognised by its key: it is not filed again.
    again, created = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    assert not created and again == raws[0].id
    # Erasing twice is a no-op; the export then finds nothing.
    assert run_cli(config_file, "rgpd", "erase", JEAN, "--oui").stdout.startswith("aucune donnée")
    assert "Aucune donnée" in run_cli(config_file, "rgpd", "export", JEAN, "--json", "vide.json").stdout
