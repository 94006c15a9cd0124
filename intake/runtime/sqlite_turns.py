"""SQLite's write lock handed over promptly and in turn between processes (workers, web, CLI).

SQLite's own busy handler sleeps in growing steps (up to 100 ms) between tries of its lock: a process that runs
many short write transactions back to back (the outbox sender, an upkeep sweep) takes the lock again in the
microseconds between them, and a filing transaction of another process can wait its whole 30 s busy timeout.

Before `BEGIN IMMEDIATE`, a write transaction takes its *turn*: an exclusive `flock` on a file beside the database
(`<database>-writer.lock`), released as soon as the transaction commits or rolls back. A second file (the *gate*,
`<database>-writer.gate`) makes the turns alternate: a waiter holds the gate while it waits for the writer lock, so
the process that just committed cannot take the lock again before it (it queues on the gate behind the waiter).
Waiting polls with `LOCK_NB` in steps of at most 1 ms, so a waiter starts within about a millisecond of the
holder's commit, and gives up after the connection's busy timeout: it then begins anyway and SQLite's own
busy timeout decides, as before (a process stopped while holding its turn never blocks the others for good).

The locks only order the writers: SQLite's own locking still guarantees correctness. The kernel releases a
`flock` when its process dies. Each connection opens the files itself (one open file description per connection
and per process), so threads of one process take turns too, and a forked child never shares its parent's lock.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

# The longest sleep between two tries of a turn: how late a waiter may start after the holder committed.
MAX_STEP_SECONDS = 0.001
FIRST_STEP_SECONDS = 0.0001


def lock_paths(database: Path) -> tuple[Path, Path]:
    """The writer lock and the gate files of a database file."""
    return database.with_name(database.name + "-writer.lock"), database.with_name(database.name + "-writer.gate")


def _open(path: Path) -> int:
    """Open (create 0600, like the database) a lock file, not inherited by exec'd programs."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _take(fd: int, deadline: float) -> bool:
    """Take an exclusive flock on `fd`, trying often until `deadline`; False when the deadline passed first."""
    step = FIRST_STEP_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        now = time.monotonic()
        if now >= deadline:
            return False
        time.sleep(min(step, deadline - now))
        step = min(step * 2, MAX_STEP_SECONDS)


class TurnTakingConnection(sqlite3.Connection):
    """A sqlite3 connection whose write transactions take their turn (`take_turn`) and give it back at commit,
    rollback or close. Pass it as `factory` to sqlite3.connect, with `turn_files` set afterwards."""

    turn_files: tuple[Path, Path] | None = None
    turn_timeout: float = 30.0
    _fds: tuple[int, int] | None = None
    _fds_pid: int = 0
    _holding = False

    def _descriptors(self) -> tuple[int, int] | None:
        if self.turn_files is None:
            return None
        if self._fds is None or self._fds_pid != os.getpid():  # a forked child opens its own
            self._fds = (_open(self.turn_files[0]), _open(self.turn_files[1]))
            self._fds_pid = os.getpid()
        return self._fds

    def take_turn(self) -> bool:
        """Wait for this connection's turn to write (before BEGIN IMMEDIATE); False when it waited the whole
        timeout (the transaction then begins anyway, under SQLite's busy timeout)."""
        fds = self._descriptors()
        if fds is None or self._holding:
            return self._holding
        writer, gate = fds
        deadline = time.monotonic() + self.turn_timeout
        # Through the gate even when the lock looks free: a waiter holding the gate goes first.
        if not _take(gate, deadline):
            return False
        try:
            self._holding = _take(writer, deadline)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        return self._holding

    def give_turn(self) -> None:
        """Let the next writer in (after COMMIT or ROLLBACK); harmless when not holding."""
        if self._holding and self._fds is not None and self._fds_pid == os.getpid():
            fcntl.flock(self._fds[0], fcntl.LOCK_UN)
        self._holding = False

    def commit(self) -> None:
        """Commit, then give the turn."""
        try:
            super().commit()
        finally:
            if self.in_transaction is False:
                self.give_turn()

    def rollback(self) -> None:
        """Roll back, then give the turn."""
        try:
            super().rollback()
        finally:
            self.give_turn()

    def close(self) -> None:
        """Close the connection and its lock files."""
        try:
            super().close()
        finally:
            self.give_turn()
            if self._fds is not None and self._fds_pid == os.getpid():
                for fd in self._fds:
                    os.close(fd)
            self._fds = None


def install(dbapi_conn: Any, database: Path, *, timeout: float) -> None:
    """Make `dbapi_conn` (a TurnTakingConnection) take turns on the lock files beside `database`."""
    if isinstance(dbapi_conn, TurnTakingConnection):
        dbapi_conn.turn_files = lock_paths(database)
        dbapi_conn.turn_timeout = timeout
