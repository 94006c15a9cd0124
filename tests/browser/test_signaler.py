"""/signaler in headless Chromium at phone size (390×844): filled and sent like a citizen would, checked with
axe-core (vendored under tests/browser/vendor/axe-core, evaluated through DevTools so the page's CSP stays
whole), under hostile input (names, descriptions, file names, SVG), with screenshots in test-artifacts/."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from intake.models import Attachment, Report
from tests.browser.conftest import GuardedPage, LiveServer
from tests.browser.test_xss import DOM_AUDIT, OTHER, RUNNING, SVG
from tests.support.mail import jpeg_with_gps
from web.security import secret_key
from web.signaler import TOKEN_SALT

PHONE = (390, 844)
AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
AXE_RUN = """async () => {
  const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
}"""


def serious_violations(guarded: GuardedPage) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations of impact serious or critical on the current page."""
    if not guarded.page.evaluate("() => typeof window.axe !== 'undefined'"):
        guarded.page.evaluate(AXE)
    found: list[dict[str, Any]] = guarded.page.evaluate(AXE_RUN)
    return [v for v in found if v["impact"] in ("serious", "critical")]


def aged_token(live: LiveServer, seconds: float = 10) -> str:
    """A form token signed with the server's key as if the form had been opened `seconds` ago."""

    class Past(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - seconds)

    nonce = f"{time.time_ns():032x}"[-32:]
    return URLSafeTimedSerializer(secret_key(live.res.config), salt=TOKEN_SALT, signer=Past).dumps(nonce)


def _send(guarded: GuardedPage, live: LiveServer) -> None:
    """Send the form as opened a while ago (the time check itself is tested in tests/web/test_signaler.py)."""
    page = guarded.page
    page.eval_on_selector("input[name=jeton]", "(el, value) => { el.value = value; }", aged_token(live))
    with page.expect_navigation():
        page.get_by_role("button", name="Envoyer le signalement").click()


def _refused(guarded: GuardedPage, status: int) -> None:
    """The page of a refused send came with its HTTP status, which Chromium logs as a failed load: expected."""
    expected = f"the server responded with a status of {status}"
    logged = [p for p in guarded.problems if expected in p and p.endswith("/signaler)")]
    assert len(logged) == 1, guarded.problems
    guarded.problems.remove(logged[0])


def _report(live: LiveServer, number: str) -> Report:
    with live.res.factory() as s:
        report = s.execute(select(Report).where(Report.tracking_number == number)).scalar_one()
        s.expunge(report)
        return report


def test_citizen_reports_from_a_phone_with_suggestion_pin_and_photo(
    new_page: Callable[..., GuardedPage], live_server: LiveServer
) -> None:
    guarded = new_page(viewport=PHONE)
    guarded.open("/signaler")
    page = guarded.page
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE[0]  # no sideways scrolling
    assert serious_violations(guarded) == []
    guarded.screenshot("signaler-formulaire")
    page.select_option("#categorie", "eclairage")
    page.fill("#description", "Le lampadaire devant chez moi clignote toute la nuit.")
    page.locator("#adresse").press_sequentially("12 rue de la Roq")
    page.wait_for_function("() => document.querySelectorAll('#adresses-suggestions option').length > 0")
    label = page.eval_on_selector("#adresses-suggestions option", "o => o.value")
    assert "Roquette" in label
    page.fill("#adresse", label)  # choosing the suggestion fills the coordinates and moves the pin
    page.wait_for_function("() => document.getElementById('lat').value !== ''")
    suggested = page.input_value("#lat")
    page.keyboard.press("Escape")  # closes the list of suggestions
    box = page.locator("#carte").bounding_box()
    assert box is not None
    page.locator("#carte").click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.7})  # moves the point
    page.wait_for_function("v => document.getElementById('lat').value !== v", arg=str(suggested))
    pinned = float(page.input_value("#lat")), float(page.input_value("#lon"))
    assert pinned[0] != float(suggested)
    page.set_input_files(
        "#photo", files=[{"name": "lampadaire.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_gps(48.8534, 2.3488)}]
    )
    offer = page.locator("#position-photo")  # the photo's GPS, read in the browser, is offered as the point
    offer.wait_for(state="visible")
    assert "(48.85340, 2.34880)" in offer.inner_text()
    assert (page.input_value("#lat"), page.input_value("#lon")) == (f"{pinned[0]:.6f}", f"{pinned[1]:.6f}")
    offer.focus()
    page.keyboard.press("Enter")  # taken, from the keyboard
    page.wait_for_function("() => document.getElementById('lat').value === '48.853400'")
    assert page.input_value("#lon") == "2.348800"
    assert "placé à la position de la photo" in page.inner_text(".position-photo")
    guarded.screenshot("signaler-position-photo")
    pinned = (48.8534, 2.3488)
    page.fill("#nom", "Claire Petit")
    page.fill("#email", "claire.petit@example.fr")
    guarded.screenshot("signaler-rempli")
    _send(guarded, live_server)
    guarded.assert_clean()
    number = page.inner_text("#numero")
    report = _report(live_server, number)
    assert report.channel == "formulaire" and report.category == "eclairage" and report.location_source == "pin"
    assert (round(report.lat, 6), round(report.lon, 6)) == pinned
    assert page.get_attribute("#lien-suivi", "href") == live_server.res.config.status_url(report.public_token)
    with live_server.res.factory() as s:
        photo = s.execute(select(Attachment).where(Attachment.report_id == report.id)).scalar_one()
    assert photo.is_image and photo.gps_lat is None  # stripped before storage
    assert serious_violations(guarded) == []
    guarded.screenshot("signaler-confirmation")


def test_errors_are_announced_focused_and_reachable_by_keyboard(
    new_page: Callable[..., GuardedPage], live_server: LiveServer
) -> None:
    guarded = new_page(viewport=PHONE)
    guarded.open("/signaler")
    page = guarded.page
    page.fill("#email", "pas-une-adresse")
    _send(guarded, live_server)
    _refused(guarded, 422)
    guarded.assert_clean()
    summary = page.locator("#erreurs")
    assert summary.get_attribute("role") == "alert"
    assert page.evaluate("() => document.activeElement.id") == "erreurs"  # read out and focused at once
    assert "Décrivez le problème" in summary.inner_text() and "Adresse électronique invalide" in summary.inner_text()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.getAttribute('href')") == "#description"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'description'")
    assert page.get_attribute("#description", "aria-invalid") == "true"
    assert page.input_value("#email") == "pas-une-adresse"  # what was typed is kept
    assert serious_violations(guarded) == []
    guarded.screenshot("signaler-erreurs")


def test_hostile_names_descriptions_file_names_and_svg_run_nothing(
    new_page: Callable[..., GuardedPage], logged_in_page: Callable[..., GuardedPage], live_server: LiveServer
) -> None:
    payload = " ".join(RUNNING[:5] + OTHER[:2])
    guarded = new_page(viewport=PHONE)
    guarded.open("/signaler")
    page = guarded.page
    page.fill("#description", f"Nid de poule devant le 12 rue de la Roquette {payload}")
    page.fill("#adresse", RUNNING[1])
    page.fill("#nom", payload[:200])
    page.set_input_files("#photo", files=[{"name": "plan.svg", "mimeType": "image/svg+xml", "buffer": SVG}])
    _send(guarded, live_server)
    page.wait_for_load_state("networkidle")  # any load an injected tag would start has ended
    _refused(guarded, 422)
    guarded.assert_clean()
    assert "pas une photo" in page.inner_text("#erreurs")
    assert page.evaluate(DOM_AUDIT) == []
    assert page.input_value("#nom") == payload[:200]  # kept as text
    page.set_input_files(
        "#photo",
        files=[{"name": f"{RUNNING[2]}.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_gps(48.8534, 2.3488)}],
    )
    page.fill("#adresse", "12 rue de la Roquette")
    _send(guarded, live_server)
    page.wait_for_load_state("networkidle")
    guarded.assert_clean()
    number = page.inner_text("#numero")
    assert page.evaluate(DOM_AUDIT) == []
    agent = logged_in_page()
    agent.open(f"/signalements/{number}")
    agent.page.wait_for_load_state("networkidle")
    agent.assert_clean()
    assert agent.page.evaluate(DOM_AUDIT) == []
    assert RUNNING[0] in agent.page.locator("main").inner_text()  # shown as text to the agent
