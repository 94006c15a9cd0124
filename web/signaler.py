"""`/signaler`: the citizens' web form, a door of its own (channel "formulaire") into the same pipeline and queue.

No account and no tracking: a honeypot field, a signed time token (the form must have been open a few seconds,
and not for days) and a count of reports per client address keep robots out; no third-party captcha. Photos are
checked by their bytes (never an SVG), their GPS is read, and they are re-encoded without any metadata before the
raw form is stored. Then, as for staff entry, the stored form is processed at once and the citizen gets their
tracking number and link. The page may be shown in an iframe by the town's sites (`webform.embed_origins`).
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, render_template, request, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from intake.backoffice import ratelimit
from intake.channels.webform import CHANNEL, NOTIFY_EMAIL, NOTIFY_SMS
from intake.email.recipient import single_address
from intake.media.errors import MediaError
from intake.media.exif import read_image_info
from intake.media.images import served_copy
from intake.models import utcnow
from intake.phones import to_e164
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import store_raw
from intake.reports.tracking import tracking_of_raw
from web.common import cfg as _cfg
from web.common import form_number, send_soon
from web.common import res as _res
from web.open311.submit import _image_type

bp = Blueprint("signaler", __name__)

HONEYPOT = "site_web"  # hidden from people (and from screen readers); robots fill it
DECLARED = frozenset(
    {
        "image/jpeg",
        "image/jpg",
        "image/pjpeg",
        "image/png",
        "image/webp",
        "image/heic",
        "image/heif",
        "application/octet-stream",
        "",
    }
)
MAX_SIDE = 4096  # stored photos are re-encoded, at most this many pixels on a side
TOKEN_SALT = "guichet-signaler"
_HOUR = timedelta(hours=1)
_MINUTE = timedelta(minutes=1)


@dataclass
class Submission:
    """The form's values once checked, and the French errors per field (in the order of the form)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class Refused(Exception):
    """A request refused as a whole (robot, expired form, too many reports), with its French reason."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def new_token() -> str:
    """A signed token naming this opening of the form (its nonce, the natural key) and when it was opened."""
    return _serializer().dumps(uuid.uuid4().hex)


def check_token(token: str) -> str:
    """The nonce of a token signed here, opened at least webform.min_seconds ago; Refused otherwise."""
    settings = _cfg().webform
    try:
        nonce, signed_at = _serializer().loads(
            token[:200], max_age=int(settings.max_age_hours * 3600), return_timestamp=True
        )
    except SignatureExpired:
        raise Refused(
            "Ce formulaire a expiré : rechargez la page, votre saisie n'a pas été enregistrée.", 400
        ) from None
    except BadSignature:
        raise Refused("Formulaire invalide : rechargez la page et recommencez.", 400) from None
    if (utcnow() - signed_at).total_seconds() < settings.min_seconds:
        raise Refused("Envoi trop rapide : relisez votre signalement, puis envoyez-le à nouveau.", 400)
    return str(nonce)


def _client() -> str:
    return (request.remote_addr or "")[:45]


def _position(sub: Submission, form: Any) -> None:
    lat, lon = form_number(form.get("lat", "")), form_number(form.get("lon", ""))
    if lat is None and lon is None:
        return
    if lat is None or lon is None or math.isnan(lat) or math.isnan(lon) or abs(lat) > 90 or abs(lon) > 180:
        sub.errors["lat"] = (
            "Coordonnées invalides : placez le point sur la carte, ou indiquez une latitude et une "
            "longitude en degrés décimaux (par exemple 48.8566 et 2.3522)."
        )
        return
    if not _res().understanding().in_commune(lat, lon):
        sub.errors["lat"] = f"Ce point est en dehors de la commune ({_cfg().town.name}) : placez-le sur le problème."
        return
    sub.values.update(lat=round(lat, 7), lon=round(lon, 7), location_source="pin")


def _photos(sub: Submission) -> list[tuple[float, float]]:
    """Check, read the GPS of and strip each photo into sub.values["media"]; the GPS points found."""
    settings, limit = _cfg().webform, int(_cfg().storage.max_attachment_mb * 1_000_000)
    files = [f for f in request.files.getlist("photo") if f and f.filename]
    if len(files) > settings.max_photos:
        sub.errors["photo"] = f"Au plus {settings.max_photos} photos."
        return []
    media, points = [], []
    for upload in files:
        name = str(upload.filename)[:200]
        shown = name[:80]
        if (upload.mimetype or "").lower() not in DECLARED:
            sub.errors["photo"] = f"« {shown} » n'est pas une photo (JPEG, PNG, WebP ou HEIC)."
            return []
        data = upload.stream.read(limit + 1)
        if len(data) > limit:
            sub.errors["photo"] = f"« {shown} » dépasse {limit / 1_000_000:g} Mo."
            return []
        if _image_type(data) is None:
            sub.errors["photo"] = f"« {shown} » n'est pas une photo (JPEG, PNG, WebP ou HEIC)."
            return []
        info = read_image_info(data)
        try:
            clean = served_copy(data, max_side=MAX_SIDE)  # upright, no EXIF, GPS, XMP or comment
        except MediaError:
            sub.errors["photo"] = f"« {shown} » est une photo illisible ou endommagée."
            return []
        if info is not None and info.gps is not None:
            points.append((info.gps.lat, info.gps.lon))
        media.append(
            {
                "filename": name,
                "content_type": _image_type(clean) or "image/jpeg",
                "data": base64.b64encode(clean).decode("ascii"),
            }
        )
    if media:
        sub.values["media"] = media
    return points


def check_form(form: Any) -> Submission:
    """Validate the citizen's form; every problem gets a French message on its field."""
    settings = _cfg().webform
    sub = Submission()
    category = form.get("categorie") or ""
    if category and category not in {c.code for c in _cfg().categories}:
        sub.errors["categorie"] = "Catégorie inconnue : choisissez-en une dans la liste, ou « Je ne sais pas »."
    text = (form.get("description") or "").strip()
    if not text:
        sub.errors["description"] = "Décrivez le problème en quelques mots."
    elif len(text) > settings.max_description:
        sub.errors["description"] = f"Description trop longue ({settings.max_description} caractères au plus)."
    address = (form.get("adresse") or "").strip()[:300]
    _position(sub, form)
    email_text = (form.get("email") or "").strip()
    email = single_address(email_text) if email_text else None
    if email_text and email is None:
        sub.errors["email"] = "Adresse électronique invalide (exemple : prenom.nom@exemple.fr)."
    phone_text = (form.get("telephone") or "").strip()
    phone = to_e164(phone_text, region=_cfg().town.phone_region) if phone_text else None
    if phone_text and phone is None:
        sub.errors["telephone"] = "Numéro de téléphone invalide (exemple : 06 12 34 56 78)."
    notify = form.get("suivi") or NOTIFY_EMAIL
    if notify not in (NOTIFY_EMAIL, NOTIFY_SMS):
        notify = NOTIFY_EMAIL
    if (email_text or phone_text) and "email" not in sub.errors and "telephone" not in sub.errors:
        if notify == NOTIFY_SMS and phone is None:
            sub.errors["telephone"] = "Pour être informé par SMS, indiquez votre numéro de téléphone mobile."
        elif notify == NOTIFY_EMAIL and email is None:
            sub.errors["email"] = "Pour être informé par courriel, indiquez votre adresse électronique."
    sub.values.update(
        text=text,
        category=category or None,
        address=address or None,
        email=email,
        phone=phone,
        name=(form.get("nom") or "").strip()[:200] or None,
        notify=notify,
    )
    photos = any(f and f.filename for f in request.files.getlist("photo"))
    if not sub.errors:
        points = _photos(sub)
        inside = [p for p in points if _res().understanding().in_commune(*p)]
        if "lat" not in sub.values and inside:  # the first photo taken in the commune places the problem
            sub.values.update(lat=round(inside[0][0], 7), lon=round(inside[0][1], 7), location_source="exif")
        photos = False  # read: their position, if any, is known now
    if "lat" not in sub.values and "lat" not in sub.errors and not address and not photos:
        sub.errors["adresse"] = (
            "Indiquez où se trouve le problème : son adresse, un point sur la carte ou une photo prise sur place."
        )
    return sub


def _page(form: Any, errors: dict[str, str], status: int = 200, *, refusal: str | None = None) -> tuple[str, int]:
    from web.pin import _town_geometry

    config = _cfg()
    geometry = _town_geometry()
    return render_template(
        "signaler.html",
        form=form,
        errors=errors,
        refusal=refusal,
        token=new_token(),
        honeypot=HONEYPOT,
        categories=config.categories,
        settings=config.webform,
        centre=geometry["centre"],
        outline_url=url_for("pin.outline") if geometry.get("outline") else "",
        tiles_url=config.web.tiles_url or "",
        attribution=config.web.tiles_attribution,
    ), status


def _enabled() -> None:
    if not _cfg().webform.enabled:
        abort(404)


@bp.get("/signaler")
def form() -> tuple[str, int]:
    """The form, empty."""
    _enabled()
    _res().understanding()  # loaded before any session: it may read the address reference
    return _page({}, {})


def _throttled() -> bool:
    limit = _cfg().webform.max_reports_per_address_per_hour
    with _res().factory() as session:
        return ratelimit.hits(session, f"signaler:ip:{_client()}", window=_HOUR) >= limit


def _count_report() -> None:
    with _res().factory() as session, session.begin():
        if ratelimit.hit(session, f"signaler:ip:{_client()}", window=_HOUR) == 1:
            ratelimit.prune(session, older_than=timedelta(days=1))


def _tracking(raw_id: int) -> tuple[str, str] | None:
    with _res().factory() as session:
        return tracking_of_raw(session, raw_id)


@bp.post("/signaler")
def submit() -> Any:
    """Check the form, store it as received (photos stripped), run it through the pipeline, show the number."""
    _enabled()
    _res().understanding()
    try:
        if request.form.get(HONEYPOT):
            raise Refused("Envoi refusé : un champ réservé aux robots a été rempli.", 400)
        nonce = check_token(request.form.get("jeton", ""))
        if _throttled():
            limit = _cfg().webform.max_reports_per_address_per_hour
            raise Refused(
                f"Trop de signalements envoyés depuis cette connexion ({limit} par heure au plus) : "
                "réessayez plus tard ou appelez la mairie.",
                429,
            )
    except Refused as refused:
        return _page(request.form, {}, refused.status, refusal=str(refused))
    sub = check_form(request.form)
    if sub.errors:
        return _page(request.form, sub.errors, 422)
    keys = ("text", "category", "address", "lat", "lon", "location_source", "email", "phone", "name", "notify", "media")
    payload = {k: sub.values[k] for k in keys if sub.values.get(k) is not None}
    raw_id, created = store_raw(
        _res().factory,
        channel=CHANNEL,
        source="signaler",
        external_key=f"signaler:{nonce}",
        payload=json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8"),
    )
    if created:
        _count_report()
        outcome = process_raw(_res(), raw_id, worker="signaler")
        if outcome.status == "processed":
            send_soon(outcome.outbox_ids)
        else:
            current_app.logger.warning("web form %s stored but not filed: %s", raw_id, outcome.error)
    found = _tracking(raw_id)
    link = _cfg().status_url(found[1]) if found is not None else None
    return render_template(
        "signaler_merci.html",
        number=found[0] if found else None,
        link=link,
        notify=sub.values["notify"] if (sub.values["email"] or sub.values["phone"]) else None,
    )


@bp.get("/signaler/adresses")
def suggestions() -> Any:
    """Addresses of the commune matching what the citizen is typing (JSON for the form's list)."""
    from intake.geocoding.suggest import suggest

    _enabled()
    limit = _cfg().webform.max_suggestions_per_address_per_minute
    with _res().factory() as session, session.begin():
        count = ratelimit.hit(session, f"signaler:adresses:{_client()}", window=_MINUTE)
    if count > limit:
        return {"suggestions": [], "erreur": "Trop de recherches : réessayez dans une minute."}, 429
    typed = request.args.get("q", "")[:200]
    found = suggest(_res().understanding().local, typed, limit=8)
    return {
        "suggestions": [
            {"label": s.label, "lat": round(s.lat, 6), "lon": round(s.lon, 6), "type": s.kind} for s in found
        ]
    }


@bp.after_request
def frame_ancestors(response: Response) -> Response:
    """after_request of the form: the town's sites listed in webform.embed_origins may show it in an iframe."""
    origins = _cfg().webform.embed_origins
    if origins:
        csp = current_app.config["GUICHET_CSP"]
        response.headers["Content-Security-Policy"] = csp.replace(
            "frame-ancestors 'none'", "frame-ancestors 'self' " + " ".join(origins)
        )
    return response


def init_app(app: Flask) -> None:
    """Register the form: no CSRF cookie (it must work in a third-party iframe), the signed token instead."""
    app.extensions["csrf"].exempt(bp)
    app.register_blueprint(bp)
