"""Actions on a selection of reports from the queue: assign, change service, change status, export.

Each report goes through the same code as its single action (intake/reports: `assign`, `reroute`,
`change_status`, `render_notices`), in its own transaction, with the same role and service checks, and one
audit entry per report. A report that cannot take the action is named with the reason; the others are done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app, request

from intake.models import AuditLog
from web.access import ROUTES
from web.common import cfg as _cfg
from web.common import current_actor
from web.common import res as _res

MAX_SELECTION = 50  # one page of the queue
# action -> the single action's endpoint, whose roles the selection checks
ENDPOINTS = {
    "attribuer": "report.assign",
    "service": "report.change_service",
    "statut": "report.change_status",
    "exporter": "exports.csv",
}
VERBS = {"attribuer": "attribué(s)", "service": "réaffecté(s)", "statut": "passé(s) au nouveau statut"}


@dataclass
class Outcome:
    """What a selection action did: reports done, refused (number, French reason), messages queued."""

    done: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)


def selected_numbers(form: Any) -> list[str]:
    """The tracking numbers ticked in the form, once each, at most one page of them."""
    numbers = [n.strip()[:16] for n in form.getlist("n") if n.strip()]
    return list(dict.fromkeys(numbers))[:MAX_SELECTION]


def allowed(action: str, role: str) -> bool:
    """Whether `role` may run `action` on a selection: the same roles as the single action."""
    endpoint = ENDPOINTS.get(action)
    return endpoint is not None and role in ROUTES.get(endpoint, frozenset())


def assignable_users(scope: str | None) -> list[tuple[int, str]]:
    """Accounts a selection may be given to: agents (of the scope's service for an agent) and administrators."""
    from intake.reports.assignment import assignable_in

    with _res().factory() as session:
        return assignable_in(session, scope)


def _audit(number: str, report_id: int | None, action: str, status: int, detail: dict[str, Any]) -> None:
    from flask_login import current_user

    entry = AuditLog(
        user_id=current_user.id,
        username=current_user.username,
        action=f"selection.{action}"[:80],
        method="POST",
        path=request.path[:500],
        status=status,
        report_id=report_id,
        detail={**{k: str(v)[:200] for k, v in detail.items()}, "numero": number},
        ip=(request.remote_addr or "")[:45],
    )
    with _res().factory() as session, session.begin():
        session.add(entry)


def apply(action: str, numbers: list[str], form: Any, scope: str | None) -> Outcome:
    """Run `action` ("attribuer", "service" or "statut") on each selected report; one audit entry per report."""
    from intake.reports.assignment import assign
    from intake.reports.routing import reroute
    from intake.reports.statuses import change_status, check_reason
    from intake.reports.tracking import report_by_number

    cfg = _cfg()
    actor = current_actor()
    outcome = Outcome()
    detail: dict[str, Any] = {k: form.get(k) for k in ("agent", "service", "statut", "motif", "note") if form.get(k)}
    for number in numbers:
        report_id = None
        try:
            with _res().factory() as session, session.begin():
                rep = report_by_number(session, number)
                if rep is None:
                    raise ValueError("signalement introuvable")
                report_id = rep.id
                if scope is not None and rep.service != scope:
                    raise ValueError("relève d'un autre service")
                if action == "attribuer":
                    raw = (form.get("agent") or "").strip()
                    user_id = None if not raw else int(raw) if raw.isdigit() and len(raw) < 12 else -1
                    assign(session, rep, user_id, actor=actor)
                elif action == "service":
                    target = cfg.service((form.get("service") or "").strip())
                    if target is None:
                        raise ValueError("service inconnu : choisissez un service de la liste")
                    if rep.service == target.code:
                        raise ValueError(f"déjà au service « {target.name} »")
                    note = (form.get("note_service") or "").strip()[:1000] or None
                    outcome.outbox_ids += reroute(session, cfg, rep, target.code, actor=actor, note=note)
                elif action == "statut":
                    status = form.get("statut", "")
                    reason = check_reason(cfg, status, form.get("motif") or None)
                    if rep.status == status and (status != "rejete" or rep.status_reason == reason):
                        raise ValueError(f"déjà au statut « {cfg.statuses.label(status)} »")
                    note = (form.get("note") or "").strip()[:1000] or None
                    outcome.outbox_ids += change_status(
                        session, cfg, rep, status, actor=actor, note=note, reason=reason
                    )
                else:
                    raise ValueError("action inconnue")
        except ValueError as exc:
            outcome.refused.append((number, str(exc).rstrip(".")))
            _audit(number, report_id, action, 409 if report_id else 404, {**detail, "refus": exc})
            continue
        outcome.done.append(number)
        _audit(number, report_id, action, 200, detail)
    return outcome


def preview(numbers: list[str], form: Any, scope: str | None) -> dict[str, Any]:
    """What a status change of the selection would send to citizens, report by report (nothing is queued)."""
    from intake.reports.statuses import STATUSES, check_reason, render_notices
    from intake.reports.tracking import report_by_number

    cfg = current_app.config["GUICHET"]
    status = form.get("statut", "")
    if status not in STATUSES:
        raise ValueError(f"Statut inconnu : {status[:40]}.")
    reason = check_reason(cfg, status, form.get("motif") or None)
    note = (form.get("note") or "").strip()[:1000] or None
    reports: list[dict[str, Any]] = []
    with _res().factory() as session:
        for number in numbers:
            rep = report_by_number(session, number)
            if rep is None or (scope is not None and rep.service != scope):
                reports.append({"number": number, "refused": "introuvable ou d'un autre service", "notices": []})
                continue
            notices = render_notices(session, cfg, rep, status, note=note, reason=reason)
            reports.append(
                {
                    "number": number,
                    "refused": None,
                    "notices": [
                        {"channel": n.channel, "recipient": n.recipient, "subject": n.subject, "body": n.body}
                        for n in notices
                    ],
                }
            )
    return {"status": status, "reason": reason, "note": note or "", "reports": reports, "numbers": numbers}
