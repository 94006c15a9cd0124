"""Copies of citizen photos that are safe to show: upright, downscaled, stripped of all metadata."""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

from intake.media.errors import MediaError
from intake.media.formats import ensure_heif, open_image, pillow_warnings

__all__ = ["DEFAULT_MAX_PIXELS", "ensure_heif", "served_copy", "thumbnail"]

# A 48-megapixel phone photo passes; Pillow's own limit (about 89 Mpx warning, 179 Mpx error) still
# applies above this one, because it is checked in Image.open before we see the size.
DEFAULT_MAX_PIXELS = 50_000_000

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_JPEG_FAMILY = frozenset({"JPEG", "MPO"})
# Modes whose pixels an ICC profile keeps describing after our conversions (RGBA -> RGB, P -> RGB...).
_COLOUR_SPACE = {
    **dict.fromkeys(("RGB", "RGBA", "RGBa", "RGBX", "P", "PA"), "RGB"),
    **dict.fromkeys(("1", "L", "LA", "La"), "L"),
}


def served_copy(data: bytes, *, max_side: int = 2560, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """Return the image in `data` as JPEG (PNG when it has transparency), ready to show in a browser.

    The copy is turned upright according to its EXIF orientation, shrunk to fit `max_side` pixels,
    and carries no metadata at all (no EXIF, GPS, XMP, comments), only its ICC colour profile when
    the colours were not converted. Raises MediaError when `data` is not an image, is corrupt or
    truncated, or has more than `max_pixels` pixels.
    """
    return _render(data, box=max_side, max_pixels=max_pixels, keep_alpha=True, quality=85)


def thumbnail(data: bytes, *, size: int = 320, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """Return a JPEG no larger than `size` pixels on either side, upright and without metadata.

    Transparent areas are flattened onto white. Raises MediaError like served_copy().
    """
    return _render(data, box=size, max_pixels=max_pixels, keep_alpha=False, quality=80)


def _render(data: bytes, *, box: int, max_pixels: int, keep_alpha: bool, quality: int) -> bytes:
    if box < 1:
        raise ValueError(f"box size must be positive, not {box}")
    try:
        with pillow_warnings(bomb_is_error=True), open_image(data) as image:
            _check_size(image, max_pixels=max_pixels)
            if image.format in _JPEG_FAMILY:
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: a thumbnail then costs a fraction.
                image.draft(None, (box, box))
            image.load()
            return _encode(image, box=box, keep_alpha=keep_alpha, quality=quality)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError("image trop grande (possible bombe de décompression)") from exc
    except UnidentifiedImageError as exc:
        raise MediaError("fichier non reconnu comme une image") from exc
    except Exception as exc:  # hostile bytes can make decoders raise almost anything
        raise MediaError("image illisible (fichier corrompu, tronqué ou non pris en charge)") from exc


def _check_size(image: Image.Image, *, max_pixels: int) -> None:
    width, height = image.size
    if width < 1 or height < 1 or width * height > max_pixels:
        raise MediaError(f"image trop grande ({width} × {height} pixels, limite {max_pixels / 1e6:g} mégapixels)")


def _encode(image: Image.Image, *, box: int, keep_alpha: bool, quality: int) -> bytes:
    source_space = _COLOUR_SPACE.get(image.mode)
    icc_profile = image.info.get("icc_profile")
    # In place: a 48-megapixel HEIC is 140 MB decoded, every needless copy counts.
    ImageOps.exif_transpose(image, in_place=True)
    alpha = _has_alpha(image)
    target = "RGBA" if alpha else ("L" if image.mode in ("1", "L") else "RGB")
    # Convert before resizing: palette and bilevel images would otherwise get nearest-neighbour.
    picture = image if image.mode == target else image.convert(target)
    picture.thumbnail((box, box), Image.Resampling.LANCZOS)
    if alpha and picture.getchannel("A").getextrema()[0] == 255:
        picture, alpha = picture.convert("RGB"), False  # an opaque alpha channel: JPEG is smaller
    if alpha and not keep_alpha:
        picture, alpha = _flatten(picture), False
    # Every Pillow operation copies .info (EXIF, XMP, comment...) and some encoders read it back.
    picture.info = {}
    options: dict[str, object] = {}
    if icc_profile and source_space is not None and _COLOUR_SPACE.get(picture.mode) == source_space:
        options["icc_profile"] = icc_profile  # after CMYK -> RGB and the like it would be wrong
    if alpha:
        fmt = "PNG"
    else:
        fmt = "JPEG"
        options.update(quality=quality, optimize=True)
    out = io.BytesIO()
    picture.save(out, format=fmt, **options)
    return out.getvalue()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in _ALPHA_MODES or "transparency" in image.info


def _flatten(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, "white")
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background
