"""Security headers on every response: citizen content is hostile, scripts are never inline."""

from __future__ import annotations

import os
import secrets

from flask import Flask, Response

from intake.config import Config

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    return response


def secret_key(config: Config) -> str:
    """The configured secret key, else one generated once into var/secret_key (readable by its owner only)."""
    if config.web.secret_key is not None:
        value = config.web.secret_key.reveal()
        if value:
            return value
    path = config.resolve_path("var/secret_key")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def init_app(app: Flask) -> None:
    """Register the security headers hook and CSRF protection of every form."""
    from flask_wtf.csrf import CSRFProtect

    CSRFProtect(app)
    app.after_request(_headers)
