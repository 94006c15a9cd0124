"""Intake benchmark: N emails appended to a real Dovecot, time until all are reports (real Redis, rq, SMTP).

Run: .venv/bin/python -m bench.intake_bench [--messages 300] [--workers 2] [--database sqlite|postgresql]
The messages are appended first (a backlog), then the workers start. Prints messages per second end to end
(appended to Dovecot -> report filed with its confirmation queued in the outbox), the time to file the whole
backlog, how many confirmations the outbox sender had sent by then, the peak memory (max RSS) of each worker
with its work horses and children, and the machine's load while it ran. `--messages 20000` is the backlog test.
The bench touches only what it creates: its own redis-server on a free port, its own Dovecot user, its own
SQLite file or PostgreSQL database (dropped at the end).

Figures (2 cores shared with 7 other engineers; load average quoted with each figure; 1,000 messages, 2 workers):
  before (main at 322921b), SQLite, load 4.7:  13.5 msg/s end to end, steady 19.7 msg/s, first report after
      23.6 s (worker start-up ~17 s), 53 ms CPU per message, workers 222 MiB, largest child 188 MiB.
  after (branch speed), SQLite, load 17.2:     2.5 msg/s, steady 3.7 msg/s, 69 ms CPU per message (CPU is
      inflated by contention at that load), workers 223 MiB, child 188 MiB.
  after, SQLite, load 21.6:                    3.0 msg/s, steady 4.3 msg/s, 67 ms CPU per message, no sweep
      stall; one batch's claim (a write) waited 30 s for the lock and was retried by rq: 1000/1000 filed.
  after, PostgreSQL, load 27.3:               528/1000 filed when the 600 s timeout struck (1.7 msg/s steady).
  The load of the machine (others' test runs) made the after-figures incomparable; 20,000-message runs were not
  possible in the session (at 2-4 msg/s they would last 1.5-3 hours).  Target: 100 msg/s, 20k in < 5 min.

Profile (py-spy, 25 s of both workers and their work horses, SQLite, before, load 4.7), share of samples:
  processing jobs 60 %: filing 52 % (process._file_in_batches), understanding in the child 8 %;
  the filing stages' own samples: confirm 25 %, file 24 %, dedupe 23 %, locate 23 %, thread 4 %, route 1 %;
  SQLAlchemy: Session.flush (with the autoflush before each query) 21 % of all samples, the rest of
  Session.execute 21 %: the ORM's unit of work, not the database, is the largest cost;
  confirm: the daily cap's count over lower(recipient) scanned the whole outbox (SCAN outbox), dedupe read every
  report of the category (all 1,000 but one are duplicates of the first): both quadratic in a backlog, now
  indexed (revision 0016, SEARCH ... USING INDEX); locate: Understanding.in_commune (point in the commune's
  outline) 10 % of the stages' samples; a sweep job held one of the two workers 30 s waiting for SQLite's
  write lock for a read, then failed "database is locked" (reads now begin DEFERRED: runtime.db.read_only).
  CPU 53 ms per message in the workers: even with both cores to ourselves, at most ~38 msg/s. 100 msg/s needs
  <= 20 ms of CPU per message in total, i.e. filing without an ORM unit of work per message.
Next steps, largest first: file a batch with Core statements (bulk INSERT ... RETURNING of reports, messages,
events and outbox rows; no autoflush per stage); decide in_commune and render confirmations in phase 1 (the
child); one writer for SQLite (the poll's batch store waited 30 s for the lock under load 17 and was retried by
the next poll); keep the model loaded across worker restarts (17 s of start-up per worker).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake.models import Outbox, RawMessage, Report  # noqa: E402
from intake.runtime.db import make_engine, make_sessionmaker, migrate, read_only  # noqa: E402
from tests.support.dovecot import DovecotServer  # noqa: E402
from tests.support.mail import citizen_email, jpeg_with_gps  # noqa: E402
from tests.support.redis_server import PrivateRedis  # noqa: E402


def _messages(n: int) -> list[bytes]:
    photo = jpeg_with_gps(48.8566, 2.3522)
    out = []
    for i in range(n):
        attachments = [("photo.jpg", "image/jpeg", photo)] if i % 5 == 0 else []
        out.append(
            citizen_email(
                sender=f"citoyen{i}@example.org", subject=f"Signalement n°{i} : dépôt sauvage", attachments=attachments
            )
        )
    return out


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _database(kind: str, tmp: Path) -> tuple[str, str | None]:
    """The database URL, and the name of the PostgreSQL database the bench created (to drop at the end)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", None
    from sqlalchemy import create_engine, text

    name = f"guichet_bench_{os.getpid()}_{int(time.time())}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name


def _drop(name: str | None) -> None:
    if name is None:
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _tree(pid: int) -> list[int]:
    """A process and all its descendants (work horses, budgeted children, rq's scheduler)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo.extend(int(c) for c in children.read().split())
        except OSError:
            continue
    return out


def _children(pid: int) -> list[int]:
    """The direct children of a process (the workers a `guichet worker --processes N` forked)."""
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                out.extend(int(c) for c in children.read().split())
    except OSError:
        pass
    return out


def _hwm_kib(pid: int) -> int:
    """The peak resident size (VmHWM) of a live process, in KiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _append_all(server: DovecotServer, user: str, messages: list[bytes]) -> None:
    """APPEND every message over one IMAP connection, 200 per MULTIAPPEND command."""
    with server.client(user) as client:
        for start in range(0, len(messages), 200):
            client.multiappend("INBOX", messages[start : start + 200])


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for proc in workers:
        if proc.poll() is None:
            proc.terminate()
    for proc in workers:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def main() -> int:
    """Run the benchmark once and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--shared-load",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one `guichet worker --processes N` (the model and reference loaded once, the workers forked from it); "
        "--no-shared-load: N separate `guichet worker` commands, each loading everything",
    )
    args = parser.parse_args()
    # Stopped (timeout, kill): clean up what the bench started (workers, Redis keys, Dovecot, database) anyway.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    tmp = Path(tempfile.mkdtemp(prefix="guichet-bench-"))
    server = DovecotServer(tls=False).start()
    private_redis = PrivateRedis(tmp).start()  # the bench's own redis-server: it touches no one else's keys
    redis_url = private_redis.url
    workers: list[subprocess.Popen[bytes]] = []
    created: str | None = None
    try:
        user, password, _ = server.claim_user()
        url, created = _database(args.database, tmp)
        migrate(url)
        config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
        # The shipped config's relative paths name files of the project, wherever this temporary config lives.
        config["addresses"]["reference"] = [str(ROOT / p) for p in config["addresses"]["reference"]]
        if config.get("routing", {}).get("zones_file"):
            config["routing"]["zones_file"] = str(ROOT / config["routing"]["zones_file"])
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
                    "poll_interval": 5,
                    "batch_size": 100,
                    "idle": True,
                }
            ],
        )
        cfg_path = tmp / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(config, allow_unicode=True))
        messages = _messages(args.messages)
        appending = time.perf_counter()
        _append_all(server, user, messages)
        appended_in = time.perf_counter() - appending
        env = {**os.environ, "GUICHET_CONFIG": str(cfg_path), "BENCH_IMAP_PASSWORD": password}
        factory = make_sessionmaker(make_engine(url))
        load_before = os.getloadavg()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        commands = (
            [[sys.executable, "-m", "intake.cli", "worker", "--processes", str(args.workers)]]
            if args.shared_load
            else [[sys.executable, "-m", "intake.cli", "worker"]] * args.workers
        )
        logs = [open(tmp / f"worker-{i}.log", "wb") for i in range(len(commands))]  # noqa: SIM115
        workers += [
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            for command, log in zip(commands, logs, strict=True)
        ]
        print(f"worker logs: {tmp}/worker-N.log", flush=True)
        peaks: dict[int, dict[str, int]] = {}  # per rq worker process: its peak RSS and its largest child's
        loader_peak = 0
        done = sent = 0
        stored_at: float | None = None
        first_at: float | None = None
        deadline = started + args.timeout
        loads = []
        while time.perf_counter() < deadline:
            for proc in workers:
                if args.shared_load:
                    loader_peak = max(loader_peak, _hwm_kib(proc.pid))
                for pid in _children(proc.pid) if args.shared_load else [proc.pid]:
                    peak = peaks.setdefault(pid, {"worker": 0, "child": 0})
                    peak["worker"] = max(peak["worker"], _hwm_kib(pid))
                    for child in _tree(pid)[1:]:
                        peak["child"] = max(peak["child"], _hwm_kib(child))
            with read_only(factory) as session:  # no wait for SQLite's write lock, which the workers need
                done = session.execute(
                    select(func.count()).select_from(Outbox).where(Outbox.kind == "confirmation")
                ).scalar_one()
                stored = session.execute(select(func.count()).select_from(RawMessage)).scalar_one()
            if first_at is None and done > 0:
                first_at = time.perf_counter() - started
            if stored_at is None and stored >= args.messages:
                stored_at = time.perf_counter() - started
            loads.append(os.getloadavg()[0])
            if done >= args.messages:
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        with factory() as session:
            reports = session.execute(select(func.count()).select_from(Report)).scalar_one()
            sent = session.execute(select(func.count()).select_from(Outbox).where(Outbox.status == "sent")).scalar_one()
        load_after = os.getloadavg()
    finally:
        _stop(workers)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers and what they waited for, not Dovecot yet
        private_redis.stop()
        server.stop()
        _drop(created)
    layout = "forked from one load (guichet worker --processes)" if args.shared_load else "each loading everything"
    print(
        f"database: {args.database}, workers: {args.workers} {layout}, messages appended: {args.messages} "
        f"(appended in {appended_in:.1f} s, before the workers started)"
    )
    print(
        f"machine: {os.cpu_count()} cores, load average {load_before[0]:.1f} at start, "
        f"{sum(loads) / max(1, len(loads)):.1f} on average during the run, {load_after[0]:.1f} at the end"
    )
    print(
        f"reports filed with their confirmation queued: {done}/{args.messages} ({reports} reports) in "
        f"{elapsed:.1f} s, including worker start-up; {sent} confirmations sent by then"
    )
    if stored_at is not None:
        print(f"all raw messages stored (fetched from IMAP, committed, moved) after {stored_at:.1f} s")
    print(f"throughput: {done / elapsed:.1f} messages/s end to end")
    if first_at is not None and elapsed > first_at:
        print(
            f"first report after {first_at:.1f} s (worker start-up, first poll); "
            f"steady state: {(done - 1) / (elapsed - first_at):.1f} messages/s"
        )
    if done >= args.messages:
        print(f"backlog of {args.messages}: filed in {elapsed:.1f} s")
    elif first_at is not None and done > 1 and elapsed > first_at:
        rate = (done - 1) / (elapsed - first_at)
        print(
            f"backlog of {args.messages}: NOT filed within {elapsed:.0f} s ({done} filed); at the steady rate, "
            f"{first_at + (args.messages - 1) / rate:.0f} s"
        )
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done:
        print(
            f"CPU used by the workers and their children: {cpu:.0f} s, {cpu * 1000 / done:.1f} ms per message "
            f"(the {os.cpu_count()} cores to ourselves: about {os.cpu_count() * done / cpu:.0f} messages/s at most, "
            "IMAP server, Redis and database server apart)"
        )
    if args.shared_load:
        print(f"loader (pid {workers[0].pid if workers else 0}): peak RSS {loader_peak / 1024:.0f} MiB")
    for i, (pid, peak) in enumerate(peaks.items(), 1):
        print(
            f"worker {i} (pid {pid}): peak RSS {peak['worker'] / 1024:.0f} MiB; "
            f"its largest child (work horse, budgeted reader): {peak['child'] / 1024:.0f} MiB"
        )
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak memory of any process the workers ran (max RSS of the waited children): {peak_kib / 1024:.0f} MiB")
    return 0 if done >= args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
