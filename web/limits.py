"""Request body limits per route, checked before anything reads the body.

A body larger than its route allows is refused with a 413 from its declared Content-Length, before a byte of
it is read; a body sent without a length (chunked) is read through a stream that stops at the limit. So an
unsigned 300 MB POST to a webhook costs the worker nothing, whatever the signature check or CSRF would read.
"""

from __future__ import annotations

import io
from typing import IO, Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from intake.config import Config

KB = 1024
# Twilio's webhook bodies are a few KB (an SMS of 1,600 characters, ten media URLs, WhatsApp metadata).
TWILIO_BYTES = 64 * KB
# Sign-in, sign-out and the agents' forms (a reply to a citizen, a note) are text fields.
FORM_BYTES = 256 * KB
# Everything else that is not listed below: GET queries, JSON of the map, the position of a pin.
DEFAULT_BYTES = 256 * KB
MULTIPART_MARGIN = 200_000  # the fields and multipart boundaries around the photos
TOO_LARGE = "Requête trop volumineuse : {limit} au plus pour cette page."


def route_limits(config: Config) -> dict[str, int]:
    """Endpoint → the largest body it accepts, in bytes (the others get DEFAULT_BYTES)."""
    from web.staff import MAX_PHOTOS

    photo = int(config.storage.max_attachment_mb * 1_000_000)
    return {
        "twilio_hooks.messages": TWILIO_BYTES,
        "twilio_hooks.status": TWILIO_BYTES,
        "twilio_hooks.voice": TWILIO_BYTES,
        "twilio_hooks.voice_recording": TWILIO_BYTES,
        "twilio_hooks.voice_transcript": TWILIO_BYTES,
        "auth.login": 16 * KB,
        "auth.logout": 16 * KB,
        "auth.change_password": 16 * KB,
        "open311.create_request": int(config.open311.max_media_mb * 1_000_000) + MULTIPART_MARGIN,
        "staff.submit_entry": MAX_PHOTOS * photo + MULTIPART_MARGIN,
        "signaler.submit": max(1, config.webform.max_photos) * photo + MULTIPART_MARGIN,
        "report.reply": FORM_BYTES,
        "field.update": photo + MULTIPART_MARGIN,  # one photo after the work and a note
    }


def body_limit(endpoint: str | None) -> int:
    """The body limit of `endpoint` in the running app."""
    limits: dict[str, int] = current_app.extensions["guichet_limits"]
    return limits.get(endpoint or "", DEFAULT_BYTES)


def _human(size: int) -> str:
    return f"{size / 1_000_000:g} Mo" if size >= 1_000_000 else f"{size // KB} Ko"


class CappedStream(io.RawIOBase):
    """A body without Content-Length (chunked), read through: a 413 as soon as it goes past `limit` bytes.

    werkzeug's own limit on such a stream stops reading at the limit and hands back the body cut short; this
    one refuses it instead, so a truncated body is never checked, stored or parsed.
    """

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        super().__init__()
        self.inner, self.limit, self.seen = inner, limit, 0

    def readable(self) -> bool:
        """A readable stream."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Read into `buffer`; RequestEntityTooLarge once past the limit."""
        data = self.inner.read(min(len(buffer), self.limit + 1 - self.seen))
        self.seen += len(data)
        if self.seen > self.limit:
            raise RequestEntityTooLarge(TOO_LARGE.format(limit=_human(self.limit)))
        buffer[: len(data)] = data
        return len(data)


def check_body() -> None:
    """before_request (the first one): refuse a declared body over the route's limit, bound the stream."""
    limit = body_limit(request.endpoint)
    declared = request.content_length
    if declared is not None and declared > limit:
        raise RequestEntityTooLarge(TOO_LARGE.format(limit=_human(limit)))
    if declared is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        request.environ["wsgi.input"] = CappedStream(request.environ["wsgi.input"], limit)
        return  # werkzeug's limit (the app's largest) then wraps the capped stream
    request.max_content_length = limit


def too_large(exc: RequestEntityTooLarge) -> Any:
    """The 413 answer in the route's format (Open311's error document, text for Twilio, else a French page)."""
    message = TOO_LARGE.format(limit=_human(body_limit(request.endpoint)))
    if (request.endpoint or "").startswith("open311."):
        from web.open311.formats import error

        return error(413, "requête trop volumineuse / request too large")
    if (request.endpoint or "").startswith("twilio_hooks."):
        return Response(message, status=413, mimetype="text/plain")
    from web.errors import render_error

    return render_error(413, message)


def init_app(app: Flask) -> None:
    """Install the limits; must run before any other before_request (CSRF reads the form)."""
    limits = route_limits(app.config["GUICHET"])
    app.extensions["guichet_limits"] = limits
    app.config["MAX_CONTENT_LENGTH"] = max([DEFAULT_BYTES, *limits.values()])
    app.before_request(check_body)
    app.register_error_handler(RequestEntityTooLarge, too_large)
