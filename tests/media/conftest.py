"""Fixtures shared by the media tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake.media.storage import FileStore


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    """An empty content-addressed store in a temporary directory."""
    return FileStore(tmp_path / "store")
