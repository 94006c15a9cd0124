"""Routing: assign the service (category, zone) and tell its referents."""

from __future__ import annotations

from intake.pipeline import Context, register


@register("route")
class RouteStage:
    """Placeholder while the stage is being built: does nothing yet."""

    name = "route"

    def process(self, ctx: Context) -> None:
        """Nothing yet."""
