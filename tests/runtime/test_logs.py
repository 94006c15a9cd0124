"""GUICHET_LOG_FORMAT=json: one JSON object per event, tracebacks included, from a real worker process."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from intake.config import Config
from intake.runtime.logs import JsonLines, gunicorn_options
from tests.conftest import ROOT, write_config
from tests.support.procs import run


def test_an_exception_stays_inside_its_event() -> None:
    try:
        raise ValueError("ligne 1\nligne 2")
    except ValueError:
        record = logging.LogRecord("intake.test", logging.ERROR, __file__, 1, "échec %s", ("n° 42",), sys.exc_info())
    line = JsonLines().format(record)
    assert "\n" not in line
    event = json.loads(line)
    assert event["message"] == "échec n° 42" and event["level"] == "ERROR" and event["logger"] == "intake.test"
    assert "ValueError: ligne 1\nligne 2" in event["exception"] and event["time"].endswith("+00:00")


def test_a_worker_logs_json_lines(make_config: Callable[..., Config], redis_url: str, tmp_path: Path) -> None:
    config = write_config(make_config(redis_url=redis_url), tmp_path / "config.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    env["GUICHET_LOG_FORMAT"] = "json"
    result = run([sys.executable, "-m", "intake.cli", "--config", str(config), "worker", "--burst",
                  "--no-scheduler"], cwd=ROOT, env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is one event
    assert events and {"time", "level", "logger", "message", "pid"} <= set(events[0])
    assert any(e["logger"].startswith("rq.worker") for e in events)


def test_gunicorn_access_log_in_json() -> None:
    options = gunicorn_options("json")
    assert options[0] == "--access-logformat" and json.loads(options[1])["path"] == "%(U)s"
    assert gunicorn_options("text") == []
