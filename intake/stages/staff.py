"""Staff entry: a report typed in by reception staff (telephone, accueil, courrier)."""

from __future__ import annotations

from intake.pipeline import Context, register


@register("parse_staff")
class ParseStaffStage:
    """Placeholder while the stage is being built: does nothing yet."""

    name = "parse_staff"

    def process(self, ctx: Context) -> None:
        """Nothing yet."""
