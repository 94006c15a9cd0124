"""deploy/: systemd units that systemd accepts, with the hardening and the commands that exist; an nginx example
that lets through what Guichet accepts and passes Twilio's signed paths unchanged."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from intake.cli.main import build_parser
from intake.config import load_config
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").iterdir())
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "RestrictSUIDSGID": "yes",
    "SystemCallArchitectures": "native",
}


def _settings(unit: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


@pytest.mark.parametrize("name", ["guichet-web.service", "guichet-worker@.service"])
def test_long_running_units_are_hardened_and_run_existing_commands(name: str) -> None:
    settings = _settings(DEPLOY / "systemd" / name)
    for key, value in HARDENING.items():
        assert settings.get(key) == [value], f"{name}: {key}"
    assert settings["User"] == ["guichet"] and settings["StateDirectory"] == ["guichet"]
    command = settings["ExecStart"][0].split()
    assert command[0].endswith("/bin/guichet")
    known = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert command[1] in known
    build_parser().parse_args(command[1:])  # the options exist too


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_accepts_every_unit(tmp_path: Path) -> None:
    guichet = Path(sys.executable).with_name("guichet")
    for unit in UNITS:
        text = unit.read_text().replace("/opt/guichet/.venv/bin/guichet", str(guichet))
        name = unit.name.replace("@.service", "@1.service")
        (tmp_path / name).write_text(text.replace("/etc/guichet/guichet.env", "/dev/null"))
    result = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    problems = [line for line in (result.stdout + result.stderr).splitlines() if str(tmp_path) in line]
    assert problems == []


def test_nginx_example_fits_what_guichet_accepts() -> None:
    conf = (DEPLOY / "nginx" / "guichet.conf").read_text()
    body = re.search(r"client_max_body_size (\d+)m;", conf)
    cfg = load_config(ROOT / "config.yaml")
    assert body is not None
    assert int(body.group(1)) >= max(cfg.open311.max_media_mb, cfg.storage.max_attachment_mb)
    # proxy_pass without a URI part: the path and query Twilio signed reach Guichet unchanged
    assert re.findall(r"proxy_pass (\S+);", conf) == ["http://127.0.0.1:8000", "http://127.0.0.1:8000"]
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "Host"):
        assert f"proxy_set_header {header} " in conf
    metrics = conf[conf.index("location = /metrics") :]
    assert "deny all;" in metrics[: metrics.index("}")]
    assert "ssl_certificate " in conf and "return 301 https://" in conf
