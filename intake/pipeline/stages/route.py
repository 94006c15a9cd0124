"""Stage "route": assign the service (category, zone), transmit what needs no agent, and tell its referents."""

from __future__ import annotations

from intake.pipeline.registry import BaseStage, Context, register
from intake.reports.routing import dispatch


@register("route")
class RouteStage(BaseStage):
    """A new report gets its zone and service; a sure, placed, original one goes straight to "transmis"."""

    def file(self, ctx: Context) -> None:
        """Route `ctx.report` when it was just created; follow-ups change nothing."""
        if ctx.report is not None and ctx.created:
            ctx.outbox_ids.extend(dispatch(ctx.session, ctx.config, ctx.report))
