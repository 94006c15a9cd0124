"""An agent's day in a real browser: the queue, a report with its photo, reclassify, resolve, the citizen told."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from intake.models import Correction, Outbox, Report
from intake.outbox.notify import SmtpMailer
from intake.outbox.send import send_outbox_row
from tests.browser.conftest import VIEWPORTS, GuardedPage, LiveServer
from tests.support.mail import citizen_email


def _report(live: LiveServer, number: str) -> Report:
    with live.res.factory() as s:
        return s.execute(select(Report).where(Report.tracking_number == number)).scalar_one()


def _fresh_report(live: LiveServer) -> tuple[str, str]:
    """A report of its own for a test that changes it: (tracking number, citizen's address)."""
    citizen = f"citoyen.{uuid.uuid4().hex[:8]}@example.org"
    raw = citizen_email(
        sender=f"Camille Petit <{citizen}>",
        subject="Nid de poule dangereux",
        body="Bonjour,\n\nUn nid de poule profond devant le 12 avenue Victoria, "
        "les vélos l'évitent de justesse.\n\nCamille Petit",
    )
    return str(live.email(raw).tracking_number), citizen


def test_queue_lists_the_seeded_reports(logged_in_page: Callable[..., GuardedPage], live_server: LiveServer) -> None:
    agent = logged_in_page("accueil")  # reception sees every service's reports
    agent.open("/")
    page = agent.page
    assert page.locator("h1").inner_text() == "File des signalements"
    numbers = page.locator("table.file tbody tr td:first-child a").all_inner_texts()
    for number in live_server.seeded.values():
        assert number in numbers
    row = page.locator("table.file tbody tr", has=page.get_by_role("link", name=live_server.seeded["sms"]))
    assert "sms" in row.inner_text().lower()  # the channel is shown
    # the link of a row opens its report
    page.get_by_role("link", name=live_server.seeded["email_text"]).click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == f"Signalement n° {live_server.seeded['email_text']}"
    agent.assert_clean()


def test_report_page_shows_message_and_photo(
    logged_in_page: Callable[..., GuardedPage], live_server: LiveServer
) -> None:
    agent = logged_in_page()
    number = live_server.seeded["email_photo"]
    agent.open(f"/signalements/{number}")
    page = agent.page
    message = page.locator("article.message").first
    assert "Jeanne Martin" in message.locator("h3").inner_text()
    assert "Objet : Lampadaire en panne" in message.inner_text()
    assert "ne s'allume plus" in message.locator(".texte").inner_text()
    thumb = page.locator("ul.photos img")
    assert thumb.count() == 1
    # the thumbnail really decoded in the browser (served under the CSP, no broken image)
    assert thumb.evaluate("img => img.complete && img.naturalWidth > 0")
    assert "GPS 48.85788, 2.34758" in page.locator("ul.photos li").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="photo du lampadaire.jpg", exact=True).click()
    assert download.value.suggested_filename == "photo_du_lampadaire.jpg"
    agent.assert_clean()


def test_agent_reclassifies_in_the_browser(logged_in_page: Callable[..., GuardedPage], live_server: LiveServer) -> None:
    number, _ = _fresh_report(live_server)
    before = _report(live_server, number)
    target = "graffitis" if before.category != "graffitis" else "eclairage"
    agent = logged_in_page()
    agent.open(f"/signalements/{number}")
    page = agent.page
    page.select_option("#categorie", target)
    with page.expect_navigation():
        page.locator("form", has=page.locator("#categorie")).get_by_role("button").click()
    assert page.url == f"{live_server.url}/signalements/{number}"
    assert page.get_by_role("status").inner_text() == "Catégorie enregistrée."
    assert "choisie par un agent" in page.locator("dl.fiche").inner_text()
    assert page.locator("#categorie").input_value() == target
    agent.assert_clean()
    after = _report(live_server, number)
    assert (after.category, after.category_source) == (target, "agent")
    with live_server.res.factory() as s:
        correction = s.execute(select(Correction).where(Correction.report_id == after.id)).scalar_one()
    assert (correction.old_value, correction.new_value) == (before.category, target)


def test_agent_resolves_and_the_citizen_is_told(
    logged_in_page: Callable[..., GuardedPage],
    public_page: GuardedPage,
    live_server: LiveServer,
    smtp_server: tuple[str, int, Any],
) -> None:
    number, citizen = _fresh_report(live_server)
    agent = logged_in_page()
    agent.open(f"/signalements/{number}")
    page = agent.page
    page.select_option("#statut", "resolu")
    page.fill("#note", "Le trou a été rebouché ce matin.")
    with page.expect_navigation():
        page.locator("form", has=page.locator("#statut")).get_by_role("button", name="Enregistrer").click()
    flash = page.get_by_role("status").inner_text()
    told = re.search(r"(\d+) message\(s\) aux? citoyens? en cours d'envoi", flash)
    assert "enregistré" in flash and told is not None and int(told.group(1)) >= 1, flash
    assert page.locator("#statut").input_value() == "resolu"
    agent.assert_clean()
    report = _report(live_server, number)
    assert report.status == "resolu"
    with live_server.res.factory() as s:
        row = s.execute(
            select(Outbox).where(Outbox.report_id == report.id, Outbox.kind == "status_resolu")
        ).scalar_one()
    assert (row.channel, row.recipient, row.status) == ("email", citizen, "pending")

    # what a worker does with the row: send it through the town's SMTP server (here a real aiosmtpd)
    host, port, caught = smtp_server
    mailer = SmtpMailer(live_server.res.config.smtp.model_copy(update={"host": host, "port": port}))
    assert send_outbox_row(live_server.res.factory, live_server.res.config, row.id, mailer) == "sent"
    [mail] = caught.messages
    assert mail["to"] == [citizen]
    assert number in mail["message"]["Subject"] and mail["message"]["Auto-Submitted"] == "auto-replied"
    assert "Le trou a été rebouché ce matin." in mail["message"].get_content()

    # the agent sees it left, and the citizen's public page says it is resolved
    agent.open(f"/signalements/{number}")
    assert citizen in page.locator("ol.historique").inner_text()
    public_page.open(f"/suivi/{report.public_token}")
    assert "Résolu" in public_page.page.locator("main").inner_text()


def test_screenshots_of_the_main_pages(
    logged_in_page: Callable[..., GuardedPage], new_page: Callable[..., GuardedPage], live_server: LiveServer
) -> None:
    """Queue, report and public status pages at desktop and tablet sizes, saved for a human to look at."""
    number = live_server.seeded["email_photo"]
    token = _report(live_server, number).public_token
    for size_name, size in VIEWPORTS.items():
        agent, citizen = logged_in_page("admin", viewport=size), new_page(viewport=size)
        for guarded, name, path in (
            (agent, "file", "/"),
            (agent, "signalement", f"/signalements/{number}"),
            (citizen, "suivi", f"/suivi/{token}"),
        ):
            guarded.open(path)
            shot = guarded.screenshot(f"{name}-{size_name}")
            assert shot.stat().st_size > 5000  # a real rendering, not a blank page


def test_agent_moves_the_pin_on_the_map(logged_in_page: Callable[..., GuardedPage], live_server: LiveServer) -> None:
    number, _ = _fresh_report(live_server)
    agent = logged_in_page("agent", service=_report(live_server, number).service or "voirie")
    agent.open(f"/signalements/{number}")
    page = agent.page
    map_box = page.locator("#position .pin-map")
    map_box.wait_for(state="visible")  # Leaflet loaded under the CSP
    before = page.locator("#pos-lat").input_value(), page.locator("#pos-lon").input_value()
    box = map_box.bounding_box()
    assert box is not None
    map_box.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.7})  # a click drops the pin there
    after = page.locator("#pos-lat").input_value(), page.locator("#pos-lon").input_value()
    assert after != before and all(re.fullmatch(r"-?\d+\.\d{6}", v) for v in after)
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer ce point").click()
    assert page.get_by_role("status").first.inner_text().startswith("Position enregistrée")
    agent.assert_clean()
    report = _report(live_server, number)
    assert report.location_source == "agent"
    assert (round(report.lat, 6), round(report.lon, 6)) == (float(after[0]), float(after[1]))


def test_reception_types_a_phone_call_with_an_address_suggestion(
    logged_in_page: Callable[..., GuardedPage], live_server: LiveServer
) -> None:
    desk = logged_in_page("accueil")
    desk.open("/saisie")
    page = desk.page
    page.check("#canal-telephone")
    page.fill("#nom", "Paulette Durand")
    page.fill("#email", "paulette.durand@example.fr")
    page.fill("#texte", "Un lampadaire clignote toute la nuit, elle a appelé la mairie.")
    page.locator("#adresse").press_sequentially("rue de la roq", delay=30)
    option = page.locator("#adresses-suggestions option").first
    option.wait_for(state="attached")
    label = option.get_attribute("value")
    assert label is not None and label.startswith("Rue de la Roquette")
    page.fill("#adresse", label)  # choosing the suggestion
    page.locator("#adresse").dispatch_event("input")
    page.wait_for_function("document.getElementById('lat').value !== ''")
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer le signalement").click()
    heading = page.locator("h1").inner_text()
    assert heading.startswith("Signalement n° ")
    desk.assert_clean()
    report = _report(live_server, heading.removeprefix("Signalement n° "))
    assert report.channel == "telephone" and report.location_source == "agent"
    assert 48.85 < (report.lat or 0) < 48.86


def test_status_preview_then_confirmation(logged_in_page: Callable[..., GuardedPage], live_server: LiveServer) -> None:
    number, citizen = _fresh_report(live_server)
    agent = logged_in_page()
    agent.open(f"/signalements/{number}")
    page = agent.page
    page.select_option("#statut", "en_cours")
    page.fill("#note", "Une équipe passe demain matin.")
    with page.expect_navigation():
        page.get_by_role("button", name="Voir le message au citoyen").click()
    preview = page.locator("#apercu")
    assert citizen in preview.inner_text() and "Une équipe passe demain matin." in preview.inner_text()
    assert _report(live_server, number).status != "en_cours"  # nothing changed yet
    with page.expect_navigation():
        preview.get_by_role("button", name="Confirmer et envoyer").click()
    assert "enregistré" in page.get_by_role("status").first.inner_text()
    agent.assert_clean()
    assert _report(live_server, number).status == "en_cours"
