"""The technician's field page on a phone (390×844): the work order, a photo after, a note, "résolu"."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable

from PIL import Image
from sqlalchemy import select

from intake.models import Event, Outbox, Report
from tests.browser.conftest import GuardedPage, LiveServer
from tests.browser.test_signaler import serious_violations
from tests.support.mail import citizen_email, jpeg_with_gps

PHONE = (390, 844)


def _photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 150, 60)).save(buf, "JPEG")
    return buf.getvalue()


def test_technician_closes_the_job_from_a_phone(
    logged_in_page: Callable[..., GuardedPage], live_server: LiveServer
) -> None:
    citizen = f"citoyen.{uuid.uuid4().hex[:8]}@example.org"
    raw = citizen_email(
        sender=f"Camille Petit <{citizen}>",
        subject="Banc cassé",
        body="Bonjour,\n\nLe banc du square Trousseau est cassé.\n\nCamille",
        attachments=[("banc.jpg", "image/jpeg", jpeg_with_gps(48.851, 2.3775))],
    )
    number = str(live_server.email(raw).tracking_number)
    with live_server.res.factory() as s, s.begin():
        report = s.execute(select(Report).where(Report.tracking_number == number)).scalar_one()
        report.service, report.category, report.status = "voirie", "mobilier_urbain", "transmis"

    tech = logged_in_page("technicien", service="voirie", viewport=PHONE)
    page = tech.page
    assert page.url.endswith("/terrain")  # signed in, a technician lands on their work orders
    assert page.get_by_role("link", name="Mes interventions").is_visible()
    tech.screenshot("terrain-liste")
    assert serious_violations(tech) == []  # axe-core, WCAG 2.1 A/AA
    with page.expect_navigation():
        page.get_by_role("link", name=number).click()
    assert page.locator("h1").inner_text() == f"Intervention n° {number}"
    assert "Le banc du square Trousseau est cassé." in page.locator(".texte").inner_text()
    assert "(d'après la position)" in page.locator("dl.fiche").inner_text()  # the nearest address of the reference
    assert page.locator("ul.photos img").first.evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE[0]  # no sideways scrolling
    tech.screenshot("terrain-fiche")
    assert serious_violations(tech) == []

    page.set_input_files("#photo", files=[{"name": "apres.jpg", "mimeType": "image/jpeg", "buffer": _photo()}])
    page.fill("#note", "Banc remplacé, zone nettoyée.")
    page.get_by_label("Résolu").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer").click()
    flash = page.get_by_role("status").first.inner_text()
    assert "Intervention enregistrée (statut : Résolu)" in flash and "1 message(s) aux citoyens" in flash
    after = page.locator("ul.photos img[alt^='Photo après intervention']")
    assert after.count() == 1 and after.evaluate("img => img.complete && img.naturalWidth > 0")
    assert "Banc remplacé, zone nettoyée." in page.locator("ol.historique").inner_text()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE[0]
    tech.screenshot("terrain-apres")
    tech.assert_clean()

    with live_server.res.factory() as s:
        report = s.execute(select(Report).where(Report.tracking_number == number)).scalar_one()
        told = (
            s.execute(select(Outbox.recipient).where(Outbox.report_id == report.id, Outbox.kind == "status_resolu"))
            .scalars()
            .all()
        )
        photos = (
            s.execute(select(Event.id).where(Event.report_id == report.id, Event.action == "field_photo"))
            .scalars()
            .all()
        )
    assert report.status == "resolu" and told == [citizen] and len(photos) == 1

    # an agent of the service sees the photo after on the report page
    agent = logged_in_page("agent", service="voirie")
    agent.open(f"/signalements/{number}")
    shown = agent.page.locator(f"img[src$='/photos/{photos[0]}/miniature']")
    assert shown.count() == 1 and shown.evaluate("img => img.complete && img.naturalWidth > 0")
    agent.assert_clean()


def test_work_order_qr_code_leads_to_the_field_page(
    new_page: Callable[..., GuardedPage], live_server: LiveServer
) -> None:
    """The QR code of the work order, drawn by Chromium and read back by a real decoder, is the field page's URL."""
    import zxingcpp

    from intake.outbox.workorder import workorder_html

    raw = citizen_email(subject="Lampadaire", body="Le lampadaire clignote.", message_id=f"{uuid.uuid4().hex}@x.org")
    number = str(live_server.email(raw).tracking_number)
    with live_server.res.factory() as s:
        report = s.execute(select(Report).where(Report.tracking_number == number)).scalar_one()
        document = workorder_html(s, live_server.res.config, report, live_server.res.file_store)
    guarded = new_page()
    guarded.page.set_content(document, wait_until="load")
    png = guarded.page.locator(".qr svg").screenshot()
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found.text == f"{live_server.res.config.town.public_url}/terrain/{number}"
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    guarded.assert_clean()
