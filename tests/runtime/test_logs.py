"""GUICHET_LOG_FORMAT=json: one JSON object per event, tracebacks included, from a real worker and web server."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

from intake.config import Config
from intake.pseudonyms import pseudonym, pseudonymise_text, town_key
from intake.runtime.logs import REQUEST_ID, JsonLines, gunicorn_options
from tests.conftest import ROOT, free_port, write_config
from tests.support.procs import Processes, run, stop


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
    result = run(
        [sys.executable, "-m", "intake.cli", "--config", str(config), "worker", "--burst", "--no-scheduler"],
        cwd=ROOT,
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is one event
    assert events and {"time", "level", "logger", "message", "pid"} <= set(events[0])
    assert any(e["logger"].startswith("rq.worker") for e in events)


def test_json_lines_carry_request_id_fields_and_a_filtered_exception() -> None:
    from intake.pseudonyms import PseudonymFilter, pseudonym

    key = b"k" * 32
    try:
        raise ValueError("écrit par jean.dupont@exemple.fr")
    except ValueError:
        record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "GET %s 200", ("/a",), sys.exc_info())
    record.fields = {"path": "/suivi/0612345678", "status": 200, "agent": "curl"}
    record.request_id = "abcdef0123456789"
    assert PseudonymFilter(key).filter(record)
    event = json.loads(JsonLines().format(record))
    assert event["request_id"] == "abcdef0123456789" and event["status"] == 200 and event["agent"] == "curl"
    assert event["path"] == f"/suivi/{pseudonym(key, '0612345678')}"
    assert pseudonym(key, "jean.dupont@exemple.fr") in event["exception"] and "exemple.fr" not in event["exception"]
    token = REQUEST_ID.set("fedcba9876543210")
    try:
        plain = logging.LogRecord("web", logging.WARNING, __file__, 1, "sans requête", (), None)
        assert json.loads(JsonLines().format(plain))["request_id"] == "fedcba9876543210"
    finally:
        REQUEST_ID.reset(token)
    assert "request_id" not in json.loads(JsonLines().format(plain))


def test_gunicorn_gets_guichets_logger_class() -> None:
    options = gunicorn_options()
    assert options[:2] == ["--logger-class", "intake.runtime.gunicorn_logs.GuichetLogger"]
    assert "--no-control-socket" in options  # gunicorn 27's shared ~/.gunicorn/gunicorn.ctl, and 4 s more to stop
    from intake.runtime.gunicorn_logs import GuichetLogger

    assert GuichetLogger.__module__ + ".GuichetLogger" == options[1]


def test_guichet_serve_writes_only_json_lines(
    make_config: Callable[..., Config], tmp_path: Path, processes: Processes
) -> None:
    """`guichet serve` for real with GUICHET_LOG_FORMAT=json: every line of its stdout and stderr is one JSON
    event (gunicorn's error and access logs, the app's own loggers), with the request's id, pseudonymised."""
    cfg = make_config()
    config = write_config(cfg, tmp_path / "config.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUICHET_")}
    env["GUICHET_LOG_FORMAT"] = "json"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out_path, err_path = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        serve = processes.start(
            [
                sys.executable,
                "-m",
                "intake.cli",
                "--config",
                str(config),
                "serve",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
        deadline = time.monotonic() + 180  # the model and the addresses load before gunicorn forks
        while True:
            assert serve.poll() is None, err_path.read_text(errors="replace")[-3000:]
            try:
                if requests.get(f"{base}/connexion", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, err_path.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        # A citizen's e-mail in a path, a phone number in a query string, and a refused form whose app log line
        # names the path.
        missing = requests.get(f"{base}/suivi/jean.dupont@exemple.fr", params={"tel": "0612345678"}, timeout=10)
        refused = requests.post(f"{base}/signalements/jean.dupont@exemple.fr/statut", data={"s": "1"}, timeout=10)
        # A client cannot choose the id written in the logs (no trusted proxy here).
        forged = requests.get(f"{base}/connexion", headers={"X-Request-Id": "choisi-par-le-client"}, timeout=10)
        assert missing.status_code == 404 and refused.status_code == 400 and forged.status_code == 200
        ids = {
            name: answer.headers["X-Request-Id"]
            for name, answer in (("missing", missing), ("refused", refused), ("forged", forged))
        }
        assert ids["forged"] != "choisi-par-le-client" and len(set(ids.values())) == 3
        stop(serve, timeout=30, sig=signal.SIGTERM)
    text = out_path.read_text(encoding="utf-8") + err_path.read_text(encoding="utf-8")
    events = []
    for line in text.splitlines():
        event = json.loads(line)  # every line is one JSON object
        assert isinstance(event, dict) and {"time", "level", "logger", "message"} <= set(event), line
        events.append(event)
    assert "jean.dupont" not in text and "0612345678" not in text
    key = town_key(cfg)  # the filter's own rewriting (its e-mail pattern takes "/suivi/" in, as RFC 5322 allows)
    access = {e["request_id"]: e for e in events if e["logger"] == "gunicorn.access" and "request_id" in e}
    assert access[ids["missing"]]["status"] == 404
    assert access[ids["missing"]]["path"] == pseudonymise_text(key, "/suivi/jean.dupont@exemple.fr")
    assert access[ids["missing"]]["query"] == f"tel={pseudonym(key, '0612345678')}"
    assert access[ids["forged"]]["method"] == "GET" and access[ids["forged"]]["path"] == "/connexion"
    app_lines = [e for e in events if e["logger"] == "web.errors"]  # the app's own logger, within a request
    assert app_lines and app_lines[0]["request_id"] == ids["refused"], events
    assert pseudonymise_text(key, "POST /signalements/jean.dupont@exemple.fr/statut") in app_lines[0]["message"]
    gunicorn = [e["message"] for e in events if e["logger"] == "gunicorn.error"]
    assert any(m.startswith("Starting gunicorn") for m in gunicorn) and "Shutting down: Master" in gunicorn


def test_request_id_from_a_trusted_proxy_only(make_config: Callable[..., Config]) -> None:
    """Behind the town's proxy its X-Request-Id is kept (when sane); without one, or malformed, a new id is drawn."""
    from web import create_app

    nginx_id = "0123456789abcdef0123456789abcdef"
    for proxies, sent, kept in ((1, nginx_id, True), (1, 'id avec des espaces et " ;', False), (0, nginx_id, False)):
        cfg = make_config(web={"trusted_proxies": proxies})
        answer = create_app(cfg).test_client().get("/connexion", headers={"X-Request-Id": sent})
        assert answer.status_code == 200
        got = answer.headers["X-Request-Id"]
        assert (got == sent) is kept and re.fullmatch(r"[A-Za-z0-9._-]{8,64}", got), (proxies, sent, got)
    assert REQUEST_ID.get() is None  # reset when each request ended
