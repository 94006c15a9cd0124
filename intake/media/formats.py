"""How hostile bytes are handed to Pillow: format allow-list, lazy HEIF opener, warnings policy."""

from __future__ import annotations

import io
import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pillow_heif
from PIL import Image

log = logging.getLogger(__name__)

# Phones and cameras send these (JPEG covers MPO, which has no opener of its own). Anything else
# Pillow knows (EPS hands the file to Ghostscript, ICNS, SPIDER, PSD...) is attack surface with no
# use for a town hall: such files are stored as plain attachments.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "HEIF", "AVIF")

# Image.MIME says "image/mpo" for iPhone JPEGs with a depth map: no browser knows that type.
_MIME_OVERRIDES = {"MPO": "image/jpeg"}

_heif_lock = threading.Lock()
_heif_registered = False
_warnings_lock = threading.RLock()  # re-entrant: a guarded block may call another guarded function


def ensure_heif() -> None:
    """Register pillow-heif's HEIF/HEIC opener with Pillow, once per process, on first use."""
    global _heif_registered
    if _heif_registered:
        return
    with _heif_lock:
        if not _heif_registered:
            # No options: they are process-wide and another part of the service may have set them.
            pillow_heif.register_heif_opener()
            _heif_registered = True


def mime_type(pillow_format: str) -> str:
    """The content type to declare for an image Pillow identified as `pillow_format`."""
    if pillow_format in _MIME_OVERRIDES:
        return _MIME_OVERRIDES[pillow_format]
    return Image.MIME.get(pillow_format, f"image/{pillow_format.lower()}")


@contextmanager
def pillow_warnings(*, bomb_is_error: bool) -> Iterator[None]:
    """Run Pillow code under a fixed warnings policy, whatever the process-wide filters say.

    Pillow warns about corrupt EXIF, odd chunks and so on; those become debug log lines so that a
    slightly broken photo behaves the same in production and under pytest's ``-W error``. Its
    DecompressionBombWarning is raised as an exception when `bomb_is_error`, for the caller to turn
    into MediaError.
    """
    # catch_warnings swaps process-global state and is not thread-safe: two overlapping blocks in
    # different threads could restore each other's filters. The lock serialises our blocks; the
    # cost is nil in rq workers (one job at a time) and small in a threaded web process.
    with _warnings_lock, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if bomb_is_error:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        finally:
            for warning in caught:
                log.debug("Pillow: %s: %s", warning.category.__name__, warning.message)


def open_image(data: bytes) -> Image.Image:
    """Open `data` lazily (header only, no pixel decoding) with the allow-listed formats.

    Raises what Pillow raises: UnidentifiedImageError, DecompressionBombError and friends.
    """
    ensure_heif()
    return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
