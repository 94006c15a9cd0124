"""The report's work order ("fiche d'intervention") as a PDF download, for agents and technicians."""

from __future__ import annotations

import io
from typing import Any

from flask import send_file

from web.common import cfg, report_or_404, res
from web.report.blueprint import bp


@bp.get("/signalements/<number>/fiche-intervention.pdf")
def workorder_pdf(number: str) -> Any:
    """Render the report's work order now (A4 PDF, French) and send it as a download."""
    from intake.outbox.workorder import filename, render_workorder

    with res().factory() as session:
        report = report_or_404(session, number)
        data = render_workorder(session, cfg(), report, res().file_store)
        name = filename(report)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=name)
