"""Citizen photos and other attachments: EXIF reading, safe served copies, content-addressed storage."""

from intake.media.attachments import StoredMedia, process_attachment
from intake.media.errors import MediaError
from intake.media.exif import GeoPoint, ImageInfo, read_image_info
from intake.media.images import DEFAULT_MAX_PIXELS, ensure_heif, served_copy, thumbnail
from intake.media.storage import FileStore

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FileStore",
    "GeoPoint",
    "ImageInfo",
    "MediaError",
    "StoredMedia",
    "ensure_heif",
    "process_attachment",
    "read_image_info",
    "served_copy",
    "thumbnail",
]
