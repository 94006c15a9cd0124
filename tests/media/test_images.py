"""served_copy and thumbnail: orientation applied, metadata gone, sizes bounded, bad images refused."""

from __future__ import annotations

import io
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageStat
from PIL.PngImagePlugin import PngInfo

from intake.media.errors import MediaError
from intake.media.exif import read_image_info
from intake.media.images import ensure_heif, served_copy, thumbnail
from tests.media.imaging import BLUE, FIXTURES, RED, close_to, corner_image, encode, gps_exif, png_header

PHOTO = FIXTURES / "openpotbot_fixmystreet/photo_2.JPG"  # iPhone 4, GPS, orientation 6, 1296 x 968


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_no_metadata(data: bytes) -> None:
    image = reopen(data)
    assert not image.getexif()
    assert set(image.info) <= {"icc_profile", "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}
    assert b"Exif\x00\x00" not in data
    assert b"http://ns.adobe.com/xap" not in data


def test_orientation_6_is_applied() -> None:
    data = encode(corner_image((60, 40)), exif=gps_exif(None, None, orientation=6))
    served = reopen(served_copy(data))
    assert served.size == (40, 60)  # width and height swapped
    # A quarter turn clockwise takes the top-left corner to the top-right one.
    assert close_to(served.getpixel((35, 4)), RED)
    assert close_to(served.getpixel((4, 4)), BLUE)
    assert not served.getexif()  # and the orientation tag is not left to rotate it twice


def test_every_orientation_ends_up_the_same_picture() -> None:
    upright = [
        reopen(served_copy((FIXTURES / f"pillow/hopper_orientation_{n}.jpg").read_bytes())).convert("RGB")
        for n in range(2, 9)
    ]
    for image in upright[1:]:
        difference = ImageStat.Stat(ImageChops.difference(upright[0], image)).mean
        assert max(difference) < 8, difference


def test_real_photo_is_upright_and_stripped() -> None:
    data = PHOTO.read_bytes()
    served = served_copy(data)
    assert reopen(served).size == (968, 1296)
    assert_no_metadata(served)


def test_xmp_comment_and_exif_are_stripped() -> None:
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://ns.adobe.com/xap/1.0/"/></x:xmpmeta>'
    data = encode(corner_image(), exif=gps_exif((48.0, 51.0, 29.6), (2.0, 17.0, 40.2)), xmp=xmp, comment=b"secret")
    for out in (served_copy(data), thumbnail(data)):
        assert_no_metadata(out)
        assert b"secret" not in out


def test_png_text_chunks_are_stripped_and_alpha_kept() -> None:
    image = Image.new("RGBA", (50, 30), (0, 0, 255, 0))
    image.paste((255, 0, 0, 255), (0, 0, 10, 10))
    text = PngInfo()
    text.add_text("Author", "Jean Dupont, 12 rue des Lilas")
    served = served_copy(encode(image, "PNG", exif=gps_exif((48.0, 51.0, 29.6), (2.0, 17.0, 40.2)), pnginfo=text))
    assert reopen(served).format == "PNG" and reopen(served).mode == "RGBA"
    assert b"Dupont" not in served
    assert_no_metadata(served)
    thumb = reopen(thumbnail(encode(image, "PNG")))
    assert (thumb.format, thumb.mode) == ("JPEG", "RGB")
    assert close_to(thumb.getpixel((40, 20)), (255, 255, 255))  # transparency flattened onto white


def test_icc_profile_is_kept() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    served = reopen(served_copy(encode(corner_image(), icc_profile=profile)))
    assert served.info.get("icc_profile") == profile


def test_served_copy_is_bounded_but_never_enlarged() -> None:
    big = reopen(served_copy(encode(Image.new("RGB", (3000, 1000), BLUE))))
    assert big.size == (2560, 853)
    assert reopen(served_copy(encode(corner_image()), max_side=30)).size == (30, 20)
    assert reopen(served_copy(encode(corner_image()))).size == (60, 40)


@pytest.mark.parametrize("size", [320, 64])
def test_thumbnail_size(size: int) -> None:
    thumb = reopen(thumbnail(PHOTO.read_bytes(), size=size))
    assert thumb.format == "JPEG"
    assert max(thumb.size) == size
    assert thumb.width < thumb.height  # upright portrait
    assert_no_metadata(thumbnail(PHOTO.read_bytes(), size=size))


def test_heic_is_served_as_upright_jpeg() -> None:
    ensure_heif()
    data = encode(corner_image((60, 40)), "HEIF", exif=gps_exif((48.0, 51.0, 29.6), (2.0, 17.0, 40.2), orientation=6))
    served_bytes = served_copy(data)
    served = reopen(served_bytes)
    assert (served.format, served.size) == ("JPEG", (40, 60))
    assert close_to(served.getpixel((35, 4)), RED, tolerance=60)
    assert_no_metadata(served_bytes)


def test_ensure_heif_is_idempotent() -> None:
    ensure_heif()
    ensure_heif()
    assert "HEIF" in Image.OPEN


@pytest.mark.parametrize(
    ("width", "height"),
    [(100_000, 100_000), (10_000, 10_000), (8_000, 7_000)],
    ids=["pillow-error", "pillow-warning", "over-our-limit"],
)
def test_decompression_bombs_are_refused(width: int, height: int) -> None:
    with pytest.raises(MediaError, match="trop grande"):
        served_copy(png_header(width, height))
    with pytest.raises(MediaError, match="trop grande"):
        thumbnail(png_header(width, height))


def test_bomb_warning_is_refused_even_when_warnings_are_ignored() -> None:
    # Production does not run with -W error: the refusal must come from our code, not pytest's filter.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(MediaError, match="trop grande"):
            served_copy(png_header(10_000, 10_000), max_pixels=200_000_000)


def test_real_image_over_a_low_limit_is_refused() -> None:
    data = encode(Image.new("RGB", (200, 100), BLUE))
    with pytest.raises(MediaError, match="trop grande"):
        served_copy(data, max_pixels=10_000)
    assert reopen(served_copy(data, max_pixels=20_000)).size == (200, 100)


def test_truncated_image_is_refused() -> None:
    data = PHOTO.read_bytes()
    with pytest.raises(MediaError, match="illisible"):
        served_copy(data[: len(data) // 2])


@pytest.mark.parametrize(
    "data",
    [b"", b"just text", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"],
    ids=["empty", "text", "eps"],
)
def test_non_images_are_refused(data: bytes) -> None:
    with pytest.raises(MediaError, match="non reconnu"):
        served_copy(data)
    with pytest.raises(MediaError):
        thumbnail(data)


def test_corrupt_exif_does_not_prevent_a_copy() -> None:
    for name in ("exif_gps_typeerror.jpg", "broken_exif_dpi.jpg", "invalid-exif-without-x-resolution.jpg"):
        assert_no_metadata(served_copy((FIXTURES / "pillow" / name).read_bytes()))


def test_orientation_3_is_a_half_turn() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 3  # half turn: the red corner goes bottom-right
    served = reopen(served_copy(encode(corner_image((60, 40)), exif=exif)))
    assert served.size == (60, 40)
    assert close_to(served.getpixel((55, 35)), RED)


def test_threads_leave_the_warnings_filters_as_they_found_them() -> None:
    # catch_warnings is process-global; overlapping blocks in threads must not scramble the filters.
    before = list(warnings.filters)
    jobs = [PHOTO.read_bytes(), png_header(10_000, 10_000), b"junk"] * 8

    def work(data: bytes) -> None:
        read_image_info(data)
        try:
            thumbnail(data)
        except MediaError:
            pass

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(work, jobs))
    assert warnings.filters == before
