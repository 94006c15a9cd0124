"""The privacy notice (art. 13 RGPD), public, generated from the town's `privacy` settings in config.yaml."""

from __future__ import annotations

from flask import Blueprint, make_response, render_template
from flask.typing import ResponseReturnValue

from web.common import cfg

bp = Blueprint("notice", __name__)


@bp.get("/confidentialite")
def page() -> ResponseReturnValue:
    """Who processes citizens' data, why, on what basis, for whom, how long, and how to exercise their rights."""
    config = cfg()
    response = make_response(
        render_template(
            "privacy_notice.html", privacy=config.privacy, keep=config.privacy.retention, town=config.town.name
        )
    )
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
