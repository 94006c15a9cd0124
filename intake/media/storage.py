"""Content-addressed file store: each blob lives once on disk, under the SHA-256 of its bytes."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
# Originals may carry GPS positions and faces: readable by the service's account only (web and workers run
# under it), neither its group nor the world; the same for the folders that would list them.
_FILE_MODE = 0o600
_DIR_MODE = 0o700


class FileStore:
    """Blobs stored as ``root/ab/cd/<sha256>``; writing the same bytes twice is a no-op.

    Safe with concurrent writers, threads or processes: a blob appears at its final path only once
    complete (temporary file in the same directory, fsync, then os.replace), and two writers of the
    same digest write the same bytes, so whichever rename wins leaves an intact file.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, data: bytes) -> str:
        """Store `data` if it is not there yet and return its SHA-256 hex digest."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        _private_dirs(self.root, target.parent)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{digest[:8]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())  # the rename must not reach the disk before the bytes do
            os.chmod(temp_name, _FILE_MODE)
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        _fsync_directory(target.parent)
        return digest

    def path(self, digest: str) -> Path:
        """Where the blob `digest` lives (whether or not it exists); ValueError unless 64 hex chars.

        Only lowercase hex is accepted, so that a digest names exactly one path and nothing else
        ("../", absolute paths, NUL bytes) can reach the filesystem.
        """
        if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
            raise ValueError(f"not a SHA-256 hex digest: {digest!r:.80}")
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, digest: str) -> bool:
        """Whether the blob `digest` is stored."""
        return self.path(digest).is_file()

    def read(self, digest: str) -> bytes:
        """The bytes of blob `digest`; FileNotFoundError when absent."""
        return self.path(digest).read_bytes()

    def delete(self, digest: str) -> None:
        """Remove blob `digest` if present; its directories stay, a concurrent put may need them."""
        self.path(digest).unlink(missing_ok=True)


def _private_dirs(root: Path, folder: Path) -> None:
    """Create `folder` (under `root`, root included) with mode 0700 for every level this call creates.

    mkdir's mode goes through the umask and `parents=True` ignores it for the parents: each level is made and
    then set explicitly. Folders that already exist are left as the town set them.
    """
    levels = [folder, *folder.parents]
    chain = levels[: levels.index(root) + 1] if root in levels else [folder]
    for level in reversed(chain):
        try:
            level.mkdir(mode=_DIR_MODE)
        except FileExistsError:
            continue
        except FileNotFoundError:  # the root's own parents are missing: make them as the town would
            level.parent.mkdir(parents=True, exist_ok=True)
            level.mkdir(mode=_DIR_MODE, exist_ok=True)
        os.chmod(level, _DIR_MODE)


def _fsync_directory(directory: Path) -> None:
    # Makes the new directory entry durable; some platforms (Windows) cannot open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
