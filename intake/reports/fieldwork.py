"""What a technician records in the field: a photo after the work, a note, and "en cours" or "résolu".

The photo's bytes are written to the content-addressed file store first (the original as received, then its
stripped copy and thumbnail), then one transaction records the visit as events on the report (`field_photo`,
`field_note`) and changes the status through `change_status`, so the citizen is told as for any status change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.media.errors import MediaError
from intake.media.images import served_copy, thumbnail
from intake.media.storage import FileStore
from intake.models import Event, Report
from intake.reports.statuses import change_status

FIELD_STATUSES = ("en_cours", "resolu")  # what a technician may set
PHOTO_EVENT, NOTE_EVENT = "field_photo", "field_note"
MAX_NOTE = 2000


@dataclass(frozen=True)
class StoredPhoto:
    """A photo after the work, in the file store: the original, its stripped copy and thumbnail (sha256)."""

    original: str
    served: str
    thumb: str
    filename: str
    size: int

    def detail(self) -> dict[str, Any]:
        """The event's detail."""
        return {
            "sha256": self.original,
            "served": self.served,
            "thumb": self.thumb,
            "filename": self.filename,
            "size": self.size,
        }


def store_photo(store: FileStore, data: bytes, filename: str) -> StoredPhoto:
    """Keep the original as received, then its stripped copies; ValueError (French) if it is not an image."""
    if not data:
        raise ValueError("la photo est vide")
    try:
        served, thumb = served_copy(data), thumbnail(data)
    except MediaError as exc:
        raise ValueError(f"photo refusée : {exc}") from None
    name = "".join(c for c in filename if c.isprintable())[:200] or "photo-apres.jpg"
    return StoredPhoto(store.put(data), store.put(served), store.put(thumb), name, len(data))


def record_visit(
    session: Session,
    config: Config,
    report: Report,
    *,
    actor: str,
    photo: StoredPhoto | None = None,
    note: str | None = None,
    status: str | None = None,
) -> list[int]:
    """Record the technician's photo, note and status on the report; returns the outbox ids queued for citizens.

    ValueError (French) for a status a technician may not set, or when there is nothing to record.
    """
    note = (note or "").strip()[:MAX_NOTE] or None
    if status and status not in FIELD_STATUSES:
        raise ValueError("statut non permis sur le terrain : « en cours » ou « résolu » seulement")
    if status == report.status:
        status = None
    if photo is None and note is None and not status:
        raise ValueError("rien à enregistrer : ajoutez une photo, une note ou choisissez un statut")
    if photo is not None:
        session.add(Event(report_id=report.id, actor=actor, action=PHOTO_EVENT, detail=photo.detail()))
    if note is not None:
        session.add(Event(report_id=report.id, actor=actor, action=NOTE_EVENT, detail={"note": note}))
    return change_status(session, config, report, status, actor=actor) if status else []


def after_photos(session: Session, report_id: int) -> list[Event]:
    """The photos after the work of a report, oldest first."""
    return list(
        session.execute(
            select(Event).where(Event.report_id == report_id, Event.action == PHOTO_EVENT).order_by(Event.id)
        ).scalars()
    )
