"""Security headers on every response: citizen content is hostile, scripts are never inline."""

from __future__ import annotations

import os
import re
import secrets

from flask import Flask, Response

from intake.config import Config

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def tiles_origin(url: str | None) -> str | None:
    """The CSP source of a tile URL template ("https://*.tile.example.org" for "{s}.tile…"), or None."""
    from urllib.parse import urlsplit

    if not url:
        return None
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    labels = parts.netloc.split(".")
    if "{" in labels[0]:
        labels[0] = "*"  # a subdomain placeholder ({s}, {a-c}): CSP only allows the leftmost wildcard
    netloc = ".".join(labels)
    if not host or not re.fullmatch(r"(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?", netloc):
        return None  # another placeholder, or characters that would change the policy itself
    return f"{parts.scheme}://{netloc}"


def content_security_policy(config: Config | None) -> str:
    """The CSP; map tiles' origin (web.tiles_url) is allowed for images when set."""
    origin = tiles_origin(config.web.tiles_url) if config is not None else None
    return CSP.replace("img-src 'self' data:", f"img-src 'self' data: {origin}") if origin else CSP


# What is not stored by browsers or proxies: every page but the shipped static files and the Open311 API's
# public reads. Reports, photos and the citizens' tracking pages hold personal data (a photo served
# "public, max-age=86400" stays in a shared cache or the browser of a public computer).
CACHEABLE = ("static", "pin.outline")  # the commune's outline is public and the same for everyone
NO_STORE = "no-store"
PRIVATE_FILES = "private, no-store"


def _cache_control(response: Response) -> None:
    from flask import request

    endpoint = request.endpoint or ""
    if endpoint in CACHEABLE or (endpoint.startswith("open311.") and request.method in ("GET", "HEAD")):
        return
    if "no-store" in (response.headers.get("Cache-Control") or ""):
        return  # a view that already forbids storing (the exports: "private, no-store")
    response.headers["Cache-Control"] = PRIVATE_FILES if endpoint == "queue.attachment" else NO_STORE
    response.headers.pop("Expires", None)


def _headers(response: Response) -> Response:
    from flask import current_app

    _cache_control(response)
    response.headers.setdefault("Content-Security-Policy", current_app.config.get("GUICHET_CSP", CSP))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]:  # /signaler may be embedded
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
    """Register the body limits (first: CSRF reads the form), CSRF protection of every form, the headers hook."""
    from flask_wtf.csrf import CSRFProtect

    from web import limits

    limits.init_app(app)
    CSRFProtect(app)
    app.config["GUICHET_CSP"] = content_security_policy(app.config.get("GUICHET"))
    app.after_request(_headers)
