"""A durable spool for what a door received while the database could not store it, filed when it is back.

A webhook answered 200 must never lose its message (Twilio does not retry): when the insert fails, the door
writes the message to a file (written to a temporary name, fsynced, then renamed, so a crash leaves either
nothing or the whole file) and answers. The workers' sweep stores spooled files with the same natural key as
the door would have used, then deletes them; a file that cannot be read is moved aside and counted.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.pipeline.rawstore import store_raw

SUFFIX = ".spool"
BROKEN = "illisibles"


@dataclass(frozen=True)
class Spooled:
    """One message waiting in the spool: what store_raw needs."""

    channel: str
    source: str
    external_key: str
    payload: bytes


def spool_folder(config: Config) -> Path:
    """The town's spool folder (`storage.spool`)."""
    return config.resolve_path(config.storage.spool)


def spool(folder: Path, item: Spooled) -> Path:
    """Write `item` durably to `folder` (created 0700) and return its path."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = json.dumps(
        {
            "channel": item.channel,
            "source": item.source,
            "external_key": item.external_key,
            "payload": item.payload.decode("latin-1"),
        }
    ).encode("utf-8")
    final = folder / f"{uuid.uuid4().hex}{SUFFIX}"
    temporary = folder / f".{final.name}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, final)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)
    return final


def waiting(folder: Path) -> int:
    """How many messages wait in the spool (shown on the health page)."""
    return sum(1 for _ in folder.glob(f"*{SUFFIX}")) if folder.is_dir() else 0


def broken(folder: Path) -> int:
    """How many spooled files could not be read back (moved aside for an administrator)."""
    aside = folder / BROKEN
    return sum(1 for _ in aside.iterdir()) if aside.is_dir() else 0


def drain(folder: Path, factory: sessionmaker[Session], *, enqueue: Callable[[int], None] | None = None) -> int:
    """Store every spooled message (idempotent on its natural key), delete its file; returns how many were new.

    A database still down raises, leaving the files for the next sweep.
    """
    if not folder.is_dir():
        return 0
    new = 0
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        try:
            content = path.read_bytes()
        except FileNotFoundError:  # another worker drained it first
            continue
        try:
            data = json.loads(content)
            item = Spooled(
                channel=str(data["channel"]),
                source=str(data["source"]),
                external_key=str(data["external_key"]),
                payload=str(data["payload"]).encode("latin-1"),
            )
        except (OSError, ValueError, KeyError, TypeError):
            (folder / BROKEN).mkdir(mode=0o700, exist_ok=True)
            path.replace(folder / BROKEN / path.name)
            continue
        raw_id, created = store_raw(
            factory, channel=item.channel, source=item.source, external_key=item.external_key, payload=item.payload
        )
        path.unlink(missing_ok=True)
        if created:
            new += 1
            if enqueue is not None:
                enqueue(raw_id)
    return new
