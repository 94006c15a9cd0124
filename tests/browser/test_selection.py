"""Actions on a selection in a real browser: tick the page, preview what citizens are told, confirm."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select

from intake.models import AuditLog, Outbox, Report
from tests.browser.conftest import GuardedPage, LiveServer
from tests.support.mail import citizen_email


def test_agent_ticks_the_page_previews_and_changes_the_status(
    logged_in_page: Callable[..., GuardedPage], live_server: LiveServer
) -> None:
    word = "lot" + uuid.uuid4().hex[:8]  # these reports alone match the search: the other tests' stay untouched
    numbers, citizens = [], []
    for i in range(3):
        citizen = f"citoyen.{uuid.uuid4().hex[:8]}@example.org"
        raw = citizen_email(
            sender=f"Camille {i} <{citizen}>",
            subject=f"Banc cassé {word}",
            body=f"Bonjour,\n\nLe banc numéro {i} du square est cassé ({word}).\n\nCamille",
        )
        numbers.append(str(live_server.email(raw).tracking_number))
        citizens.append(citizen)
    agent = logged_in_page("admin")
    agent.open(f"/?q={word}")
    page = agent.page
    boxes = page.locator('input[type="checkbox"][name="n"]')
    assert boxes.count() == 3
    page.get_by_label("tout sélectionner sur la page").check()
    assert [boxes.nth(i).is_checked() for i in range(3)] == [True] * 3
    boxes.nth(2).uncheck()  # "tout sélectionner" now shows a partial selection
    assert page.locator("#tout-selectionner").evaluate("box => box.indeterminate && !box.checked")
    page.locator("#tout-selectionner").check()
    page.select_option("#statut", "en_cours")
    page.fill("#sel-note", "Une équipe passe demain matin.")
    agent.screenshot("selection-file")
    with page.expect_navigation():
        page.get_by_role("button", name="Voir les messages aux citoyens").click()
    preview = page.locator("main").inner_text() if page.locator("main").count() else page.inner_text("body")
    assert "Passage au statut « En cours » de 3 signalement(s)" in preview
    for number, citizen in zip(numbers, citizens, strict=True):
        assert f"Signalement n° {number}" in preview and citizen in preview
    assert preview.count("Une équipe passe demain matin.") >= 3
    with live_server.res.factory() as s:
        assert {r.status for r in s.execute(select(Report).where(Report.tracking_number.in_(numbers))).scalars()} != {
            "en_cours"
        }  # nothing changed before the confirmation
    agent.screenshot("selection-apercu")
    with page.expect_navigation():
        page.get_by_role("button", name="Confirmer et envoyer").click()
    assert page.url.endswith(f"/?q={word}")
    flash = page.get_by_role("status").first.inner_text()
    assert "3 signalement(s) passé(s) au nouveau statut" in flash and "3 message(s) en cours d'envoi" in flash
    agent.assert_clean()
    with live_server.res.factory() as s:
        reports = s.execute(select(Report).where(Report.tracking_number.in_(numbers))).scalars().all()
        ids = [r.id for r in reports]
        told = (
            s.execute(select(Outbox.recipient).where(Outbox.report_id.in_(ids), Outbox.kind == "status_en_cours"))
            .scalars()
            .all()
        )
        audited = (
            s.execute(
                select(AuditLog.report_id).where(AuditLog.action == "selection.statut", AuditLog.report_id.in_(ids))
            )
            .scalars()
            .all()
        )
    assert {r.status for r in reports} == {"en_cours"}
    assert sorted(told) == sorted(citizens)
    assert sorted(audited) == sorted(ids)  # one audit entry per report
