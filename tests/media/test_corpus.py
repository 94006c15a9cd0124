"""The whole shared photo corpus: every ground-truth row matches, every file goes through intake."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake.media.attachments import process_attachment
from intake.media.exif import read_image_info
from intake.media.storage import FileStore
from tests.media.imaging import SHARED_PHOTOS, Expected, check_against, ground_truth

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(
        not (SHARED_PHOTOS / "exif_ground_truth.csv").is_file(),
        reason=f"shared photo corpus absent: {SHARED_PHOTOS}",
    ),
]


def _rows() -> list[object]:
    if not (SHARED_PHOTOS / "exif_ground_truth.csv").is_file():
        return []
    return [pytest.param(row, id=row.file) for row in ground_truth(SHARED_PHOTOS)]


def _files() -> list[object]:
    if not SHARED_PHOTOS.is_dir():
        return []
    paths = sorted(p for p in SHARED_PHOTOS.rglob("*") if p.is_file())
    return [pytest.param(p, id=p.relative_to(SHARED_PHOTOS).as_posix()) for p in paths]


@pytest.mark.parametrize("row", _rows())
def test_ground_truth(row: Expected) -> None:
    check_against(read_image_info((SHARED_PHOTOS / row.file).read_bytes()), row)


@pytest.mark.parametrize("path", _files())
def test_every_file_goes_through_intake(path: Path, tmp_path: Path) -> None:
    data = path.read_bytes()
    media = process_attachment(
        data, filename=path.name, content_type="application/octet-stream", store=FileStore(tmp_path)
    )
    assert media.size == len(data)
    if path.suffix.lower() in {".jpg", ".jpeg"}:
        assert media.is_image and media.error is None, media.error
        assert media.served_sha256 is not None and media.thumb_sha256 is not None
    else:  # LICENSE, README, the CSV itself
        assert not media.is_image and media.content_type == "application/octet-stream"
