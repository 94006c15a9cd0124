"""Public photos of Open311 requests: the stripped copy, at a URL signed with the app's secret key.

The back office serves attachments to agents only. Apps showing a request need its photo, so each photo
posted through the API gets `/open311/v2/media/<id>-<signature>`: the signature is an HMAC of the
attachment id and the digest of its served copy, so URLs cannot be guessed or enumerated, and only the
re-encoded copy without EXIF (GPS, camera serial) is ever served, never the original bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import io

from flask import Response, current_app, send_file

from intake.backoffice.open311 import posted_photo
from intake.models import Attachment
from web.open311.blueprint import bp, factory
from web.open311.formats import Fail

_NOT_FOUND = "photo inconnue / unknown media"


def _signature(att_id: int, digest: str, secret: bytes) -> str:
    return hmac.new(secret, f"open311-media:{att_id}:{digest}".encode(), hashlib.sha256).hexdigest()[:40]


def media_url(att: Attachment, *, base_url: str, secret: bytes) -> str:
    """The public URL of the stripped copy of `att` (which must have one)."""
    return f"{base_url.rstrip('/')}/open311/v2/media/{att.id}-{_signature(att.id, att.served_sha256 or '', secret)}"


def app_secret() -> bytes:
    """The running app's secret key, which signs media URLs."""
    return str(current_app.config["SECRET_KEY"]).encode()


@bp.get("/media/<ident>")
def media(ident: str) -> Response:
    """The stripped copy of a photo posted through the API, when the signature is right and still public."""
    number, _, signature = ident.partition("-")
    if not number.isdigit() or len(number) > 12 or not signature:
        raise Fail(404, _NOT_FOUND)
    with factory()() as session:
        row = posted_photo(session, int(number))
    if row is None or not row.served_sha256:
        raise Fail(404, _NOT_FOUND)
    if not hmac.compare_digest(signature, _signature(int(number), row.served_sha256, app_secret())):
        raise Fail(404, _NOT_FOUND)
    if row.channel != "open311" or row.status == "rejete":
        raise Fail(404, _NOT_FOUND)
    data = current_app.extensions["guichet"].file_store.read(row.served_sha256)
    mime = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
    return send_file(
        io.BytesIO(data),
        mimetype=mime,
        max_age=86400,
        download_name="photo.png" if mime == "image/png" else "photo.jpg",
    )
