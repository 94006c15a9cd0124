"""What every back-office view shares: who is acting, and sending the notifications a change queued."""

from __future__ import annotations

import math
from typing import Any

from flask import abort, current_app
from sqlalchemy.orm import Session

from intake.config import Config
from intake.models import Report
from intake.reports.tracking import report_by_number


def res() -> Any:
    """The process's resources (intake.runtime.resources.Resources) the app was created with."""
    return current_app.extensions["guichet"]


def cfg() -> Config:
    """The town's configuration the app was created with."""
    config: Config = current_app.config["GUICHET"]
    return config


def report_or_404(session: Session, number: str) -> Report:
    """The report of a tracking number, or a 404 page."""
    rep = report_by_number(session, number)
    if rep is None:
        abort(404)
    return rep


def agent_service() -> str | None:
    """The service a signed-in agent is limited to (None: reception and administrators see every report)."""
    from web.auth import current_agent

    agent = current_agent()
    return agent.service if agent is not None and agent.role == "agent" else None


def map_centre() -> tuple[float, float]:
    """Where the back office's maps open: the middle of the commune's addresses (computed once per app)."""
    state = current_app.extensions.setdefault("guichet_centre", {})
    if "centre" not in state:
        streets = res().understanding().local.streets()
        state["centre"] = (
            (sum(s.lat for s in streets) / len(streets), sum(s.lon for s in streets) / len(streets))
            if streets
            else (46.6, 2.4)
        )
    centre: tuple[float, float] = state["centre"]
    return centre


def current_actor() -> str:
    """Who acts in the back office, recorded on every event: the signed-in user, else the back office itself."""
    name = None
    if hasattr(current_app, "login_manager"):  # sign-in is set up
        from flask_login import current_user

        name = getattr(current_user, "username", None) if current_user.is_authenticated else None
    return str(name or "back-office")


def send_soon(outbox_ids: list[int]) -> None:
    """Queue the notifications; without Redis the sweeper sends them within a minute or two."""
    cfg = current_app.config["GUICHET"]
    if not outbox_ids or not cfg.redis_url:
        return
    try:
        from intake.runtime.queue import enqueue_send, get_queue, redis_connection

        queue = get_queue(redis_connection(cfg))
        for outbox_id in outbox_ids:
            enqueue_send(queue, outbox_id, timeout=cfg.worker.job_timeout)
    except Exception:  # the rows are committed: the sweeper will send them
        current_app.logger.exception("notifications %s not queued", outbox_ids)


def form_number(text: str) -> float | None:
    """A coordinate typed in a form ("48,85" or "48.85"): None when empty, NaN when not a finite number."""
    text = (text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan
