"""FileStore: content addressing, idempotency, path validation, concurrent writers."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import stat
from pathlib import Path
from typing import Any

import pytest

from intake.media.storage import FileStore

# Big enough that a torn or interleaved write would show, small enough to stay quick; seeded, as
# every spawned process rebuilds it when importing this module.
CONCURRENT_BLOB = random.Random(20240601).randbytes(1 << 22)


def test_put_stores_under_the_sha256(store: FileStore) -> None:
    digest = store.put(b"hello")
    assert digest == hashlib.sha256(b"hello").hexdigest()
    assert store.path(digest) == store.root / digest[:2] / digest[2:4] / digest
    assert store.read(digest) == b"hello"
    assert store.exists(digest)
    assert stat.S_IMODE(store.path(digest).stat().st_mode) == 0o600  # issue 12, P5
    for folder in (store.root, store.path(digest).parent.parent, store.path(digest).parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_put_is_idempotent(store: FileStore) -> None:
    digest = store.put(b"same bytes")
    before = store.path(digest).stat()
    assert store.put(b"same bytes") == digest
    after = store.path(digest).stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)  # not rewritten
    assert [p.name for p in store.root.rglob("*") if p.is_file()] == [digest]  # no temp files left


def test_empty_blob(store: FileStore) -> None:
    digest = store.put(b"")
    assert store.read(digest) == b""


def test_missing_blob(store: FileStore) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(digest)
    with pytest.raises(FileNotFoundError):
        store.read(digest)
    store.delete(digest)  # no error


def test_delete(store: FileStore) -> None:
    digest = store.put(b"to delete")
    store.delete(digest)
    assert not store.exists(digest)
    assert store.put(b"to delete") == digest and store.exists(digest)


@pytest.mark.parametrize(
    "digest",
    [
        "../../../../etc/passwd",
        "/etc/passwd",
        "a" * 63,
        "a" * 65,
        "A" * 64,
        "g" * 64,
        "a" * 64 + "\n",
        "a" * 62 + "/.",
        "a" * 63 + "\x00",
        "",
    ],
)
def test_bad_digests_are_refused(store: FileStore, digest: str) -> None:
    for operation in (store.path, store.exists, store.read, store.delete):
        with pytest.raises(ValueError, match="SHA-256"):
            operation(digest)


def test_failed_write_leaves_nothing(store: FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        store.put(b"lost")
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def _put_concurrently(root: str, barrier: Any) -> str:
    barrier.wait()  # all processes start writing at the same moment
    return FileStore(Path(root)).put(CONCURRENT_BLOB)


def test_concurrent_puts_from_processes_leave_one_intact_file(tmp_path: Path) -> None:
    workers = 8
    context = multiprocessing.get_context("spawn")  # like separate rq workers: nothing shared
    with context.Manager() as manager, context.Pool(workers) as pool:
        barrier = manager.Barrier(workers, timeout=60)
        digests = pool.starmap(_put_concurrently, [(str(tmp_path), barrier)] * workers)
    expected = hashlib.sha256(CONCURRENT_BLOB).hexdigest()
    assert digests == [expected] * workers
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [FileStore(tmp_path).path(expected)]
    assert hashlib.sha256(files[0].read_bytes()).hexdigest() == expected
