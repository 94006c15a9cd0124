"""Stage "parse": the stored bytes become the one InboundMessage type, through the door they came in by."""

from __future__ import annotations

from intake.pipeline.registry import BaseStage, Parser, ReadContext, register


@register("parse")
class ParseStage(BaseStage):
    """Ask the message's channel (the CHANNELS registry the resources hold) to parse what it stored."""

    def read(self, ctx: ReadContext) -> None:
        """Set `reading.inbound`; an unknown channel or an unreadable payload fails the message."""
        channel: Parser | None = ctx.resources.channels.get(ctx.raw.channel)
        if channel is None:
            raise ValueError(f"canal inconnu : {ctx.raw.channel}")
        ctx.reading.inbound = channel.parse(ctx.raw, ctx.config)
        inbound = ctx.reading.inbound
        if inbound.entered_by:
            ctx.reading.notes.append(f"Saisi par {inbound.entered_by} ({channel.label.lower()}).")
        if inbound.sender_phone and inbound.sender_phone in ctx.config.twilio.numbers:
            ctx.reading.no_confirmation = "message envoyé par un numéro de la mairie"
