"""process_attachment: original kept, metadata read before stripping, types sniffed, never raises."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from intake.media.attachments import StoredMedia, process_attachment
from intake.media.storage import FileStore
from tests.media.imaging import FIXTURES, corner_image, encode, gps_exif, png_header

PHOTO = FIXTURES / "openpotbot_fixmystreet/photo_2.JPG"


def test_photo_with_gps(store: FileStore) -> None:
    data = PHOTO.read_bytes()
    media = process_attachment(data, filename="IMG_0001.JPG", content_type="application/octet-stream", store=store)
    assert media.is_image and media.error is None
    assert media.content_type == "image/jpeg"  # from the bytes, not the declared type
    assert (media.size, media.filename) == (len(data), "IMG_0001.JPG")
    assert store.read(media.sha256) == data  # the original, GPS and all
    assert media.info is not None and media.info.gps is not None
    assert media.info.gps.lat == pytest.approx(51.4009222, abs=1e-5)
    assert media.served_sha256 is not None and media.thumb_sha256 is not None
    served = Image.open(io.BytesIO(store.read(media.served_sha256)))
    assert served.size == (968, 1296) and not served.getexif()
    thumb = Image.open(io.BytesIO(store.read(media.thumb_sha256)))
    assert thumb.format == "JPEG" and max(thumb.size) == 320


def test_same_photo_twice_gives_the_same_blobs(store: FileStore) -> None:
    first = process_attachment(PHOTO.read_bytes(), filename="a.jpg", content_type="image/jpeg", store=store)
    second = process_attachment(PHOTO.read_bytes(), filename="b.jpg", content_type="image/jpeg", store=store)
    assert (first.sha256, first.served_sha256, first.thumb_sha256) == (
        second.sha256,
        second.served_sha256,
        second.thumb_sha256,
    )


def test_heic_declared_as_anything(store: FileStore) -> None:
    data = encode(corner_image(), "HEIF", exif=gps_exif((48.0, 51.0, 29.6), (2.0, 17.0, 40.2)))
    media = process_attachment(data, filename="IMG_0002.HEIC", content_type="application/octet-stream", store=store)
    assert media.is_image and media.error is None
    assert media.content_type == "image/heif"
    assert media.info is not None and media.info.format == "HEIF" and media.info.gps is not None
    assert media.served_sha256 is not None
    assert Image.open(io.BytesIO(store.read(media.served_sha256))).format == "JPEG"


def test_plain_file_keeps_its_declared_type(store: FileStore) -> None:
    media = process_attachment(
        b"%PDF-1.4\n...", filename="plan.pdf", content_type="Application/PDF; name=plan.pdf", store=store
    )
    assert media == StoredMedia(
        sha256=media.sha256,
        size=12,
        filename="plan.pdf",
        content_type="application/pdf",
        is_image=False,
        info=None,
    )
    assert store.read(media.sha256) == b"%PDF-1.4\n..."


@pytest.mark.parametrize("declared", ["", "nonsense", ";charset=utf-8"])
def test_meaningless_declared_type(store: FileStore, declared: str) -> None:
    media = process_attachment(b"data", filename="x", content_type=declared, store=store)
    assert media.content_type == "application/octet-stream"


@pytest.mark.parametrize(
    "data",
    [
        b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
        b"\xff\xd8\xff\xe0 broken",
        png_header(100_000, 100_000),
    ],
    ids=["svg", "broken-jpeg", "bomb-beyond-pillow-limit"],
)
def test_declared_image_that_is_not_readable(store: FileStore, data: bytes) -> None:
    media = process_attachment(data, filename="photo.jpg", content_type="image/jpeg", store=store)
    assert not media.is_image
    assert media.content_type == "application/octet-stream"  # never served inline as an image
    assert media.error == "image illisible ou trop grande"
    assert store.read(media.sha256) == data


def test_image_too_large_keeps_original_and_metadata(store: FileStore) -> None:
    data = PHOTO.read_bytes()
    media = process_attachment(data, filename="big.jpg", content_type="image/jpeg", store=store, max_pixels=1_000_000)
    assert media.is_image and media.content_type == "image/jpeg"
    assert media.info is not None and media.info.gps is not None
    assert media.served_sha256 is None and media.thumb_sha256 is None
    assert media.error is not None and "trop grande" in media.error
    assert store.read(media.sha256) == data


def test_bomb_header_within_pillow_warning_range(store: FileStore) -> None:
    media = process_attachment(png_header(10_000, 10_000), filename="x.png", content_type="image/png", store=store)
    assert media.is_image and media.served_sha256 is None
    assert media.error is not None and "trop grande" in media.error


def test_truncated_photo(store: FileStore) -> None:
    data = PHOTO.read_bytes()[:50_000]
    media = process_attachment(data, filename="cut.jpg", content_type="image/jpeg", store=store)
    assert media.is_image and media.info is not None and media.info.gps is not None
    assert media.served_sha256 is None
    assert media.error is not None and "illisible" in media.error
