"""The work order: an A4 PDF in French, read back as text; attached to the referents' email when asked for."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from intake.config import Config
from intake.media.images import MediaError, served_copy
from intake.models import AuditLog, Outbox, Report
from intake.outbox.notify import ConsoleMailer, send_email_row
from intake.outbox.referents import notify_referents
from intake.outbox.workorder import render_workorder
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.reports.statuses import change_status
from intake.runtime.resources import Resources, build_resources
from tests.conftest import CaughtMail
from tests.media.imaging import FIXTURES
from tests.support.mail import citizen_email, jpeg_with_gps
from tests.support.web import signed_in
from web import create_app

LAT, LON = 48.853989, 2.371195  # 24 rue de la Roquette, in the shipped reference
DESCRIPTION = "Une grosse branche est tombée sur le trottoir, appelez-moi au 06 12 34 56 78."


def _report(res: Resources, service: str = "espaces-verts") -> str:
    """A report from an email with a geotagged photo, given to `service` and transmitted; its number."""
    raw = citizen_email(
        subject="Branche tombée",
        body=DESCRIPTION,
        message_id=f"{uuid.uuid4().hex}@example.org",
        attachments=[("branche.jpg", "image/jpeg", jpeg_with_gps(LAT, LON))],
    )
    rid, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    outcome = process_raw(res, rid)
    assert outcome.status == "processed" and outcome.report_id is not None
    with res.factory() as s, s.begin():
        report = s.get(Report, outcome.report_id)
        assert report is not None and report.lat == pytest.approx(LAT, abs=1e-4)
        report.category, report.service = "vegetaux", service
        change_status(s, res.config, report, "transmis", actor="m.dupont", note="Intervention demandée demain")
        return report.tracking_number


def _text(pdf: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return reader, "\n".join(page.extract_text() or "" for page in reader.pages)


def test_work_order_pdf_carries_what_the_technician_needs(make_config: Callable[..., Config]) -> None:
    res = build_resources(make_config(), mailer=ConsoleMailer())
    number = _report(res)
    with res.factory() as s:
        report = s.execute(select(Report).where(Report.tracking_number == number)).scalar_one()
        pdf = render_workorder(s, res.config, report, res.file_store)
    assert pdf.startswith(b"%PDF-")
    reader, text = _text(pdf)
    box = reader.pages[0].mediabox
    assert (round(float(box.width) * 25.4 / 72), round(float(box.height) * 25.4 / 72)) == (210, 297)  # A4
    flat = " ".join(text.split())
    assert "Fiche d'intervention" in flat and number in flat
    assert "Arbres, végétaux et animaux" in flat and "Espaces verts" in flat
    assert "Rue de la Roquette" in flat  # the address, and the street names drawn on the map
    assert "48.85" in flat and "2.37" in flat
    assert "Une grosse branche est tombée sur le trottoir" in flat
    assert "06 12 34 56 78" not in flat  # the citizen's contacts are masked for the field
    assert "Intervention demandée demain" in flat and "Transmis" in flat  # the history
    assert f"http://localhost:8000/terrain/{number}" in "".join(text.split())  # the QR code's target, printed
    assert sum(len(page.images) for page in reader.pages) >= 1  # the citizen's photo


def test_work_order_without_position_says_so(make_config: Callable[..., Config]) -> None:
    res = build_resources(make_config(), mailer=ConsoleMailer())
    raw = citizen_email(subject="Arbre", body="Un arbre penche dangereusement.", message_id=f"{uuid.uuid4().hex}@x.org")
    rid, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    report_id = process_raw(res, rid).report_id
    with res.factory() as s:
        report = s.get(Report, report_id)
        assert report is not None and report.lat is None
        _, text = _text(render_workorder(s, res.config, report, res.file_store))
    assert "Position inconnue" in " ".join(text.split())
    # Importing WeasyPrint turned Pillow's LOAD_TRUNCATED_IMAGES on for the process: the doors of this worker
    # must still refuse a truncated photo after a work order was made.
    whole = (FIXTURES / "openpotbot_fixmystreet/photo_2.JPG").read_bytes()  # 1296 x 968, cut in half below
    with pytest.raises(MediaError, match="illisible"):
        served_copy(whole[: len(whole) // 2])


def _referent_mail(res: Resources, number: str) -> list[int]:
    """The referents' outbox rows of the report (queued when it was transmitted, or now)."""
    with res.factory() as s, s.begin():
        report = s.execute(select(Report).where(Report.tracking_number == number)).scalar_one()
        notify_referents(s, res.config, report)  # once per (report, service, referent): no second row
        return list(
            s.execute(select(Outbox.id).where(Outbox.report_id == report.id, Outbox.kind.like("referent:%"))).scalars()
        )


def test_referents_email_carries_the_pdf_when_the_service_asks(
    make_config: Callable[..., Config], smtp_server: tuple[str, int, CaughtMail]
) -> None:
    host, port, caught = smtp_server
    res = build_resources(make_config(smtp={"backend": "smtp", "host": host, "port": port}))
    with_pdf, without = _report(res, "espaces-verts"), _report(res, "voirie")  # work_order_pdf: true / unset
    assert res.config.service("espaces-verts").work_order_pdf and not res.config.service("voirie").work_order_pdf
    for number in (with_pdf, without):
        [row_id] = _referent_mail(res, number)
        assert send_email_row(res.factory, res.config, row_id, res.mailer) == "sent"
    by_number: dict[str, Any] = {
        m["message"]["Subject"].split("n° ")[1].split(" ")[0]: m["message"] for m in caught.messages
    }
    message = by_number[with_pdf]
    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(("plain",)).get_content()
    assert f"/signalements/{with_pdf}" in body and "Bonjour" in body  # the text part survived, decoded once
    assert f"Page de terrain (technicien) : http://localhost:8000/terrain/{with_pdf}" in body
    [pdf_part] = list(message.iter_attachments())
    assert pdf_part.get_content_type() == "application/pdf"
    assert pdf_part.get_filename() == f"fiche-intervention-{with_pdf}.pdf"
    _, text = _text(pdf_part.get_content())
    assert with_pdf in text and "Fiche d'intervention" in text
    plain = by_number[without]
    assert plain.get_content_type() == "text/plain" and not list(plain.iter_attachments())
    with res.factory() as s:
        assert s.execute(select(Outbox.status).where(Outbox.kind.like("referent:%"))).scalars().all() == ["sent"] * 2


def test_agents_download_the_work_order_of_their_service_only(make_config: Callable[..., Config]) -> None:
    res = build_resources(make_config(), mailer=ConsoleMailer())
    number = _report(res, "espaces-verts")
    app = create_app(res.config, resources=res)
    admin = signed_in(app, "admin")
    page = admin.get(f"/signalements/{number}").get_data(as_text=True)
    assert f"/signalements/{number}/fiche-intervention.pdf" in page and "Fiche d'intervention (PDF)" in page
    answer = admin.get(f"/signalements/{number}/fiche-intervention.pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert f"fiche-intervention-{number}.pdf" in answer.headers["Content-Disposition"]
    assert number in _text(answer.get_data())[1]
    url = f"/signalements/{number}/fiche-intervention.pdf"
    assert signed_in(app, "agent", "espaces-verts").get(url).status_code == 200
    refused = signed_in(app, "agent", "voirie").get(url)
    assert refused.status_code == 403 and "autre service" in refused.get_data(as_text=True)
    assert admin.get("/signalements/2026-99999/fiche-intervention.pdf").status_code == 404
    with res.factory() as s:
        audited = s.execute(select(AuditLog.status).where(AuditLog.action == "report.workorder_pdf")).scalars().all()
    assert sorted(audited) == [200, 200, 403]  # every download of a known report is audited, refusals too
