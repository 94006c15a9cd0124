"""One `guichet up` per var/ folder: a lock file held for the instance's life, that a second start reads and obeys."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

LOCK_NAME = "guichet-up.lock"


class AlreadyRunning(Exception):
    """Another instance holds var/'s lock; the message (French) says which and how to stop it."""


class InstanceLock:
    """An exclusive lock on var/guichet-up.lock (flock): the kernel drops it when the holder dies, so a crashed
    instance never leaves a stale lock behind. The file records the holder's pid and URL for the next caller."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path

    def release(self) -> None:
        """Let the next instance start (also done by the kernel when this process ends)."""
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1


def describe_holder(path: Path) -> str:
    """What the lock file says about the running instance, in French ("pid 123, http://…")."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "instance inconnue"
    parts = [f"pid {holder['pid']}" if holder.get("pid") else "", str(holder.get("url") or "")]
    return ", ".join(p for p in parts if p) or "instance inconnue"


def acquire(var: Path, *, url: str) -> InstanceLock:
    """Take var/'s lock or raise AlreadyRunning; nothing else in var/ is touched before this succeeds."""
    var.mkdir(parents=True, exist_ok=True)
    path = var / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = describe_holder(path)
        raise AlreadyRunning(
            f"Guichet tourne déjà avec ce dossier {var} ({holder}) : rien n'a été lancé ni modifié. Arrêtez-le "
            "d'abord (Ctrl-C dans son terminal, ou kill du pid), ou lancez l'autre instance avec une configuration "
            "dans un autre dossier (GUICHET_CONFIG)"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "url": url}).encode(), 0)
    return InstanceLock(fd, path)
