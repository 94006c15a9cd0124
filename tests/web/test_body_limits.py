"""Request size limits per route (S2): refused before the body is read, in the route's own error format."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests
from flask import Flask

from intake.config import Config
from tests.conftest import ROOT, free_port, write_config
from tests.support.procs import Processes, descendants, processes  # noqa: F401
from tests.web.test_twilio_hooks import BASE, TOKEN, make_app, twilio_settings  # noqa: F401
from web import limits

MB = 1024 * 1024


def test_unsigned_webhook_over_its_limit_is_refused_before_the_signature(make_app: Callable[..., Flask]) -> None:  # noqa: F811
    client = make_app().test_client()
    body = b"Body=" + b"x" * (limits.TWILIO_BYTES + 1)
    answer = client.post("/twilio/messages", data=body, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 413
    assert "Requête trop volumineuse" in answer.get_data(as_text=True)
    # The same body size within the limit reaches the signature check (403), so the 413 is the size.
    small = client.post("/twilio/messages", data=b"Body=x", content_type="application/x-www-form-urlencoded")
    assert small.status_code == 403


def test_sign_in_over_its_limit_is_refused(make_app: Callable[..., Flask]) -> None:  # noqa: F811
    client = make_app().test_client()
    answer = client.post("/connexion", data={"identifiant": "x", "mot_de_passe": "y" * (20 * 1024)})
    assert answer.status_code == 413
    assert "trop volumineuse" in answer.get_data(as_text=True)


def test_open311_over_its_limit_answers_the_open311_error_format(make_app: Callable[..., Flask]) -> None:  # noqa: F811
    app = make_app()
    limit = limits.route_limits(app.config["GUICHET"])["open311.create_request"]
    answer = app.test_client().post(
        "/open311/v2/requests.json", data=b"x" * (limit + 1), content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 413
    assert answer.get_json() == [{"code": 413, "description": "requête trop volumineuse / request too large"}]


def test_every_limited_endpoint_exists(make_app: Callable[..., Flask]) -> None:  # noqa: F811
    app = make_app()
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(limits.route_limits(app.config["GUICHET"])) <= endpoints


def _peak_rss_kb(pid: int) -> int:
    """The peak resident memory of a process (VmHWM), in KB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for {pid}")


def _post_huge(port: int, path: str, total: int, *, chunked: bool) -> bytes:
    """POST `total` bytes of junk over a raw socket, stopping when the server answers; returns its answer."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n"
        + ("Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {total}\r\n")
        + "\r\n"
    )
    block = b"x" * MB
    piece = (b"%x\r\n" % len(block)) + block + b"\r\n" if chunked else block
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        sent = 0
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(block)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    return answer


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


def test_a_300_mb_unsigned_post_does_not_grow_the_web_worker(
    make_config: Callable[..., Config],
    tmp_path: Path,
    processes: Processes,  # noqa: F811
) -> None:
    cfg = make_config(twilio=twilio_settings())
    path = write_config(cfg, tmp_path / "config.yaml")
    env = {**os.environ, "GUICHET_CONFIG": str(path), "TEST_TWILIO_TOKEN": TOKEN}
    port = free_port()
    web = processes.start(
        [sys.executable, "-m", "intake.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not _answers(f"http://127.0.0.1:{port}/connexion"):
        assert web.poll() is None and time.monotonic() < deadline, "the web app did not start"
        time.sleep(0.1)
    workers = descendants(web.pid)
    assert len(workers) == 1, workers
    before = _peak_rss_kb(workers[0])
    answers = {
        (path_, chunked): _post_huge(port, path_, 300 * MB, chunked=chunked)[:200]
        for path_ in ("/twilio/messages", "/connexion")
        for chunked in (False, True)
    }
    assert descendants(web.pid) == workers, "the worker was replaced"
    grown_mb = (_peak_rss_kb(workers[0]) - before) / 1024
    assert grown_mb < 20, f"the web worker's peak memory grew by {grown_mb:.0f} MB"
    assert all(answer.startswith(b"HTTP/1.1 413") for answer in answers.values()), answers
