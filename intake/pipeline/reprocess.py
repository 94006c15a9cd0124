"""`guichet reprocess`: run understanding again over stored reports, with the current model, silently."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from intake.message import InboundMessage, RawInput
from intake.models import Event, Report, ReportMessage
from intake.pipeline.registry import Context, ReadContext, Reading
from intake.pipeline.stages.classify import ClassifyStage
from intake.pipeline.stages.locate import LocateStage
from intake.pipeline.stages.triage import TriageStage
from intake.reports.statuses import NEEDS_REVIEW
from intake.reports.voicemail import stored_transcript

BATCH = 200


def reprocess(
    res: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    category: str | None = None,
    review_only: bool = False,
) -> dict[str, int]:
    """Re-classify and re-locate matching reports; agents' choices are kept and nobody is notified."""
    query = select(Report.id).where(Report.anonymised_at.is_(None)).order_by(Report.id)  # erased words: nothing to read
    if since:
        query = query.where(Report.created_at >= since)
    if until:
        query = query.where(Report.created_at < until)
    if category:
        query = query.where(Report.category == category)
    if review_only:
        query = query.where(Report.status == NEEDS_REVIEW)
    with res.factory() as session:
        ids = list(session.execute(query).scalars())
    counts = {"réanalysés": 0, "catégorie changée": 0, "à qualifier": 0}
    stages = (ClassifyStage(), LocateStage(), TriageStage())
    for start in range(0, len(ids), BATCH):
        with res.factory() as session, session.begin():
            for report_id in ids[start : start + BATCH]:
                report = session.get(Report, report_id)
                first = (
                    session.execute(
                        select(ReportMessage).where(ReportMessage.report_id == report_id).order_by(ReportMessage.id)
                    )
                    .scalars()
                    .first()
                )
                if report is None or first is None:
                    continue
                before = report.category
                if report.status == NEEDS_REVIEW:
                    report.status = "nouveau"  # triage decides again with the new confidences
                raw = first.raw
                # A voicemail is read from its machine transcript when it has one (its text says only "à écouter").
                heard = stored_transcript(first) if report.channel == "voice" else None
                pending = (first.details or {}).get("transcript_pending") if report.channel == "voice" else None
                text = heard.text if heard is not None and heard.text.strip() else first.text or ""
                reading = Reading(
                    raw=RawInput(
                        id=raw.id,
                        channel=raw.channel,
                        source=raw.source,
                        external_key=raw.external_key,
                        payload=b"",
                        received_at=raw.received_at,
                    ),
                    inbound=InboundMessage(
                        channel=report.channel,
                        subject=first.subject or "",
                        text=text,
                        transcript=heard,
                        transcript_pending=pending if heard is None else None,
                    ),
                )
                for stage in stages:
                    stage.read(ReadContext(reading=reading, config=res.config, resources=res))
                ctx = Context.for_filing(raw=raw, session=session, config=res.config, resources=res, reading=reading)
                ctx.report, ctx.message, ctx.created = report, first, True
                for stage in stages:
                    stage.file(ctx)
                session.add(
                    Event(
                        report_id=report.id,
                        action="reprocessed",
                        detail={"category_before": before, "category": report.category},
                    )
                )
                counts["réanalysés"] += 1
                counts["catégorie changée"] += int(before != report.category)
                counts["à qualifier"] += int(report.status == NEEDS_REVIEW)
    return counts
