"""GET /metrics: the Prometheus scrape, for a bearer token or an allowed address only (web.metrics_*)."""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Response, current_app, request

from intake.backoffice.metrics import collect, render
from intake.config import Config

bp = Blueprint("metrics", __name__)


def allowed(cfg: Config, *, authorization: str, remote: str | None) -> bool:
    """The scraper shows the configured token, or comes from an allowed address or network."""
    secret = cfg.web.metrics_token.reveal() if cfg.web.metrics_token else None
    scheme, _, given = authorization.partition(" ")
    if secret and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), secret.encode()):
        return True
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in cfg.web.metrics_allow)


@bp.get("/metrics")
def scrape() -> Response:
    """The figures in Prometheus' text format; 403 (French, plain text) to anyone else."""
    cfg: Config = current_app.config["GUICHET"]
    if not allowed(cfg, authorization=request.headers.get("Authorization", ""), remote=request.remote_addr):
        reason = (
            "métriques désactivées : configurez web.metrics_token ou web.metrics_allow"
            if not cfg.web.metrics_token and not cfg.web.metrics_allow
            else "accès aux métriques refusé"
        )
        return Response(reason + "\n", status=403, mimetype="text/plain", headers={"Cache-Control": "no-store"})
    with current_app.extensions["guichet"].factory() as session:
        text = render(collect(session))
    return Response(
        text,
        mimetype="text/plain",
        content_type="text/plain; version=0.0.4; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )
