"""Read what an image says about itself (size, orientation, GPS, date, camera) without decoding it."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from numbers import Real
from typing import Any, TypeVar

from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngImageFile

from intake.media.formats import open_image, pillow_warnings

log = logging.getLogger(__name__)

_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
_DATE_TAGS = (  # (date tag, its UTC offset tag), best first; DateTime (0x0132) is the file's edit time
    (ExifTags.Base.DateTimeOriginal, ExifTags.Base.OffsetTimeOriginal),
    (ExifTags.Base.DateTimeDigitized, ExifTags.Base.OffsetTimeDigitized),
)
_DATE_RE = re.compile(r"\s*(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET_RE = re.compile(r"\s*([+-])(\d{2}):(\d{2})\s*\Z")
_MAX_TEXT = 100  # make/model are copied to the database: a hostile file could put megabytes there
_SWAPPED = frozenset({5, 6, 7, 8})  # orientations that turn the picture a quarter turn

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class GeoPoint:
    """A WGS84 position in decimal degrees."""

    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What an image file declares about itself.

    `width` and `height` are those of the upright picture, once `orientation` has been applied, i.e.
    the size of the served copy before any downscaling. `orientation` is the EXIF value as recorded
    (1-8), or None when absent or invalid.
    """

    format: str
    width: int
    height: int
    orientation: int | None = None
    gps: GeoPoint | None = None
    taken_at: datetime | None = None
    make: str | None = None
    model: str | None = None


def read_image_info(data: bytes) -> ImageInfo | None:
    """Describe the image in `data`, or return None when Pillow cannot identify it.

    Only the header and metadata are parsed, never the pixels. Broken metadata gives None fields,
    never an exception. Images larger than Pillow's decompression-bomb error limit give None.
    """
    try:
        # A 108-megapixel phone photo trips Pillow's bomb warning at open: its GPS is still wanted.
        with pillow_warnings(bomb_is_error=False), open_image(data) as image:
            return _describe(image)
    except Exception as exc:  # hostile bytes can make Pillow raise almost anything
        log.debug("not an identifiable image: %s: %s", type(exc).__name__, exc)
        return None


def _describe(image: Image.Image) -> ImageInfo:
    exif = _exif(image)
    width, height = image.size
    if "original_orientation" in image.info:
        # pillow-heif has already rotated the pixels and reset the EXIF tag; it keeps the original here.
        orientation = _orientation(image.info["original_orientation"])
    else:
        orientation = _orientation(exif.get(ExifTags.Base.Orientation))
        if orientation in _SWAPPED:
            width, height = height, width
    fmt = "JPEG" if image.format == "MPO" else str(image.format)  # MPO is a JPEG with extra frames
    return ImageInfo(
        format=fmt,
        width=width,
        height=height,
        orientation=orientation,
        gps=_safely(_gps, exif),
        taken_at=_safely(_taken_at, exif),
        make=_text(exif.get(ExifTags.Base.Make)),
        model=_text(exif.get(ExifTags.Base.Model)),
    )


def _exif(image: Image.Image) -> Image.Exif:
    try:
        if isinstance(image, PngImageFile):
            # PngImageFile.getexif() decodes the whole image to look for an eXIf chunk after the
            # pixels; phones write it before them, so the generic reader over image.info suffices.
            return Image.Image.getexif(image)
        return image.getexif()
    except Exception as exc:
        log.debug("unreadable EXIF: %s: %s", type(exc).__name__, exc)
        return Image.Exif()


def _safely(reader: Callable[[Image.Exif], _T | None], exif: Image.Exif) -> _T | None:
    try:
        return reader(exif)
    except Exception as exc:  # Pillow parses sub-IFDs lazily, so junk can surface only here
        log.debug("unreadable EXIF field: %s: %s", type(exc).__name__, exc)
        return None


def _orientation(value: object) -> int | None:
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    return value.replace("\x00", "").strip()[:_MAX_TEXT] or None


def _gps(exif: Image.Exif) -> GeoPoint | None:
    gps: Mapping[int, Any] = exif.get_ifd(ExifTags.IFD.GPSInfo)
    lat = _coordinate(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), negative="S", positive="N")
    lon = _coordinate(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), negative="W", positive="E")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    if lat == 0 and lon == 0:  # "null island": what a receiver without a fix writes
        return None
    return GeoPoint(lat=lat, lon=lon)


def _coordinate(value: object, ref: object, *, negative: str, positive: str) -> float | None:
    """Degrees from an EXIF (degrees, minutes, seconds) triple of rationals and its N/S/E/W ref."""
    if isinstance(value, tuple | list):
        parts = list(value)
    elif isinstance(value, Real):  # IFDRational too: some writers put decimal degrees in one rational
        parts = [value]
    else:
        return None
    if not 1 <= len(parts) <= 3:
        return None
    values = [float(part) for part in parts]  # IFDRational with a zero denominator gives NaN
    if any(not math.isfinite(n) or n < 0 for n in values):
        return None
    if any(n > 60 for n in values[1:]):  # 60 is allowed: 59.996 seconds rounded to 2 decimals
        return None
    degrees = float(sum(n / 60**i for i, n in enumerate(values)))
    if isinstance(ref, bytes):
        ref = ref.decode("latin-1")
    ref = ref.replace("\x00", "").strip().upper() if isinstance(ref, str) else ""
    if ref == negative:
        return -degrees
    # A missing ref is read as north/east, as exiftool does; anything else is junk.
    return degrees if ref in (positive, "") else None


def _taken_at(exif: Image.Exif) -> datetime | None:
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    for date_tag, offset_tag in _DATE_TAGS:
        when = _parse_date(sub.get(date_tag))
        if when is not None:
            return when.replace(tzinfo=_parse_offset(sub.get(offset_tag)))
    return None


def _parse_date(value: object) -> datetime | None:
    match = _DATE_RE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(group) for group in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:  # "0000:00:00 00:00:00" and other placeholders
        return None


def _parse_offset(value: object) -> timezone | None:
    match = _OFFSET_RE.match(value.replace("\x00", "")) if isinstance(value, str) else None
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14):
        return None
    return timezone(-delta if sign == "-" else delta)
