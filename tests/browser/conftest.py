"""Real-browser harness: the real app behind a real WSGI server, driven by Debian's headless Chromium.

- `live_server` (package scope): `web.create_app` on 127.0.0.1 (werkzeug's threaded server in a thread) over a
  database filled through the real pipeline (raw rows stored, then `process_raw`); SQLite in a temp folder, or
  the PostgreSQL named by GUICHET_TEST_DATABASE_URL. Tests add their own reports with `live_server.email(...)`
  and `live_server.sms(...)`.
- `chromium` (session scope, tests/support/chromium.py via tests/conftest.py): one headless Chromium (Playwright
  with executable_path), closed at the end.
- `logged_in_page(role)`: a guarded page of the back office, signed in through the real sign-in form with a new
  account of that role (the one place where sign-in happens). `public_page`: a citizen's page, never signed in.
A guarded page fails its test on any console error (CSP violations are console errors), uncaught page error,
JavaScript dialog, `window.__xss` set, or request to a host other than loopback (such requests are aborted).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from intake.config import Config, parse_config
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import Outcome, process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.db import dispose_all
from intake.runtime.resources import Resources, build_resources
from tests.conftest import ROOT, DatabaseTemplate, base_config_data, free_port

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
TOWN_NUMBER = "+33999000000"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
VIEWPORTS = {"bureau": (1280, 800), "tablette": (768, 1024)}
_saved: list[Path] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here drives the browser over the database: `browser`, and `db` for the PostgreSQL pass (under
    pytest-xdist, tests/conftest.py keeps them on one worker: one live server and one Chromium serve them all)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.db)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots went, so that a human looks at them."""
    if _saved:
        terminalreporter.write_line(f"browser screenshots ({len(_saved)}): {SCREENSHOTS}")


@dataclass
class LiveServer:
    """The running back office and what was filed before it started."""

    url: str
    res: Resources
    seeded: dict[str, str] = field(default_factory=dict)  # name → tracking number
    signed_in: bool = False  # the back office asks for sign-in (web.access installed)

    def email(self, raw: bytes) -> Outcome:
        """File an email through the real pipeline, as the IMAP door would."""
        raw_id, _ = store_raw(
            self.res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw
        )
        return _processed(process_raw(self.res, raw_id))

    def sms(self, body: str, *, sender: str, **fields: str) -> Outcome:
        """File an SMS (WhatsApp: sender "whatsapp:+33...") through the real pipeline, as Twilio's webhook would."""
        sid = "SM" + uuid.uuid4().hex
        to = "whatsapp:" + TOWN_NUMBER if sender.startswith("whatsapp:") else TOWN_NUMBER
        payload = urlencode(
            {"MessageSid": sid, "From": sender, "To": to, "Body": body, "NumMedia": "0", **fields}
        ).encode()
        raw_id, _ = store_raw(self.res.factory, channel="sms", source=TOWN_NUMBER, external_key=sid, payload=payload)
        return _processed(process_raw(self.res, raw_id))


def _processed(outcome: Outcome) -> Outcome:
    assert outcome.status == "processed" and outcome.tracking_number, outcome
    return outcome


def _config(db_url: str, base: Path) -> Config:
    """The shipped configuration on the test database, storage in `base`, SMS door open, console mail."""
    data = base_config_data()
    data.update(database_url=db_url, redis_url=None, mailboxes=[])
    data["storage"] = {**data["storage"], "root": str(base / "storage")}
    data["smtp"] = {**data["smtp"], "backend": "console"}
    data["addresses"] = {**data["addresses"], "reference": [str(ROOT / p) for p in data["addresses"]["reference"]]}
    data["twilio"] = {**data["twilio"], "numbers": [TOWN_NUMBER]}
    # No internet here and the guard fails on any request off the live server: maps without a tile server.
    data["web"] = {**data["web"], "tiles_url": None}
    if data.get("routing", {}).get("zones_file"):  # the shipped demo zones, as tests/conftest.py's make_config
        data["routing"] = {**data["routing"], "zones_file": str(ROOT / data["routing"]["zones_file"])}
    return parse_config(data, base_dir=str(base))


def _seed(live: LiveServer) -> None:
    from tests.support.mail import citizen_email, jpeg_with_gps

    photo = citizen_email(
        sender="Jeanne Martin <jeanne.martin@example.org>",
        subject="Lampadaire en panne",
        attachments=[("photo du lampadaire.jpg", "image/jpeg", jpeg_with_gps(48.857876, 2.347579))],
    )
    live.seeded["email_photo"] = str(live.email(photo).tracking_number)
    trash = citizen_email(
        sender="Paul Durand <paul.durand@example.net>",
        subject="Dépôt sauvage",
        body="Bonjour,\n\nUn matelas et des cartons sont déposés sur le trottoir devant le "
        "5 avenue de l'Opéra depuis ce matin.\n\nPaul Durand",
    )
    live.seeded["email_text"] = str(live.email(trash).tracking_number)
    live.seeded["sms"] = str(
        live.sms("Bonjour, un tag énorme sur le mur de l'école rue de Rivoli", sender="+33611223344").tracking_number
    )


def _secure(app: Any) -> bool:
    """Sign-in and the route table, as in service (no-op where create_app installed them already)."""
    try:
        from web import access
    except ImportError:  # a tree from before accounts: the back office is open on loopback
        return False
    access.init_app(app)
    return True


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory, database_template: DatabaseTemplate) -> Iterator[LiveServer]:
    """The real back office on 127.0.0.1, a real WSGI server in a thread, over a seeded database."""
    from werkzeug.serving import make_server

    from web import create_app

    base = tmp_path_factory.mktemp("live")
    db_url = database_template.fresh(base)
    res = build_resources(_config(db_url, base), mailer=ConsoleMailer())
    live = LiveServer(url="", res=res)
    _seed(live)
    app = create_app(res.config, resources=res)
    live.signed_in = _secure(app)
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    live.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield live
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        res.dispose()
        dispose_all()


class GuardedPage:
    """A Playwright page that records everything a hostile or broken page would do."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.problems: list[str] = []
        self.external: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("dialog", self._dialog)
        page.context.route("**/*", self._route)

    def _console(self, msg: Any) -> None:
        if msg.type == "error":  # CSP violations, failed loads, script errors
            self.problems.append(f"console error: {msg.text} ({msg.location.get('url', '')})")

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"dialog opened ({dialog.type}): {dialog.message}")
        dialog.dismiss()

    def _route(self, route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if urlsplit(url).scheme in {"http", "https", "ws", "wss"} and host not in LOOPBACK:
            self.external.append(url)
            self.problems.append(f"request to an external host: {url}")
            route.abort()
        else:
            route.continue_()

    def open(self, path: str, *, status: int = 200, settle: bool = True) -> Any:
        """Navigate to `path` on the live server, wait until it loaded (and, with `settle`, until the network is
        idle for 500 ms: scripts' own requests done), and check it is clean."""
        response = self.page.goto(self.base_url + path, wait_until="load")
        assert response is not None and response.status == status, (path, response and response.status)
        landed = urlsplit(self.page.url)
        assert landed.path == urlsplit(path).path, f"{path} redirected to {self.page.url}"  # e.g. to sign-in
        if settle:
            self.page.wait_for_load_state("networkidle")
        self.assert_clean()
        return response

    def assert_clean(self) -> None:
        """No console error, page error, dialog or external request so far, and no injected script ran."""
        xss = self.page.evaluate("() => [typeof window.__xss, String(window.__xss)]")
        assert xss[0] == "undefined", f"injected script ran on {self.page.url}: window.__xss = {xss[1]}"
        assert not self.problems, "\n".join(self.problems)

    def screenshot(self, name: str) -> Path:
        """Save a full-page PNG of the current page at the current viewport into test-artifacts/."""
        size = self.page.viewport_size or {"width": 0, "height": 0}
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}-{size['width']}x{size['height']}.png"
        self.page.screenshot(path=str(path), full_page=True)
        _saved.append(path)
        return path


@pytest.fixture
def new_page(chromium: Any, live_server: LiveServer) -> Iterator[Callable[..., GuardedPage]]:
    """Open guarded pages in fresh French browser contexts; every one must stay clean until the test ends."""
    pages: list[GuardedPage] = []
    contexts: list[Any] = []

    def make(*, viewport: tuple[int, int] = VIEWPORTS["bureau"]) -> GuardedPage:
        context = chromium.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            locale="fr-FR",
            timezone_id="Europe/Paris",
            accept_downloads=True,
        )
        contexts.append(context)
        guarded = GuardedPage(context.new_page(), live_server.url)
        pages.append(guarded)
        return guarded

    yield make
    problems = [p for guarded in pages for p in guarded.problems]
    for context in contexts:
        context.close()
    if problems:
        pytest.fail("browser problems:\n" + "\n".join(problems))


@pytest.fixture
def logged_in_page(new_page: Callable[..., GuardedPage], live_server: LiveServer) -> Callable[..., GuardedPage]:
    """A back-office page signed in, through the real sign-in form, with a new account of `role`.

    Roles are intake.backoffice.accounts.ROLES (accueil, agent, admin, technicien); an agent or a technician belongs
    to `service` (voirie by default) and only reaches that service's reports. Every back-office browser test goes
    through this fixture.
    """

    def make(role: str = "admin", *, service: str | None = None, **options: Any) -> GuardedPage:
        guarded = new_page(**options)
        if live_server.signed_in:
            _sign_in(guarded, live_server, role, service)
        return guarded

    return make


def _sign_in(guarded: GuardedPage, live: LiveServer, role: str, service: str | None) -> None:
    from intake.backoffice.accounts import create_user

    username = f"{role}-{uuid.uuid4().hex[:8]}"
    password = "un mot de passe de navigateur assez long"
    with live.res.factory() as session, session.begin():
        create_user(
            session,
            live.res.config,
            username=username,
            password=password,
            role=role,
            service=service or ("voirie" if role in ("agent", "technicien") else None),
            display_name=username.title(),
        )
    guarded.open("/connexion")
    page = guarded.page
    page.fill("#identifiant", username)
    page.fill("#mot_de_passe", password)
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()
    assert not page.url.startswith(f"{live.url}/connexion"), f"sign-in refused for {username}"
    guarded.assert_clean()


@pytest.fixture
def public_page(new_page: Callable[..., GuardedPage]) -> GuardedPage:
    """A citizen's page: never signed in."""
    return new_page()
