"""Media stage: store attachments by content hash, read photos' EXIF (GPS) before stripping it."""

from __future__ import annotations

from intake.models import Attachment
from intake.pipeline.registry import Context, register


@register("media")
class MediaStage:
    """Store every attachment of the message with its photo metadata (GPS, orientation, size)."""

    name = "media"

    def process(self, ctx: Context) -> None:
        """Store attachments of `ctx.parsed` on the report of `ctx.message`."""
        parsed = ctx.parsed
        if parsed is None or ctx.message is None or ctx.report is None:
            return
        from intake.media.attachments import process_attachment

        store = ctx.resources.file_store
        max_pixels = int(ctx.config.storage.max_image_megapixels * 1_000_000)
        seen: set[str] = set()
        for att in parsed.attachments:
            media = process_attachment(
                att.payload, filename=att.filename, content_type=att.content_type, store=store, max_pixels=max_pixels
            )
            if media.sha256 in seen:
                continue
            seen.add(media.sha256)
            info = media.info
            gps = info.gps if info is not None else None
            row = Attachment(
                report_id=ctx.report.id,
                report_message_id=ctx.message.id,
                sha256=media.sha256,
                filename=media.filename[:255],
                content_type=media.content_type[:120],
                size=media.size,
                is_image=media.is_image,
                served_sha256=media.served_sha256,
                thumb_sha256=media.thumb_sha256,
                width=info.width if info else None,
                height=info.height if info else None,
                orientation=info.orientation if info else None,
                gps_lat=gps.lat if gps else None,
                gps_lon=gps.lon if gps else None,
                error=media.error,
            )
            ctx.session.add(row)
        # Whether a photo's GPS places the report is decided by the "locate" stage (inside the commune?).
        ctx.session.flush()
