"""Latency benchmark: one mail appended to a real Dovecot every 2-10 s; time from APPEND to report filed.

Run: .venv/bin/python -m bench.latency_bench [--duration 300] [--workers 2] [--database sqlite|postgresql]
Starts its own Dovecot, its own redis-server (free port, nothing saved) and its own database (SQLite in a
temporary folder, or a PostgreSQL database it creates and drops), then real `guichet worker` processes with
their IMAP IDLE watchers. Prints p50/p95/max of APPEND -> report filed (raw message processed).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake_bench import _database, _drop  # noqa: E402  (scratch databases a bench owns)
from intake.models import MailboxState, RawMessage  # noqa: E402
from intake.runtime.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from tests.support.dovecot import DovecotServer  # noqa: E402
from tests.support.mail import citizen_email  # noqa: E402
from tests.support.procs import stop  # noqa: E402


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A private redis-server on a free port (the benchmark flushes nothing it did not create)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is missing (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the private redis-server did not start")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))]


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def main() -> int:
    """Run the benchmark once and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=300, help="seconds of appending (default 300)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--min-gap", type=float, default=2.0)
    parser.add_argument("--max-gap", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument(
        "--tree",
        type=Path,
        default=ROOT,
        help="run the workers from another checkout (to compare with an older version)",
    )
    args = parser.parse_args()

    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="guichet-latency-"))
    server = DovecotServer(tls=False).start()
    redis_proc, redis_url = start_redis(tmp)
    url, pg_name = _database(args.database, tmp)
    workers: list[subprocess.Popen[bytes]] = []
    appended: dict[str, float] = {}  # external key -> wall-clock time of the APPEND
    filed: dict[str, float] = {}
    try:
        user, password, _ = server.claim_user()
        migrate(url)
        config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
        config.update(
            database_url=url,
            redis_url=redis_url,
            storage={"root": str(tmp / "storage")},
            smtp={**config["smtp"], "backend": "console"},
            mailboxes=[
                {
                    "name": "bench",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "tls": False,
                    "username": user,
                    "password": {"env": "BENCH_IMAP_PASSWORD"},
                    "poll_interval": 60,
                    "idle": True,
                }
            ],
        )
        if config.get("routing", {}).get("zones_file"):
            config["routing"]["zones_file"] = str(ROOT / config["routing"]["zones_file"])
        config["addresses"]["reference"] = [str(ROOT / p) for p in config["addresses"]["reference"]]
        cfg_path = tmp / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(config, allow_unicode=True))
        env = {**os.environ, "GUICHET_CONFIG": str(cfg_path), "BENCH_IMAP_PASSWORD": password}
        env.pop("GUICHET_REDIS_URL", None)
        env.pop("GUICHET_DATABASE_URL", None)
        log = (tmp / "workers.log").open("wb")
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "intake.cli", "worker"],
                cwd=args.tree,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            for _ in range(args.workers)
        ]
        factory = make_sessionmaker(make_engine(url))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # ready: the first periodic poll went through
            with factory() as session:
                state = session.get(MailboxState, "bench")
                if state is not None and state.last_success_at is not None:
                    break
            time.sleep(0.5)
        time.sleep(3)  # the IDLE watcher connects right after start-up

        def collect() -> None:
            with factory() as session:
                for key, processed_at in session.execute(
                    select(RawMessage.external_key, RawMessage.processed_at).where(RawMessage.status == "processed")
                ).all():
                    if key in appended and key not in filed and processed_at is not None:
                        filed[key] = aware(processed_at).timestamp()

        end = time.monotonic() + args.duration
        i = 0
        while time.monotonic() < end:
            message_id = f"latency-{i}-{secrets.token_hex(4)}@bench.example"
            raw = citizen_email(
                sender=f"citoyen{i}@example.org", subject=f"Lampadaire éteint n°{i}", message_id=message_id
            )
            appended[f"mid:{message_id}"] = time.time()
            server.append(user, raw)
            i += 1
            gap_end = time.monotonic() + rng.uniform(args.min_gap, args.max_gap)
            while time.monotonic() < gap_end:
                time.sleep(0.2)
            collect()
        drain = time.monotonic() + 120
        while time.monotonic() < drain and len(filed) < len(appended):
            time.sleep(0.5)
            collect()
        log.close()
    finally:
        for proc in workers:
            stop(proc, timeout=10)
        stop(redis_proc, timeout=5, sig=signal.SIGTERM)
        server.stop()
        if pg_name:
            _drop(pg_name)
        shutil.rmtree(tmp, ignore_errors=True)
    latencies = [filed[k] - appended[k] for k in filed]
    print(
        f"database: {args.database}, workers: {args.workers}, duration: {args.duration:.0f} s, "
        f"mails appended: {len(appended)}, reports filed: {len(filed)}"
    )
    if not latencies:
        print("no report filed")
        return 1
    print(
        f"APPEND -> report filed: p50 {percentile(latencies, 50):.2f} s, p95 {percentile(latencies, 95):.2f} s, "
        f"max {max(latencies):.2f} s, mean {statistics.mean(latencies):.2f} s"
    )
    return 0 if len(filed) == len(appended) else 1


if __name__ == "__main__":
    sys.exit(main())
