"""SQLite writers take turns: a process running short write transactions back to back (an outbox sender, upkeep)
never starves another process's write transaction (a filing, a door's insert) for its whole busy timeout."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from sqlalchemy import text

from intake.runtime.db import make_engine, make_sessionmaker, read_only, transaction
from intake.runtime.sqlite_turns import lock_paths
from tests.support.procs import Processes

ROOT = Path(__file__).resolve().parents[2]

# A writer that hardly pauses: one write transaction of 10 ms (a filing batch, an outbox send) after another until
# the stop file appears; it touches its ready file after its first 20 transactions.
HAMMER = """
import sys
import time
from pathlib import Path
from sqlalchemy import text
from intake.runtime.db import make_engine, make_sessionmaker, transaction

url, stop, ready = sys.argv[1:4]
factory = make_sessionmaker(make_engine(url))
done = 0
while not Path(stop).exists():
    with transaction(factory) as session:
        session.execute(text("INSERT INTO tick (who) VALUES ('hammer')"))
        time.sleep(0.01)
    done += 1
    if done == 20:
        Path(ready).touch()
"""


def _wait_for(paths: list[Path], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, f"hammers not writing after {timeout} s"
        time.sleep(0.05)


def test_a_writer_gets_its_turn_between_two_processes_writing_back_to_back(
    tmp_path: Path, processes: Processes
) -> None:
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    factory = make_sessionmaker(make_engine(url))
    with transaction(factory) as session:
        session.execute(text("CREATE TABLE tick (id INTEGER PRIMARY KEY, who TEXT NOT NULL)"))
    stop = tmp_path / "stop"
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for flag in ready:
        processes.start([sys.executable, "-c", HAMMER, url, str(stop), str(flag)], cwd=ROOT, env=env)
    _wait_for(ready, 60)
    waits = []
    try:
        for _ in range(20):
            asked = time.monotonic()
            with transaction(factory) as session:  # the session begins (and waits) at its first statement
                session.execute(text("INSERT INTO tick (who) VALUES ('filing')"))
            waits.append(time.monotonic() - asked)
    finally:
        stop.touch()
    with read_only(factory) as session:
        hammered = session.execute(text("SELECT count(*) FROM tick WHERE who = 'hammer'")).scalar_one()
    assert hammered >= 40  # both hammers did write meanwhile
    # Old behaviour: SQLite's busy handler, sleeping up to 100 ms between tries, hardly ever found the lock free
    # between the hammers' transactions and waited seconds, up to its 30 s timeout ("database is locked").
    assert max(waits) < 2.0, f"waited {max(waits):.2f} s for the write lock; all waits: {sorted(waits)[-5:]}"
    assert all(p.exists() for p in lock_paths(tmp_path / "turns.db"))
    assert all(p.stat().st_mode & 0o077 == 0 for p in lock_paths(tmp_path / "turns.db"))
