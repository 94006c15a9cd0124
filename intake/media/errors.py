"""The one exception the media package raises for images it refuses to handle."""

from __future__ import annotations


class MediaError(Exception):
    """An image that cannot be decoded safely: not an image, corrupt, truncated or too large.

    The message is in French because it ends up, as is, in the back office next to the attachment.
    """
