"""Routing: which service a report goes to (category, zone) and telling that service's referents."""

from __future__ import annotations

from sqlalchemy.orm import Session

from intake.config import Config
from intake.models import Report


def notify_referents(session: Session, config: Config, report: Report) -> list[int]:
    """Queue the email to the referents of the report's service (once per service); returns outbox ids.

    Being built: returns no ids yet.
    """
    return []
