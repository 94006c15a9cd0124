"""Assigning a report to an agent: only active agents of its service, or administrators."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from intake.models import Event, Report, User


def assignable(session: Session, report: Report) -> list[User]:
    """Active agents of the report's service, then administrators, by name."""
    rows = (
        session.execute(
            select(User)
            .where(
                User.active.is_(True),
                or_(User.role == "admin", (User.role == "agent") & (User.service == report.service)),
            )
            .order_by(User.role.desc(), User.display_name)
        )
        .scalars()
        .all()
    )
    return list(rows)


def assignable_in(session: Session, service: str | None) -> list[tuple[int, str]]:
    """(id, name) of the accounts a selection of reports may be given to, by name: active administrators and
    agents (of `service` only when given, an agent's own)."""
    rows = session.execute(
        select(User.id, User.display_name, User.role, User.service)
        .where(User.active.is_(True))
        .order_by(User.display_name)
    ).all()
    return [
        (uid, name)
        for uid, name, role, user_service in rows
        if role == "admin" or (role == "agent" and (service is None or user_service == service))
    ]


def assign(session: Session, report: Report, user_id: int | None, *, actor: str) -> User | None:
    """Give the report to an account (None: nobody); recorded in the history. ValueError (French) if not allowed."""
    user = session.get(User, user_id) if user_id is not None else None
    if user_id is not None and (user is None or not user.active):
        raise ValueError("compte inconnu ou désactivé")
    if user is not None and user.role not in ("agent", "admin"):  # reception, technicians
        raise ValueError("un signalement s'attribue à un agent ou à un administrateur")
    if user is not None and user.role == "agent" and user.service != report.service:
        raise ValueError(f"{user.display_name} n'appartient pas au service de ce signalement")
    if report.assignee_id == (user.id if user else None):
        return user
    previous = session.get(User, report.assignee_id) if report.assignee_id else None
    report.assignee_id = user.id if user else None
    session.add(
        Event(
            report_id=report.id,
            actor=actor,
            action="assigned",
            detail={"from": previous.display_name if previous else None, "to": user.display_name if user else None},
        )
    )
    return user
