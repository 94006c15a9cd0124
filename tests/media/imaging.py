"""Small images made on the spot for the media tests, and the photo ground truth shared by them."""

from __future__ import annotations

import csv
import io
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from intake.media.exif import ImageInfo
from intake.media.formats import ensure_heif

FIXTURES = Path(__file__).parents[1] / "data" / "photos"
SHARED_PHOTOS = Path(__file__).parents[2].parent / "shared/data/photos"

# exif_ground_truth.csv spells orientations the way exiftool prints them.
ORIENTATIONS = {
    "Horizontal (normal)": 1,
    "Mirrored horizontal": 2,
    "Rotated 180": 3,
    "Mirrored vertical": 4,
    "Mirrored horizontal then rotated 90 CCW": 5,
    "Rotated 90 CW": 6,
    "Mirrored horizontal then rotated 90 CW": 7,
    "Rotated 90 CCW": 8,
}

RED, BLUE = (255, 0, 0), (0, 0, 255)


@dataclass(frozen=True)
class Expected:
    """One row of exif_ground_truth.csv, typed."""

    file: str
    make: str | None
    model: str | None
    taken_at: datetime | None
    orientation: int | None
    lat: float | None
    lon: float | None


def ground_truth(folder: Path) -> list[Expected]:
    """The rows of `folder`/exif_ground_truth.csv."""
    with (folder / "exif_ground_truth.csv").open(newline="", encoding="utf-8") as fh:
        return [
            Expected(
                file=row["file"],
                make=row["make"] or None,
                model=row["model"] or None,
                taken_at=datetime.strptime(row["datetime_original"], "%Y:%m:%d %H:%M:%S")
                if row["datetime_original"]
                else None,
                orientation=ORIENTATIONS[row["orientation"]] if row["orientation"] else None,
                lat=float(row["gps_lat"]) if row["gps_lat"] else None,
                lon=float(row["gps_lon"]) if row["gps_lon"] else None,
            )
            for row in csv.DictReader(fh)
        ]


def check_against(info: ImageInfo | None, row: Expected) -> None:
    """Assert that `info` says what the ground-truth `row` says (GPS to 1e-5 degree)."""
    assert info is not None, row.file
    if row.lat is None:
        assert info.gps is None, row.file
    else:
        assert info.gps is not None, row.file
        assert info.gps.lat == pytest.approx(row.lat, abs=1e-5), row.file
        assert info.gps.lon == pytest.approx(row.lon, abs=1e-5), row.file
    assert info.orientation == row.orientation, row.file
    assert info.make == row.make, row.file
    assert info.model == row.model, row.file
    assert info.taken_at == row.taken_at, row.file


def gps_exif(
    lat: object, lon: object, *, lat_ref: object = "N", lon_ref: object = "E", orientation: int | None = None
) -> Image.Exif:
    """An EXIF block with a GPS IFD holding exactly the given values (junk welcome)."""
    exif = Image.Exif()
    gps: dict[int, object] = {}
    for tag, value in ((1, lat_ref), (2, lat), (3, lon_ref), (4, lon)):
        if value is not None:
            gps[tag] = value
    exif[ExifTags.IFD.GPSInfo] = gps
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    return exif


def corner_image(size: tuple[int, int] = (60, 40)) -> Image.Image:
    """A blue image with a red 10x10 square in its top-left corner, to see where corners go."""
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, 10, 10))
    return image


def encode(image: Image.Image, fmt: str = "JPEG", *, exif: Image.Exif | None = None, **options: object) -> bytes:
    """`image` saved to bytes in `fmt`, with `exif` when given."""
    if exif is not None:
        options["exif"] = exif.tobytes()
    if fmt.upper() in {"HEIF", "HEIC", "AVIF"}:
        ensure_heif()  # pillow-heif's saver, registered by the service only where it reads photos
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels: a decompression bomb's calling card."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def close_to(actual: object, expected: tuple[int, ...], tolerance: int = 40) -> bool:
    """Whether the pixel value `actual` is the colour `expected`, within JPEG's lossiness."""
    assert isinstance(actual, tuple), actual
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))
