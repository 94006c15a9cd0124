"""Who handles a report, from its page: an agent of its service, an administrator, or nobody."""

from __future__ import annotations

from typing import Any

from flask import flash, request

from intake.reports.assignment import assign as assign_report
from web.common import current_actor, report_or_404, res
from web.report.blueprint import back, bp


@bp.post("/signalements/<number>/attribution")
def assign(number: str) -> Any:
    """Give the report to an agent of its service (or nobody)."""
    raw = request.form.get("agent") or ""
    try:
        user_id = int(raw) if raw else None
    except ValueError:
        user_id = -1
    try:
        with res().factory() as session, session.begin():
            user = assign_report(session, report_or_404(session, number), user_id, actor=current_actor())
            name = user.display_name if user else None
    except ValueError as exc:
        flash(f"Attribution impossible : {exc}.", "erreur")
        return back(number)
    flash(f"Attribué à {name}." if name else "Le signalement n'est plus attribué.", "info")
    return back(number)
