"""`guichet up --demo-mail` (what scripts/up.sh runs): private Redis, demo mailbox, worker, web, mail catcher."""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import ROOT, base_config_data, free_port
from tests.support.procs import Processes, descendants, run, stop


@pytest.mark.skipif(
    not os.path.exists("/usr/sbin/dovecot") or os.geteuid() != 0 or not shutil.which("redis-server"),
    reason="needs root, Dovecot and redis-server (scripts/test.sh installs them)",
)
def test_up_runs_the_whole_service_and_files_dropped_mail(tmp_path: Path, processes: Processes) -> None:
    # Dovecot's unprivileged auth process must reach the demo mailbox's passwd-file under tmp_path.
    for folder in [tmp_path, *tmp_path.parents]:
        if folder == Path("/tmp") or folder == Path("/"):
            break
        folder.chmod(folder.stat().st_mode | 0o055)
    data = base_config_data()
    imap_port, smtp_port, web_port = free_port(), free_port(), free_port()
    data["mailboxes"][0]["port"] = imap_port
    # Mail arriving before the IDLE watcher's first watch is read by the periodic poll: the shortest interval, so
    # that the test waits seconds for it instead of the shipped minute.
    data["mailboxes"][0]["poll_interval"] = 5
    data["mailboxes"][0]["password"] = {"file": "var/demo-mailbox/password"}
    data["smtp"]["port"] = smtp_port
    data["routing"]["zones_file"] = str(ROOT / data["routing"]["zones_file"])  # the shipped demo zones
    data["addresses"]["reference"] = [str(ROOT / p) for p in data["addresses"]["reference"]]
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    log = (tmp_path / "up.log").open("wb")
    up = processes.start(
        [sys.executable, "-m", "intake.cli", "--config", str(config), "up", "--demo-mail", "--port", str(web_port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=2) as page:
                    assert "Connexion au Guichet" in page.read().decode()  # the queue asks to sign in first
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the web app did not answer")
        # A second start on the same folder is refused in French, and leaves the first one's files alone.
        sock = tmp_path / "var" / "redis.sock"
        assert sock.exists()
        before = sock.stat().st_ino
        second = run(
            [
                sys.executable,
                "-m",
                "intake.cli",
                "--config",
                str(config),
                "up",
                "--demo-mail",
                "--port",
                str(free_port()),
            ],
            cwd=ROOT,
            env=env,
            timeout=60,
        )
        assert second.returncode == 1 and "Traceback" not in second.stderr
        assert (
            f"Guichet tourne déjà avec ce dossier {tmp_path / 'var'} (pid {up.pid}, "
            f"http://127.0.0.1:{web_port}/)" in second.stderr
        )
        assert sock.stat().st_ino == before and "Guichet : http" not in second.stdout
        sample = ROOT / "tests" / "data" / "emails" / "guichet" / "fwd_outlook_fr.eml"
        send = run(
            [sys.executable, "-m", "intake.cli", "--config", str(config), "demo-send", str(sample)],
            cwd=ROOT,
            env=env,
            timeout=60,
        )
        assert send.returncode == 0, send.stderr
        sent_dir = tmp_path / "var" / "sent-mail"
        # Within a poll interval even if IDLE missed it; much more on a machine whose two cores are busy.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list(sent_dir.glob("*.eml")):
            time.sleep(0.5)
        time.sleep(2)  # the referents' email may follow the citizen's confirmation
        mails = [email.message_from_bytes(m.read_bytes(), policy=email.policy.default) for m in sent_dir.glob("*.eml")]
        to_citizen = [m for m in mails if m["To"] == "jean.dupont@exemple.fr" and "bien été reçu" in m["Subject"]]
        assert len(to_citizen) == 1, (tmp_path / "up.log").read_text(errors="replace")[-4000:]
        password = (tmp_path / "var" / "admin-password").read_text().strip()
        assert len(password) >= 20 and (tmp_path / "var" / "admin-password").stat().st_mode & 0o077 == 0
        browser = requests.Session()
        login = browser.get(f"http://127.0.0.1:{web_port}/connexion", timeout=5).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', login)
        assert token is not None
        queue = browser.post(
            f"http://127.0.0.1:{web_port}/connexion",
            timeout=10,
            data={"identifiant": "admin", "mot_de_passe": password, "csrf_token": token.group(1)},
        )
        assert queue.status_code == 200 and "File des signalements" in queue.text and "-00001" in queue.text
        # A dead worker is restarted, and the web keeps answering meanwhile.
        workers = [pid for pid in descendants(up.pid) if "intake.cli worker" in _cmdline(pid)]
        assert workers
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and workers[0] in descendants(up.pid):
            time.sleep(0.2)
        assert browser.get(f"http://127.0.0.1:{web_port}/", timeout=5).status_code == 200
        while time.monotonic() < deadline and not [
            pid for pid in descendants(up.pid) if "intake.cli worker" in _cmdline(pid) and pid != workers[0]
        ]:
            time.sleep(0.2)
        assert up.poll() is None
        assert [pid for pid in descendants(up.pid) if "intake.cli worker" in _cmdline(pid)], "worker not restarted"
        # Like Ctrl-C on scripts/up.sh: everything stops within seconds, without a traceback.
        took = stop(up, timeout=10, sig=signal.SIGINT)
        assert took < 5 and up.returncode == 0, took
    finally:
        log.close()
    text = (tmp_path / "up.log").read_text(errors="replace")
    assert "Traceback" not in text and "Redis inaccessible" not in text, text[-4000:]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
