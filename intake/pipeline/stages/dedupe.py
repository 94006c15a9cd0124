"""Stage "dedupe": link a new report to the open report of the same problem it repeats."""

from __future__ import annotations

from intake.pipeline.registry import BaseStage, Context, register
from intake.reports.dedupe import find_duplicate, link


@register("dedupe")
class DedupeStage(BaseStage):
    """A new, placed and classified report close to an open one of its category becomes its duplicate."""

    def file(self, ctx: Context) -> None:
        """Set `duplicate_of_id`; the report keeps its row, status and confirmation (agents can unlink)."""
        report, rules = ctx.report, ctx.config.dedupe
        if report is None or not ctx.created or not rules.enabled or report.duplicate_of_id is not None:
            return
        main = find_duplicate(ctx.session, report, rules=rules)
        if main is not None:
            link(ctx.session, report, main, actor="guichet", how="auto")
