"""Ask the citizen once where the problem is, when the report has no usable location."""

from __future__ import annotations

from intake.pipeline import Context, register


@register("ask_location")
class AskLocationStage:
    """Placeholder while the stage is being built: does nothing yet."""

    name = "ask_location"

    def process(self, ctx: Context) -> None:
        """Nothing yet."""
