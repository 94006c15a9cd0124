"""`guichet up` and scripts/up.sh started twice on one folder: the second says so in French and touches nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from intake.runtime.instance_lock import AlreadyRunning, acquire
from tests.conftest import ROOT, base_config_data
from tests.support.procs import Processes, run


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = base_config_data()
    data["addresses"]["reference"] = [str(ROOT / p) for p in data["addresses"]["reference"]]
    data["routing"]["zones_file"] = str(ROOT / data["routing"]["zones_file"])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    env["GUICHET_CONFIG"] = str(config)
    return env


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_second_up_is_refused_and_touches_nothing(config: Path) -> None:
    var = config.parent / "var"
    lock = acquire(var, url="http://127.0.0.1:8123/")
    try:
        (var / "redis.sock").write_text("the running instance's socket")
        before = _tree(var)
        result = run([sys.executable, "-m", "intake.cli", "up", "--demo-mail"], cwd=ROOT, env=_env(config), timeout=120)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert (
            f"guichet up : Guichet tourne déjà avec ce dossier {var} (pid {os.getpid()}, "
            "http://127.0.0.1:8123/) : rien n'a été lancé ni modifié"
        ) in result.stderr
        assert _tree(var) == before and "Guichet : http" not in result.stdout
        with pytest.raises(AlreadyRunning):
            acquire(var, url="http://127.0.0.1:9999/")
    finally:
        lock.release()
    acquire(var, url="http://127.0.0.1:9999/").release()  # released: the next start may go


def test_a_killed_instance_leaves_no_stale_lock(config: Path, processes: Processes) -> None:
    var = config.parent / "var"
    holder = processes.start(
        [
            sys.executable,
            "-c",
            (
                "import sys, pathlib; from intake.runtime.instance_lock import acquire; "
                f"acquire(pathlib.Path({str(var)!r}), url='http://x/'); print('held', flush=True); sys.stdin.read()"
            ),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
    with pytest.raises(AlreadyRunning, match=f"pid {holder.pid}, http://x/"):
        acquire(var, url="http://y/")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    for pipe in (holder.stdin, holder.stdout):
        if pipe is not None:
            pipe.close()
    acquire(var, url="http://y/").release()


def test_up_sh_refuses_before_reinstalling_anything(config: Path) -> None:
    lock = acquire(config.parent / "var", url="http://127.0.0.1:8123/")
    try:
        result = run(["bash", str(ROOT / "scripts" / "up.sh")], cwd=ROOT, env=_env(config), timeout=60)
    finally:
        lock.release()
    assert result.returncode == 1
    assert "scripts/up.sh : Guichet tourne déjà avec ce dossier" in result.stderr
    assert f'"pid": {os.getpid()}' in result.stderr


def test_up_on_a_busy_port_says_so_before_starting_anything(config: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(
            [sys.executable, "-m", "intake.cli", "up", "--port", str(port)], cwd=ROOT, env=_env(config), timeout=120
        )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"guichet up : le port {port} est déjà utilisé sur 127.0.0.1" in result.stderr
    assert not (config.parent / "var" / "redis.sock").exists() and "Guichet : http" not in result.stdout
