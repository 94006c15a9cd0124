"""The report page, `/signalements/<number>`, and every action taken from it: one blueprint, `report`, one small
module per group of actions. Who may use each endpoint is in `web/access.ROUTES`; an agent reaches only the
reports of their service (the number in the URL is checked there before any view runs).

| module | route | endpoint |
|---|---|---|
| `page.py` | GET `/signalements/<number>` | `report.page` |
| `triage.py` | POST `…/categorie`, POST `…/service` | `report.change_category`, `report.change_service` |
| `status.py` | POST `…/statut`, POST `…/statut/apercu` | `report.change_status`, `report.preview_status` |
| `placement.py` | POST `…/position` | `report.place` |
| `assignment.py` | POST `…/attribution` | `report.assign` |
| `reply.py` | POST `…/reponse` | `report.reply` |
| `duplicates.py` | POST `…/detacher`, POST `…/fusionner` | `report.detach`, `report.merge_into` |
| `workorder.py` | GET `…/fiche-intervention.pdf` | `report.workorder_pdf` |

Views only read the form, call `intake/` (the changes in `intake/reports/`, the page's read model in
`intake/backoffice/reportpage.py`) and render; actions on a selection of the queue (`web/selection.py`) run the
same `intake/reports/` code.
"""

from __future__ import annotations

from web.report import assignment, duplicates, page, placement, reply, status, triage, workorder  # noqa: F401
from web.report.blueprint import bp

__all__ = ["bp"]
