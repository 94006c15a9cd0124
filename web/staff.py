"""Staff entry: reception types in what arrived by phone, at the counter or by post; it joins the same pipeline."""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from intake.channels.staff import STAFF_CHANNELS
from intake.phones import to_e164
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import store_raw
from intake.reports.tracking import tracking_of_raw
from web.common import cfg as _cfg
from web.common import current_actor, map_centre, send_soon
from web.common import res as _res

bp = Blueprint("staff", __name__)

PHOTO_TYPES = {"image/jpeg", "image/png", "image/heic", "image/heif", "image/webp"}
MAX_PHOTOS = 5
MAX_TEXT = 20_000
_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,}$")
_NONCE = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Entry:
    """The form's values once checked, and the French errors per field."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _coordinates(entry: Entry, form: Any) -> None:
    lat_text, lon_text = (form.get("lat") or "").strip(), (form.get("lon") or "").strip()
    if not lat_text and not lon_text:
        return
    try:
        lat, lon = float(lat_text.replace(",", ".")), float(lon_text.replace(",", "."))
    except ValueError:
        entry.errors["lat"] = "Coordonnées illisibles : placez le point sur la carte ou choisissez une adresse."
        return
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        entry.errors["lat"] = "Coordonnées hors limites."
        return
    understanding = _res().understanding()
    if not understanding.in_commune(lat, lon):
        entry.errors["lat"] = "Ce point est en dehors de la commune."
        return
    entry.values.update(lat=lat, lon=lon)


def _photos(entry: Entry) -> None:
    limit = int(_cfg().storage.max_attachment_mb * 1_000_000)
    files = [f for f in request.files.getlist("photo") if f and f.filename]
    if len(files) > MAX_PHOTOS:
        entry.errors["photo"] = f"Au plus {MAX_PHOTOS} photos."
        return
    media = []
    for upload in files:
        name = str(upload.filename)
        content_type = (upload.mimetype or "").lower()
        if content_type not in PHOTO_TYPES:
            entry.errors["photo"] = f"« {name[:80]} » n'est pas une photo (JPEG, PNG, HEIC ou WebP)."
            return
        data = upload.stream.read(limit + 1)
        if len(data) > limit:
            entry.errors["photo"] = f"« {name[:80]} » dépasse {limit / 1_000_000:g} Mo."
            return
        media.append(
            {"filename": name[:200], "content_type": content_type, "data": base64.b64encode(data).decode("ascii")}
        )
    if media:
        entry.values["media"] = media


def check_form(form: Any) -> Entry:
    """Validate the staff form; every problem gets a French message on its field."""
    entry = Entry()
    channel = form.get("canal", "")
    if channel not in STAFF_CHANNELS:
        entry.errors["canal"] = "Choisissez par où le signalement est arrivé."
    text = (form.get("texte") or "").strip()
    if not text:
        entry.errors["texte"] = "Décrivez le problème signalé."
    elif len(text) > MAX_TEXT:
        entry.errors["texte"] = f"Texte trop long (au plus {MAX_TEXT} caractères)."
    email = (form.get("email") or "").strip()
    if email and not _EMAIL.match(email):
        entry.errors["email"] = "Adresse électronique invalide."
    phone_text = (form.get("telephone") or "").strip()
    phone = to_e164(phone_text, region=_cfg().town.phone_region) if phone_text else None
    if phone_text and phone is None:
        entry.errors["telephone"] = "Numéro de téléphone invalide (ex. 06 12 34 56 78)."
    category = form.get("categorie") or ""
    if category and category not in {c.code for c in _cfg().categories}:
        entry.errors["categorie"] = "Catégorie inconnue."
    nonce = form.get("jeton", "")
    if not _NONCE.match(nonce):
        entry.errors["jeton"] = "Formulaire expiré : rechargez la page."
    entry.values.update(
        channel=channel,
        text=text,
        email=email or None,
        phone=phone,
        name=(form.get("nom") or "").strip()[:200] or None,
        category=category or None,
        address=(form.get("adresse") or "").strip()[:300] or None,
        nonce=nonce,
        entered_by=current_actor(),
    )  # the signed-in user
    _coordinates(entry, form)
    if not entry.errors:
        _photos(entry)
    return entry


def _render(form: Any, errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    lat, lon = map_centre()
    return render_template(
        "staff_entry.html",
        form=form,
        errors=errors,
        channels=STAFF_CHANNELS,
        nonce=form.get("jeton") or uuid.uuid4().hex,
        centre=(lat, lon),
    ), status


@bp.get("/saisie")
def entry_form() -> tuple[str, int]:
    """The staff entry form."""
    return _render({}, {})


@bp.post("/saisie")
def submit_entry() -> Any:
    """Store the entry as received, run it through the pipeline, and open the report it made."""
    entry = check_form(request.form)
    if entry.errors:
        return _render(request.form, entry.errors, 400)
    values = entry.values
    payload = {
        k: values.get(k)
        for k in ("text", "email", "phone", "name", "category", "address", "lat", "lon", "media", "entered_by")
    }
    payload["location_source"] = "agent"
    raw_id, created = store_raw(
        _res().factory,
        channel=values["channel"],
        source="back-office",
        external_key=f"saisie:{values['nonce']}",
        payload=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
    )
    if created:
        outcome = process_raw(_res(), raw_id, worker="back-office")
        if outcome.status != "processed":
            flash(
                f"Saisie enregistrée mais non traitée ({outcome.error}) : elle est dans les messages en échec.",
                "erreur",
            )
            return redirect(url_for("queue.failed")), 303
        send_soon(outcome.outbox_ids)
    with _res().factory() as session:
        filed = tracking_of_raw(session, raw_id)
    number = filed[0] if filed else None
    if number is None:
        flash("Saisie enregistrée ; le signalement est en cours de traitement.", "info")
        return redirect(url_for("queue.index")), 303
    flash(f"Signalement n° {number} enregistré." if created else f"Déjà enregistré : signalement n° {number}.", "info")
    return redirect(url_for("report.page", number=number)), 303


@bp.get("/adresses/suggestions")
def address_suggestions() -> Any:
    """Addresses of the commune matching what the agent is typing (JSON for the form's list)."""
    from intake.geocoding.suggest import suggest

    typed = request.args.get("q", "")[:200]
    found = suggest(_res().understanding().local, typed, limit=8)
    return {
        "suggestions": [
            {"label": s.label, "lat": round(s.lat, 6), "lon": round(s.lon, 6), "type": s.kind} for s in found
        ]
    }
