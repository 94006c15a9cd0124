"""read_image_info: GPS, orientation, dates and camera against ground truth and hostile metadata."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageFile
from PIL.TiffImagePlugin import IFDRational

from intake.media.exif import ImageInfo, read_image_info
from intake.media.images import ensure_heif
from tests.media.imaging import (
    FIXTURES,
    Expected,
    check_against,
    corner_image,
    encode,
    gps_exif,
    ground_truth,
    png_header,
)

ROWS = ground_truth(FIXTURES)
EIFFEL = ((48.0, 51.0, 29.6), (2.0, 17.0, 40.2))  # 48.858222 N, 2.2945 E


def position(info: ImageInfo | None) -> tuple[float, float] | None:
    """(lat, lon) of `info`, for pytest.approx, which does not compare dataclasses."""
    return None if info is None or info.gps is None else (info.gps.lat, info.gps.lon)


def test_fixture_ground_truth_lists_every_fixture_photo() -> None:
    photos = {p.relative_to(FIXTURES).as_posix() for p in FIXTURES.glob("*/*") if p.suffix.lower() == ".jpg"}
    assert photos == {row.file for row in ROWS}


@pytest.mark.parametrize("row", ROWS, ids=[row.file for row in ROWS])
def test_matches_ground_truth(row: Expected) -> None:
    check_against(read_image_info((FIXTURES / row.file).read_bytes()), row)


def test_reports_format_and_upright_size() -> None:
    # photo_2.JPG is stored 1296 x 968 with orientation 6: upright it is a portrait.
    info = read_image_info((FIXTURES / "openpotbot_fixmystreet/photo_2.JPG").read_bytes())
    assert info is not None
    assert (info.format, info.width, info.height, info.orientation) == ("JPEG", 968, 1296, 6)
    assert info.gps is not None and info.gps.lon < 0  # west of Greenwich


@pytest.mark.parametrize("name", ["empty_gps_ifd.jpg", "exif_gps.jpg", "exif_gps_typeerror.jpg"])
def test_pillow_junk_gps_gives_none(name: str) -> None:
    info = read_image_info((FIXTURES / "pillow" / name).read_bytes())
    assert info is not None and info.gps is None


@pytest.mark.parametrize(
    ("lat_ref", "lon_ref", "expected"),
    [
        ("N", "E", (48.858222, 2.2945)),
        ("S", "W", (-48.858222, -2.2945)),
        (b"N\x00", "W ", (48.858222, -2.2945)),
    ],
)
def test_refs_give_the_sign(lat_ref: object, lon_ref: object, expected: tuple[float, float]) -> None:
    info = read_image_info(encode(corner_image(), exif=gps_exif(*EIFFEL, lat_ref=lat_ref, lon_ref=lon_ref)))
    assert info is not None and info.gps is not None
    assert (info.gps.lat, info.gps.lon) == pytest.approx(expected, abs=1e-5)


def test_missing_refs_read_as_north_east() -> None:
    info = read_image_info(encode(corner_image(), exif=gps_exif(*EIFFEL, lat_ref=None, lon_ref=None)))
    assert position(info) == pytest.approx((48.858222, 2.2945), abs=1e-5)


def test_decimal_degrees_in_a_single_rational() -> None:
    info = read_image_info(encode(corner_image(), exif=gps_exif(48.858222, 2.2945)))
    assert info is not None and info.gps is not None
    assert (info.gps.lat, info.gps.lon) == pytest.approx((48.858222, 2.2945), abs=1e-6)


@pytest.mark.parametrize(
    ("lat", "lon", "lat_ref"),
    [
        pytest.param(
            (IFDRational(48, 1), IFDRational(51, 0), IFDRational(0, 1)), EIFFEL[1], "N", id="zero-denominator"
        ),
        pytest.param((95.0, 0.0, 0.0), EIFFEL[1], "N", id="latitude-over-90"),
        pytest.param(EIFFEL[0], (181.0, 0.0, 0.0), "N", id="longitude-over-180"),
        pytest.param((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), "N", id="null-island"),
        pytest.param(EIFFEL[0], EIFFEL[1], "X", id="unknown-ref"),
        pytest.param((48.0, 51.0, 29.6, 1.0), EIFFEL[1], "N", id="four-components"),
        pytest.param((48.0, 75.0, 0.0), EIFFEL[1], "N", id="75-minutes"),
        pytest.param(None, EIFFEL[1], "N", id="latitude-missing"),
        pytest.param((), EIFFEL[1], "N", id="empty"),
    ],
)
def test_junk_gps_gives_none(lat: object, lon: object, lat_ref: str) -> None:
    info = read_image_info(encode(corner_image(), exif=gps_exif(lat, lon, lat_ref=lat_ref)))
    assert info is not None
    assert info.gps is None
    assert (info.width, info.height) == (60, 40)  # the rest of the description is unaffected


def test_date_with_utc_offset_and_fallback_to_digitized() -> None:
    exif = Image.Exif()
    exif[ExifTags.IFD.Exif] = {
        ExifTags.Base.DateTimeOriginal: "0000:00:00 00:00:00",  # placeholder written by some cameras
        ExifTags.Base.DateTimeDigitized: "2024:03:05 14:30:00",
        ExifTags.Base.OffsetTimeDigitized: "+01:00",
    }
    info = read_image_info(encode(corner_image(), exif=exif))
    assert info is not None
    assert info.taken_at == datetime(2024, 3, 5, 14, 30, tzinfo=timezone(timedelta(hours=1)))


def test_camera_text_is_cleaned_and_bounded() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "  Canon\x00\x00"
    exif[ExifTags.Base.Model] = "X" * 10_000
    info = read_image_info(encode(corner_image(), exif=exif))
    assert info is not None
    assert info.make == "Canon"
    assert info.model is not None and len(info.model) == 100


@pytest.mark.parametrize("orientation", [0, 9, 255])
def test_invalid_orientation_gives_none(orientation: int) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    info = read_image_info(encode(corner_image(), exif=exif))
    assert info is not None and info.orientation is None


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_metadata_is_read_without_decoding_pixels(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(corner_image(), fmt, exif=gps_exif(*EIFFEL, orientation=6))

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    info = read_image_info(data)
    assert info is not None
    assert (info.format, info.width, info.height, info.orientation) == (fmt, 40, 60, 6)
    assert position(info) == pytest.approx((48.858222, 2.2945), abs=1e-5)


def test_heic_round_trip_keeps_gps_and_orientation() -> None:
    ensure_heif()
    assert pillow_heif.libheif_info()["HEIF"], "this pillow-heif build has no HEVC encoder"
    data = encode(corner_image(), "HEIF", exif=gps_exif(*EIFFEL, lat_ref="S", orientation=6))
    info = read_image_info(data)
    assert info is not None
    # libheif applies the rotation itself, so the size is already upright.
    assert (info.format, info.width, info.height, info.orientation) == ("HEIF", 40, 60, 6)
    assert position(info) == pytest.approx((-48.858222, 2.2945), abs=1e-5)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, this is not an image", b"%PDF-1.4\n", b"\xff\xd8\xff", b"%!PS-Adobe-3.0 EPSF-3.0\n"],
    ids=["empty", "text", "pdf", "jpeg-magic-only", "eps"],
)
def test_not_an_image_gives_none(data: bytes) -> None:
    assert read_image_info(data) is None


def test_bomb_headers() -> None:
    # Over Pillow's warning limit but under its error limit: the header is described, GPS and all.
    info = read_image_info(png_header(10_000, 10_000))
    assert info is not None and (info.width, info.height) == (10_000, 10_000)
    # Over the error limit: Pillow refuses to open it at all.
    assert read_image_info(png_header(100_000, 100_000)) is None


def test_truncated_jpeg_still_described() -> None:
    data = (FIXTURES / "exif-samples/gps_DSCN0010.jpg").read_bytes()
    info = read_image_info(data[: len(data) // 2])
    assert info is not None and info.gps is not None
