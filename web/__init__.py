"""Flask app factory of the back office; nothing happens at import time."""

from __future__ import annotations

from typing import Any

from flask import Flask

from intake.config import STATUS_CODES, Config, load_config


def create_app(config: Config | None = None, *, resources: Any = None) -> Flask:
    """Build the back office for `config` (GUICHET_CONFIG or the shipped demo by default)."""
    from intake.resources import build_resources
    from web import open311, queue, security

    cfg = config or load_config()
    app = Flask(__name__)
    app.config["GUICHET"] = cfg
    app.config["SECRET_KEY"] = security.secret_key(cfg)
    app.extensions["guichet"] = resources or build_resources(cfg)
    security.init_app(app)
    labels = {c.code: c.label for c in cfg.categories}
    app.jinja_env.globals.update(category_labels=labels, status_labels={c: cfg.statuses.label(c) for c in STATUS_CODES})
    app.add_template_filter(lambda moment, fmt="%d/%m/%Y %H:%M": cfg.town.local(moment).strftime(fmt), "local")
    app.register_blueprint(queue.bp)
    open311.init_app(app)
    if cfg.twilio.enabled:
        from web import twilio_hooks

        twilio_hooks.init_app(app, cfg)
    return app
