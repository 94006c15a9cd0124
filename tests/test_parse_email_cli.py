"""`guichet parse-email`: the JSON contract other tools rely on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import ROOT
from tests.support.cli import run_guichet
from tests.support.mail import citizen_email, jpeg_with_gps

DATA = ROOT / "tests" / "data" / "emails"
KEYS = {"file", "ok", "sender", "forwarded_by", "subject", "text", "attachments", "auto_reply", "error"}


def _run(*files: str) -> subprocess.CompletedProcess[str]:
    return run_guichet(["parse-email", *files])


def test_one_json_object_per_file(tmp_path: Path) -> None:
    photo = tmp_path / "photo.eml"
    photo.write_bytes(citizen_email(attachments=[("rue.jpg", "image/jpeg", jpeg_with_gps(48.8566, 2.3522))]))
    files = [
        str(DATA / "guichet" / "fwd_outlook_fr.eml"),
        str(photo),
        str(tmp_path / "absent.eml"),
        str(DATA / "guichet" / "auto_outlook_oof_fr.eml"),
    ]
    proc = _run(*files)
    assert proc.returncode == 1, proc.stderr  # one file is missing: every line printed, the exit status says it
    assert f"fichier illisible ou introuvable : {tmp_path / 'absent.eml'}" in proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["file"] for r in rows] == files
    assert all(set(r) == KEYS for r in rows)
    forwarded, with_photo, missing, ooo = rows
    assert forwarded["ok"] and forwarded["forwarded_by"]["email"]
    assert forwarded["sender"]["email"] != forwarded["forwarded_by"]["email"]
    att = with_photo["attachments"][0]
    assert att["filename"] == "rue.jpg" and att["content_type"] == "image/jpeg" and att["size"] > 0
    assert abs(att["gps"]["lat"] - 48.8566) < 1e-4 and abs(att["gps"]["lon"] - 2.3522) < 1e-4
    assert missing["ok"] is False and "cannot read file" in missing["error"]
    assert ooo["auto_reply"] is True and with_photo["auto_reply"] is False


def test_usage_error_is_exit_2() -> None:
    proc = _run()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
