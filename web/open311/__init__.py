"""Open311 GeoReport v2 API for citizens' apps, in JSON and XML: services, requests, tokens, photos."""

from __future__ import annotations

from flask import Flask

from web.open311 import api, media, submit  # noqa: F401  (their views register on the blueprint)
from web.open311.blueprint import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    """Register the API; apps authenticate with an api_key, not a CSRF token."""
    app.extensions["csrf"].exempt(bp)
    app.register_blueprint(bp)
