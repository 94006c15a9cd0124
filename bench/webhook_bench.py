"""Twilio SMS webhook benchmark: signed POSTs to gunicorn (2 workers), figures for throughput and latency.

Run: .venv/bin/python -m bench.webhook_bench [--requests 2000] [--concurrency 16] [--database sqlite|postgresql]
Twilio cannot reach this machine: each request is signed with the real twilio library as Twilio would.
Prints requests/s, p50/p99 latency, errors, and the share of requests whose raw row was stored.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import yaml
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake_bench import _database  # noqa: E402
from intake.models import RawMessage  # noqa: E402
from intake.runtime.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from tests.conftest import free_port  # noqa: E402

TOKEN = "bench-token-0123456789"
BASE = "https://guichet.bench.example"
PATH = "/twilio/messages"


def _bodies(n: int) -> list[tuple[bytes, str]]:
    """n distinct inbound SMS bodies (urlencoded) with their X-Twilio-Signature."""
    validator = RequestValidator(TOKEN)
    out = []
    for i in range(n):
        params = {
            "ToCountry": "FR",
            "SmsMessageSid": f"SMbench{i:08d}",
            "NumMedia": "0",
            "SmsStatus": "received",
            "Body": f"Lampadaire éteint devant le {i} rue de la Paix",
            "To": "+33700000000",
            "NumSegments": "1",
            "MessageSid": f"SMbench{i:08d}",
            "AccountSid": "AC" + "0" * 32,
            "From": f"+336{i:08d}",
            "ApiVersion": "2010-04-01",
        }
        out.append((urlencode(params).encode(), validator.compute_signature(BASE + PATH, params)))
    return out


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with code {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("POST", PATH, body=b"", headers={"Content-Type": "application/x-www-form-urlencoded"})
            if conn.getresponse().status == 403:
                conn.close()
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not answer in time")


def main() -> int:
    """Run the benchmark once and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="guichet-webhook-bench-"))
    url = _database(args.database, tmp)
    migrate(url)
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config.update(
        database_url=url,
        redis_url=None,
        storage={"root": str(tmp / "storage")},
        smtp={**config["smtp"], "backend": "console"},
        mailboxes=[],
        twilio={
            **config["twilio"],
            "enabled": True,
            "account_sid": "AC" + "0" * 32,
            "auth_token": {"env": "BENCH_TWILIO_TOKEN"},
            "public_base_url": BASE,
        },
    )
    cfg_path = tmp / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "GUICHET_CONFIG": str(cfg_path), "BENCH_TWILIO_TOKEN": TOKEN}
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--log-level",
            "warning",
            "web:create_app()",
        ],
        cwd=ROOT,
        env=env,
    )
    bodies = _bodies(args.requests)
    try:
        _wait_ready(port, proc)

        def send(item: tuple[bytes, str]) -> tuple[float, int]:
            body, signature = item
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request(
                    "POST",
                    PATH,
                    body=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
                )
                resp = conn.getresponse()
                resp.read()
                conn.close()
                return time.perf_counter() - started, resp.status
            except OSError:
                return time.perf_counter() - started, 0

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            results = list(pool.map(send, bodies))
        elapsed = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    latencies = sorted(lat for lat, _ in results)
    errors = sum(1 for _, code in results if code != 200)
    with make_sessionmaker(make_engine(url))() as session:
        stored = session.execute(select(func.count()).select_from(RawMessage)).scalar_one()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"database: {args.database}, gunicorn workers: 2, requests: {args.requests}, concurrency: {args.concurrency}")
    print(f"throughput: {args.requests / elapsed:.0f} requests/s ({elapsed:.2f} s)")
    print(f"latency: p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"errors (non-200): {errors}")
    print(f"raw rows stored: {stored}/{args.requests} ({stored / args.requests:.1%})")
    return 0 if errors == 0 and stored == args.requests else 1


if __name__ == "__main__":
    sys.exit(main())
