"""Flask app factory of the back office; nothing happens at import time."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from intake.config import STATUS_CODES, Config, load_config


def create_app(config: Config | None = None, *, resources: Any = None) -> Flask:
    """Build the back office for `config` (GUICHET_CONFIG or the shipped demo by default)."""
    from intake.runtime.resources import build_resources
    from web import access, open311, queue, report, request_ids, security, signaler, staff

    cfg = config or load_config()
    app = Flask(__name__)
    app.config["GUICHET"] = cfg
    app.config["SECRET_KEY"] = security.secret_key(cfg)
    if cfg.web.trusted_proxies:  # the client's address from the proxies' X-Forwarded-For, never from anyone else
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=cfg.web.trusted_proxies, x_proto=0, x_host=0)  # type: ignore[method-assign]
    app.extensions["guichet"] = resources or build_resources(cfg)
    request_ids.init_app(app)  # first: the other hooks' log lines carry the request's id
    security.init_app(app)
    labels = {c.code: c.label for c in cfg.categories}
    app.jinja_env.globals.update(category_labels=labels, status_labels={c: cfg.statuses.label(c) for c in STATUS_CODES})
    app.add_template_filter(lambda moment, fmt="%d/%m/%Y %H:%M": cfg.town.local(moment).strftime(fmt), "local")
    from web.labels import event_label

    app.add_template_filter(event_label, "evenement")
    access.init_app(app)  # sign-in, the route x role table, the audit log
    from web import errors

    errors.init_app(app)  # French error pages (after access: its 403 page is replaced)
    app.register_blueprint(queue.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(report.bp)  # the report page and every action taken from it (web/report/)
    from web import pin

    app.register_blueprint(pin.bp)
    from web import health

    app.register_blueprint(health.bp)
    from web import exports
    from web import map as reports_map

    app.register_blueprint(reports_map.bp)
    app.register_blueprint(exports.bp)
    from web import stats

    app.register_blueprint(stats.bp)
    from web import notice, rgpd

    app.register_blueprint(rgpd.bp)
    app.register_blueprint(notice.bp)
    open311.init_app(app)
    signaler.init_app(app)  # /signaler, the citizens' web form
    from web import metrics

    app.register_blueprint(metrics.bp)  # /metrics (Prometheus)
    from web import field

    app.register_blueprint(field.bp)  # the technicians' field pages
    if os.environ.get("GUICHET_WEB_WARM_UP") == "1":  # `guichet serve`/`up`: before gunicorn forks its workers
        from intake.pseudonyms import install_log_pseudonyms

        install_log_pseudonyms(cfg, "gunicorn.error", "gunicorn.access")  # no e-mail or phone in log lines
        app.extensions["guichet"].understanding()
        from web.warmup import import_lazy_modules

        import_lazy_modules()  # what the views import on first use, imported once here rather than per worker
        app.extensions["guichet"].dispose()  # no database connection may cross the fork
        import gc

        gc.freeze()  # the workers' collections skip the inherited model and reference (and leave their pages shared)
    if cfg.twilio.enabled:
        from web import twilio_hooks

        twilio_hooks.init_app(app, cfg)
    return app
