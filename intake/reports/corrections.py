"""Agents' corrections of what the models proposed, kept as training data for `guichet train`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.models import Correction, Event, Report, ReportMessage
from intake.reports.statuses import NEEDS_REVIEW


def reclassify(session: Session, config: Config, report: Report, category: str, *, actor: str) -> None:
    """Set the report's category as an agent decided, re-route it, and store the correction."""
    services = {c.code: c.service for c in config.categories}
    if category not in services:
        raise ValueError(f"catégorie inconnue : {category}")
    first = (
        session.execute(select(ReportMessage).where(ReportMessage.report_id == report.id).order_by(ReportMessage.id))
        .scalars()
        .first()
    )
    old = report.category
    session.add(
        Correction(
            report_id=report.id,
            field="category",
            old_value=old,
            new_value=category,
            subject=first.subject if first else report.subject,
            text=first.text if first else report.description,
            channel=report.channel,
            actor=actor,
        )
    )
    report.category, report.category_source = category, "agent"
    report.service = services[category]
    report.review_reasons = [r for r in (report.review_reasons or []) if not r.startswith("catégorie")]
    if report.status == NEEDS_REVIEW and not report.review_reasons:
        report.status = "nouveau"
    session.add(
        Event(
            report_id=report.id,
            actor=actor,
            action="reclassified",
            detail={"from": old, "to": category, "service": report.service},
        )
    )
