"""Processes started by tests, always stopped: SIGTERM, then SIGKILL (with their children) after a timeout.

Every test that starts a process goes through `Processes` (a fixture) or `run`, so that one failing test never
leaves workers, servers or work horses running into the next ones.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren...), read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop(proc: subprocess.Popen[Any], *, timeout: float = 10.0, sig: int = signal.SIGTERM) -> float:
    """Send `sig` (to the process, or its whole group when it leads one), wait up to `timeout`, then SIGKILL it
    and everything it started. Returns the seconds it took to exit after `sig`."""
    started = time.monotonic()
    if proc.poll() is not None:
        _signal(descendants(proc.pid), signal.SIGKILL)
        return 0.0
    below = descendants(proc.pid)
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        below = sorted(set(below) | set(descendants(proc.pid)))
        _signal([proc.pid], signal.SIGKILL)
        proc.wait(timeout=10)
    took = time.monotonic() - started
    _signal(below, signal.SIGKILL)  # work horses and servers left behind by a process that was killed
    return took


class Processes:
    """The processes of one test; all stopped at its end, whatever happened."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[Any]] = []

    def start(self, argv: Sequence[str], *, new_session: bool = True, **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a process (in a session of its own by default, so that signals reach its whole group)."""
        proc: subprocess.Popen[Any] = subprocess.Popen(list(argv), start_new_session=new_session, **kwargs)
        self.started.append(proc)
        return proc

    def stop_all(self, *, timeout: float = 10.0) -> None:
        """Stop every process still running, the last started first."""
        for proc in reversed(self.started):
            stop(proc, timeout=timeout)


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Start processes through this; they are stopped (then killed) when the test ends."""
    group = Processes()
    try:
        yield group
    finally:
        group.stop_all()


def run(
    argv: Sequence[str], *, timeout: float = 300, input: str | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """subprocess.run with text output captured, stopping (then killing) the process and its children on timeout."""
    proc: subprocess.Popen[str] = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs,
    )
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc, timeout=5)
        out, err = proc.communicate()
        raise AssertionError(f"{argv!r} still running after {timeout} s; stderr: {err[-3000:]}") from None
    finally:
        if proc.poll() is None:
            stop(proc, timeout=5)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
