"""A newcomer's first hour, as README.md tells it: a clean clone, README's setup command, sign in, the demo mail.

The setup and demo-send commands are read from README.md (as .ci/run reads the test command), so that README and
this test cannot disagree. What differs from a newcomer's machine, and why:
- `GUICHET_BASE_VENV` (scripts/up.sh): the clone's fresh .venv also sees this checkout's installed packages, so
  that up.sh's own pip commands run but find the pinned dependencies already there and install only Guichet
  itself (about a minute on a loaded machine instead of three of installing 660 MB). The venv is still created by
  up.sh, Guichet is installed by up.sh into it (editable, from the clone) and every process runs the clone's code.
- `GUICHET_CONFIG` (README: "points to another file") names a copy of the clone's config.yaml, written beside it
  so that its relative paths and var/ stay the clone's, with free ports (other tests and engineers share this
  machine) and `web.tiles_url` on a local tile stub (no internet here); the web port is given as `--port`.
It runs in the SQLite pass only (not marked `db`, so `-m db` leaves it out, and skipped when
GUICHET_TEST_DATABASE_URL is set): the shipped configuration is SQLite.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import ROOT, free_port
from tests.support.procs import Processes, run, stop

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
TILE_PATH = re.compile(r"^/tuiles/(\d+)/(\d+)/(\d+)\.png$")


def readme_command(readme: str, *, after: str | None = None, containing: str | None = None) -> str:
    """The first command of README.md (a line indented by four spaces) after the line starting with `after`, or
    the first one containing `containing`; as .ci/run finds the test command."""
    found = after is None
    for line in readme.splitlines():
        if not found and after is not None and line.startswith(after):
            found = True
        elif found and re.match(r"^    [^ ]", line) and (containing is None or containing in line):
            return line[4:].strip()
    raise AssertionError(f"README.md: no command after {after!r} containing {containing!r}")


def _png(size: int = 256) -> bytes:
    """A plain light-grey PNG tile (what a tile server sends), built without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xdd\xdd\xdd" * size for _ in range(size))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class TileStub:
    """A local tile server: answers /tuiles/{z}/{x}/{y}.png with a PNG and records what was asked."""

    def __init__(self) -> None:
        self.requested: list[str] = []
        tile, requested = _png(), self.requested

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                requested.append(self.path)
                if not TILE_PATH.match(self.path):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(tile)))
                self.end_headers()
                self.wfile.write(tile)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tuiles/{{z}}/{{x}}/{{y}}.png"
        self.thread = threading.Thread(target=self.server.serve_forever, name="tile-stub", daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def tile_stub() -> Iterator[TileStub]:
    """The local tile server of one test."""
    stub = TileStub()
    try:
        yield stub
    finally:
        stub.close()


@pytest.fixture
def newcomer_folder() -> Iterator[Path]:
    """A folder for the clone directly under /tmp, mode 0755: Dovecot's unprivileged auth process must reach the
    demo mailbox's passwd-file, and pytest's own base folder is 0700 (put back to 0700 by every pytest run that
    starts meanwhile on this machine, so opening it up would not last)."""
    folder = Path(tempfile.mkdtemp(prefix="guichet-newcomer-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _under(folder: Path) -> list[str]:
    """The processes running from `folder` (working directory or command line), other than this one."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (str(folder) in cmdline or cwd == str(folder) or cwd.startswith(f"{folder}/")):
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-5000:] if path.exists() else "(no log)"


@pytest.mark.browser
@pytest.mark.skipif(
    bool(os.environ.get("GUICHET_TEST_DATABASE_URL")),
    reason="SQLite pass only: README's setup runs the shipped configuration, on SQLite",
)
@pytest.mark.timeout(900)  # a fresh venv, the model loaded twice, Chromium: minutes on a loaded 2-core machine
@pytest.mark.skipif(
    not os.path.exists("/usr/sbin/dovecot")
    or os.geteuid() != 0
    or not shutil.which("redis-server")
    or not shutil.which("git"),
    reason="needs root, git, Dovecot and redis-server (scripts/test.sh installs them)",
)
def test_readme_setup_and_demo_in_a_clean_clone(
    tmp_path: Path, newcomer_folder: Path, processes: Processes, chromium: Any, tile_stub: TileStub
) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme_command(readme, after="Set up and run")
    demo_send = readme_command(readme, containing="demo-send")
    assert setup == "scripts/up.sh" and demo_send.startswith(".venv/bin/guichet demo-send "), (setup, demo_send)
    clone = newcomer_folder / "guichet"
    head = run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], timeout=60).stdout.strip()
    cloned = run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(clone)], timeout=120)
    assert cloned.returncode == 0, cloned.stderr
    checkout = run(["git", "-C", str(clone), "checkout", "--quiet", "--detach", head], timeout=120)
    assert checkout.returncode == 0, checkout.stderr
    assert not (clone / ".venv").exists() and not (clone / "var").exists()

    data = yaml.safe_load((clone / "config.yaml").read_text(encoding="utf-8"))
    imap_port, smtp_port, web_port = free_port(), free_port(), free_port()
    mailbox = next(box for box in data["mailboxes"] if box["name"] == "mairie")
    mailbox["port"] = imap_port
    mailbox["poll_interval"] = 5  # mail dropped before the IDLE watcher's first watch: seconds, not a minute
    data["smtp"]["port"] = smtp_port
    data["web"]["tiles_url"] = tile_stub.url
    data["web"]["tiles_attribution"] = "tuiles de test"
    config = clone / "config-essai.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GUICHET_") and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    }
    env.update(GUICHET_CONFIG=str(config), GUICHET_BASE_VENV=sys.prefix)

    log_path = tmp_path / "up.log"
    url = f"http://127.0.0.1:{web_port}/"
    with log_path.open("wb") as log:
        up = processes.start(
            ["bash", "-c", f"{setup} --port {web_port}"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_for_sign_in_page(url, up, log_path, deadline=time.monotonic() + 480)
            assert (clone / ".venv" / "bin" / "guichet").exists()  # up.sh made the clone's own venv
            _newcomer_in_chromium(chromium, url, clone, demo_send, env, tile_stub, log_path)
        finally:
            took = stop(up, timeout=20, sig=signal.SIGTERM)
    assert up.returncode == 0 and took < 20, (up.returncode, took, _log_tail(log_path))
    deadline = time.monotonic() + 20  # children of children (Dovecot's own) may take a moment more
    while time.monotonic() < deadline and (_under(clone) or not _port_free(web_port)):
        time.sleep(0.2)
    assert _under(clone) == [], _under(clone)
    for port in (web_port, imap_port, smtp_port):
        assert _port_free(port), f"port {port} still taken after the stop"
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[-5000:]
    assert f"Guichet : {url}   (Ctrl-C pour arrêter)" in text  # the address the newcomer is told to open


def _wait_for_sign_in_page(url: str, up: subprocess.Popen[Any], log_path: Path, *, deadline: float) -> None:
    """Poll the back office until it asks to sign in (up.sh installs first: minutes at worst)."""
    while time.monotonic() < deadline:
        if up.poll() is not None:
            pytest.fail(f"scripts/up.sh stopped (code {up.returncode}):\n{_log_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as page:
                if "Connexion au Guichet" in page.read().decode():
                    return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"{url} did not answer:\n{_log_tail(log_path)}")


def _newcomer_in_chromium(
    chromium: Any, url: str, clone: Path, demo_send: str, env: dict[str, str], tile_stub: TileStub, log_path: Path
) -> None:
    """Sign in with var/admin-password, drop the demo mail, see its report in the queue, and its map's tiles."""
    password_file = clone / "var" / "admin-password"
    password = password_file.read_text().strip()
    assert len(password) >= 20 and password_file.stat().st_mode & 0o077 == 0
    problems: list[str] = []
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR", timezone_id="Europe/Paris")
    try:

        def route(request_route: Any) -> None:
            target = request_route.request.url
            if urlsplit(target).scheme in {"http", "https"} and (urlsplit(target).hostname or "") not in LOOPBACK:
                problems.append(f"request to an external host: {target}")
                request_route.abort()
            else:
                request_route.continue_()

        context.route("**/*", route)
        page = context.new_page()
        page.on(
            "console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        )
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.goto(url + "connexion", wait_until="load")
        page.fill("#identifiant", "admin")
        page.fill("#mot_de_passe", password)
        with page.expect_navigation():
            page.get_by_role("button", name="Se connecter").click()
        assert not page.url.startswith(url + "connexion"), "sign-in refused with var/admin-password"
        assert "File des signalements" in page.content()

        sent = run(["bash", "-c", demo_send], cwd=clone, env=env, timeout=120)
        assert sent.returncode == 0, sent.stderr
        deadline = time.monotonic() + 240  # IDLE or the 5 s poll; the worker loads the model first
        while not page.locator("a", has_text=re.compile(r"\d{4}-00001")).count():
            if time.monotonic() > deadline:
                pytest.fail(f"the demo mail is not in the queue:\n{_log_tail(log_path)}")
            time.sleep(2)
            page.goto(url, wait_until="load")

        page.goto(url + "carte", wait_until="load")
        tile = page.locator("#carte-signalements img.leaflet-tile-loaded").first
        tile.wait_for(state="attached", timeout=60_000)
        drawn = tile.evaluate("img => [img.complete, img.naturalWidth, img.src]")
        assert drawn[0] and drawn[1] == 256 and drawn[2].startswith(tile_stub.url.split("{")[0]), drawn
        assert any(TILE_PATH.match(path) for path in tile_stub.requested), tile_stub.requested
        assert page.locator(".carte-sans-fond").count() == 0  # tiles.js's "Fond de carte indisponible"
        assert not problems, "\n".join(problems)
    finally:
        context.close()
