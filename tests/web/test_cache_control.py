"""No copy of a report, a photo or a back-office page in a browser's or a proxy's cache (P4)."""

from __future__ import annotations

from flask import Flask

from tests.support.web import signed_in
from tests.web.test_access import app, report_facts  # noqa: F401


def test_back_office_pages_photos_and_tracking_pages_are_not_stored(app: Flask) -> None:  # noqa: F811
    facts = report_facts(app)
    admin = signed_in(app, "admin")
    pages = ["/", f"/signalements/{facts['number']}", "/carte", "/statistiques", "/saisie", "/sante-des-canaux"]
    for path in pages:
        answer = admin.get(path)
        assert answer.status_code == 200, path
        assert answer.headers.get("Cache-Control") == "no-store", (path, answer.headers.get("Cache-Control"))
    served = []
    for kind in ("original", "image", "miniature"):
        with admin.get(f"/fichiers/{facts['attachment_id']}/{kind}") as photo:
            if photo.status_code == 404:
                continue  # no such rendition of this file
            assert photo.status_code == 200
            assert photo.headers["Cache-Control"] == "private, no-store"
            assert "Expires" not in photo.headers
            served.append(kind)
    assert "image" in served  # the stripped copy of the photo, once served "public, max-age=86400"
    anonymous = app.test_client()
    for path in (f"/suivi/{facts['token']}", "/connexion"):
        answer = anonymous.get(path)
        assert answer.status_code == 200 and answer.headers.get("Cache-Control") == "no-store", path
    with anonymous.get("/static/guichet.css") as static:
        assert "no-store" not in (static.headers.get("Cache-Control") or "")
