"""One attachment in: the original stored, its metadata read, safe copies made; bad bytes never raise."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from intake.media.errors import MediaError
from intake.media.exif import ImageInfo, read_image_info
from intake.media.formats import mime_type
from intake.media.images import DEFAULT_MAX_PIXELS, served_copy, thumbnail
from intake.media.storage import FileStore

log = logging.getLogger(__name__)

GENERIC_TYPE = "application/octet-stream"
UNREADABLE_IMAGE = "image illisible ou trop grande"


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """What was stored for one attachment, and what it turned out to be."""

    sha256: str  # the original, byte for byte, metadata included
    size: int
    filename: str
    content_type: str  # from the bytes when they are an image, else the declared one
    is_image: bool
    info: ImageInfo | None  # read from the original, so the GPS position survives the stripping
    served_sha256: str | None = None  # upright, downscaled, metadata-free copy to show
    thumb_sha256: str | None = None
    error: str | None = None  # French, shown to staff next to the attachment


def process_attachment(
    data: bytes,
    *,
    filename: str,
    content_type: str,
    store: FileStore,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> StoredMedia:
    """Store `data` and, when it is an image, its metadata, a served copy and a thumbnail.

    The original is always stored, even when the image cannot be decoded; `error` then says why.
    Storage failures (disk full, permissions) propagate: they are not the sender's fault.
    """
    sha256 = store.put(data)
    info = read_image_info(data)  # before any stripping: the served copy has no GPS left
    declared = _normalise(content_type)
    if info is None:
        error = None
        if declared.startswith("image/"):
            # Says image, is not one we can read (corrupt, a bomb, SVG with scripts...): it must
            # never be served inline as an image, so it loses its image type.
            error, declared = UNREADABLE_IMAGE, GENERIC_TYPE
        return StoredMedia(
            sha256=sha256,
            size=len(data),
            filename=filename,
            content_type=declared,
            is_image=False,
            info=None,
            error=error,
        )

    served_sha256 = thumb_sha256 = None
    error = None
    try:
        served = served_copy(data, max_pixels=max_pixels)
        # From the served copy: already upright and small, so the second decode is cheap.
        thumb = thumbnail(served)
        served_sha256, thumb_sha256 = store.put(served), store.put(thumb)
    except MediaError as exc:
        log.info("attachment %s (%r): %s", sha256[:12], filename, exc)  # %r: the name is the sender's
        error = str(exc) or UNREADABLE_IMAGE  # MediaError messages are French and specific
    return StoredMedia(
        sha256=sha256,
        size=len(data),
        filename=filename,
        content_type=mime_type(info.format),
        is_image=True,
        info=info,
        served_sha256=served_sha256,
        thumb_sha256=thumb_sha256,
        error=error,
    )


def _normalise(content_type: str) -> str:
    # "Image/JPEG; name=x.jpg" -> "image/jpeg"; an empty or parameter-only value says nothing.
    main = content_type.split(";", 1)[0].strip().lower()
    return main if "/" in main else GENERIC_TYPE
