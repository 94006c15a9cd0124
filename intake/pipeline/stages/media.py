"""Stage "media": store attachments by content hash and read photos' EXIF (GPS) before stripping it."""

from __future__ import annotations

from dataclasses import replace

from intake.media.attachments import process_attachment
from intake.models import Attachment
from intake.pipeline.registry import BaseStage, Context, ReadContext, register


@register("media")
class MediaStage(BaseStage):
    """Store every attachment's files (reading), then record them on the report (filing)."""

    def read(self, ctx: ReadContext) -> None:
        """Write the files to the store (content-addressed: idempotent) and keep what they turned out to be."""
        parsed = ctx.reading.inbound
        if parsed is None:
            return
        store = ctx.resources.file_store
        max_pixels = int(ctx.config.storage.max_image_megapixels * 1_000_000)
        seen: set[str] = set()
        for att in parsed.attachments:
            media = process_attachment(
                att.payload, filename=att.filename, content_type=att.content_type, store=store, max_pixels=max_pixels
            )
            if media.sha256 not in seen:
                seen.add(media.sha256)
                ctx.reading.media.append(media)
        # The payloads are in the store now: the filing half (maybe in another process) needs only their hashes.
        ctx.reading.inbound = parsed.but(attachments=tuple(replace(a, payload=b"") for a in parsed.attachments))

    def file(self, ctx: Context) -> None:
        """One attachment row per stored file, on the report of `ctx.message`."""
        if ctx.inbound is None or ctx.message is None or ctx.report is None or not ctx.reading.media:
            return
        if ctx.message.id is None:
            ctx.session.flush()  # the report message's id, which the attachment rows name
        for media in ctx.reading.media:
            info = media.info
            gps = info.gps if info is not None else None
            ctx.session.add(
                Attachment(
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
            )
        # Whether a photo's GPS places the report is decided by the "locate" stage (inside the commune?).
        ctx.session.flush()
