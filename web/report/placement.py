"""Where the problem is, from the report's page: move the pin or type an address."""

from __future__ import annotations

from typing import Any

from flask import flash, request

from intake.reports.placement import place_by_agent
from web.common import cfg, current_actor, report_or_404, res
from web.report.blueprint import back, bp


def _coordinate(name: str) -> float | None:
    raw = (request.form.get(name) or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError("coordonnées illisibles : placez le point sur la carte") from None


@bp.post("/signalements/<number>/position")
def place(number: str) -> Any:
    """Move the pin, or type an address that is geocoded; the former position is kept as a correction."""
    understanding = res().understanding()  # loaded before any session: it may read the address reference
    try:
        lat, lon = _coordinate("lat"), _coordinate("lon")
        with res().factory() as session, session.begin():
            rep = report_or_404(session, number)
            address = request.form.get("adresse")
            use_point = lat is not None and lon is not None and request.form.get("mode") != "adresse"
            label = place_by_agent(
                session,
                cfg(),
                understanding,
                rep,
                lat=lat if use_point else None,
                lon=lon if use_point else None,
                address=address,
                actor=current_actor(),
            )
    except ValueError as exc:
        flash(f"Position non enregistrée : {exc}.", "erreur")
        return back(number, "#position")
    flash(f"Position enregistrée{' : ' + label if label else ''}.", "info")
    return back(number, "#position")
