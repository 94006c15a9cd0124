"""Several worker processes forked from one loaded process, supervised: respawned when they end, stopped together.

Loading the category model and the address reference costs seconds of CPU per process; `supervise` lets the
caller load once, then forks `processes` copies that share those pages (copy-on-write). Each copy gets its own
process group (a terminal's Ctrl-C reaches it only through the supervisor, once) and asks the kernel to be told
when the supervisor dies (no orphan left running after a SIGKILL). A copy that ends on its own is forked again
after a delay that doubles while it keeps dying young. SIGTERM or Ctrl-C is passed on once to every copy;
`supervise` returns when all have stopped.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("guichet.worker")

# Linux prctl(PR_SET_PDEATHSIG): the kernel signals a forked worker when the process that loaded it dies.
_PR_SET_PDEATHSIG = 1
# A copy that ends on its own is forked again after this many seconds, doubled (up to RESPAWN_MAX) while it keeps
# dying within RESPAWN_QUICK seconds of its start.
RESPAWN_FIRST, RESPAWN_MAX, RESPAWN_QUICK = 1.0, 30.0, 10.0


def die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGTERM when `parent` dies (a SIGKILLed loader leaves no worker behind)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's SIGTERM still reaches its workers
        pass
    if os.getppid() != parent:  # it died before the request was made
        os._exit(0)


def supervise(processes: int, serve: Callable[[int], None], *, respawn: bool = True) -> None:
    """Fork `processes` children each running `serve(slot)` (slot 0..processes-1) and supervise them until all
    have stopped; `respawn=False` (a burst run) lets a child that ends stay ended."""
    loader = os.getpid()
    stopping = threading.Event()
    children: dict[int, tuple[int, float]] = {}  # pid -> (slot, when it started)
    delays = dict.fromkeys(range(processes), RESPAWN_FIRST)

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # a child: never returns
            code = 0
            try:
                os.setpgid(0, 0)
                die_with_parent(loader)
                serve(slot)
            except BaseException:  # noqa: BLE001 - logged, then the supervisor forks another
                log.exception("worker %s stopped on an error", slot + 1)
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        children[pid] = (slot, time.monotonic())
        if stopping.is_set():  # asked to stop while it was forked
            _signal(pid, signal.SIGTERM)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != loader:  # a child just forked, before it installed its own handlers
            os._exit(128 + signum)
        stopping.set()
        for pid in list(children):
            _signal(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for slot in range(processes):
        spawn(slot)
    log.info("%d workers forked from one load (pid %d)", processes, loader)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        entry = children.pop(pid, None)
        if entry is None or stopping.is_set() or not respawn:
            continue
        slot, started = entry
        quick = time.monotonic() - started < RESPAWN_QUICK
        delays[slot] = min(RESPAWN_MAX, delays[slot] * 2) if quick else RESPAWN_FIRST
        log.warning("worker %s ended (status %s): forked again in %.0f s", slot + 1, status, delays[slot])
        if not stopping.wait(delays[slot]):
            spawn(slot)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
