"""The work order ("fiche d'intervention") of a report as a PDF download, for agents and technicians."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, send_file

from web.common import cfg as _cfg
from web.common import report_or_404 as _report
from web.common import res as _res

bp = Blueprint("workorder", __name__)


@bp.get("/signalements/<number>/fiche-intervention.pdf")
def pdf(number: str) -> Any:
    """Render the report's work order now (A4 PDF, French) and send it as a download."""
    import io

    from intake.outbox.workorder import filename, render_workorder

    with _res().factory() as session:
        report = _report(session, number)
        data = render_workorder(session, _cfg(), report, _res().file_store)
        name = filename(report)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=name)
