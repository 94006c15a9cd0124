"""An agent answers the citizen on the channel they used (email threaded on their message, or SMS)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.gsm import segments
from intake.models import Event, Outbox, Report
from intake.outbox.enqueue import enqueue
from intake.reports.statuses import reporters_of, thread_on

MAX_REPLY = 4000


def reply_to_citizen(session: Session, config: Config, report: Report, text: str, *, actor: str) -> list[int]:
    """Queue the agent's answer to everyone who wrote this report; returns outbox ids. ValueError (French)."""
    text = text.strip()
    if not text:
        raise ValueError("le message est vide")
    if len(text) > MAX_REPLY:
        raise ValueError(f"message trop long ({MAX_REPLY} caractères au plus)")
    recipients = reporters_of(session, config, report)
    if not recipients:
        raise ValueError("impossible de répondre : le citoyen n'a laissé ni adresse électronique ni mobile joignable")
    sms = f"Mairie, signalement n° {report.tracking_number} : {' '.join(text.split())}"
    if any(channel != "email" for channel, _ in recipients) and segments(sms) > config.twilio.outbound.max_segments:
        raise ValueError(f"trop long pour un SMS ({config.twilio.outbound.max_segments} SMS au plus) : raccourcissez")
    previous = session.execute(
        select(func.count()).select_from(Outbox).where(Outbox.report_id == report.id, Outbox.kind.like("reply:%"))
    ).scalar_one()
    kind = f"reply:{previous + 1}"
    status_url = config.status_url(report.public_token)
    ids = []
    for channel, recipient in recipients:
        if channel == "email":
            subject = f"Votre signalement n° {report.tracking_number} : réponse de la mairie"
            body = f"Bonjour,\n\n{text}\n\nSuivre votre signalement : {status_url}\n{config.town.name}\n"
            new = enqueue(
                session,
                config,
                report_id=report.id,
                kind=kind,
                channel=channel,
                recipient=recipient,
                subject=subject,
                body=body,
                in_reply_to=thread_on(session, report, recipient),
            )
        else:
            new = enqueue(
                session, config, report_id=report.id, kind=kind, channel=channel, recipient=recipient, body=sms
            )
        if new is not None:
            ids.append(new)
    session.add(
        Event(
            report_id=report.id, actor=actor, action="replied", detail={"text": text, "to": [r for _, r in recipients]}
        )
    )
    return ids
