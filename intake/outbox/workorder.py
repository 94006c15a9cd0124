"""The work order ("fiche d'intervention") of a report: an A4 PDF in French for the technician who goes out.

Number, category, service, address and position (a small map drawn offline from the commune's address
reference, and the coordinates), the citizen's description (contacts masked) and photos (stripped copies), the
history, and a QR code to the field page. Rendered with WeasyPrint from HTML; the map and the QR code are inline
SVG, so nothing is fetched from the network. It lives in outbox/ because the referents' email may carry it.
"""

from __future__ import annotations

import base64
import io
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.geocoding.models import AddressPoint, AddressStreet
from intake.geocoding.precision import describe
from intake.masking import mask_contacts
from intake.media.storage import FileStore
from intake.models import Attachment, Event, Report

log = logging.getLogger(__name__)
MAP_WIDTH, MAP_HEIGHT = 640, 360  # SVG units (pixels at 96 dpi)
MAP_HALF_SPAN_M = 350.0  # metres from the point to the map's left and right edges
MAX_PHOTOS = 6
MAX_STREET_LABELS = 12
# The history lines a technician needs (event actions are stable English codes).
HISTORY = {
    "created": "reçu",
    "located": "localisé",
    "routed": "orienté vers le service",
    "rerouted": "réaffecté au service",
    "assigned": "attribué",
    "reclassified": "catégorie changée",
    "follow_up": "complément reçu du citoyen",
    "field_photo": "photo après intervention",
    "field_note": "note de terrain",
}


def field_url(config: Config, report: Report) -> str:
    """The technician's field page of the report (the QR code's target)."""
    return f"{config.town.public_url.rstrip('/')}/terrain/{report.tracking_number}"


def filename(report: Report) -> str:
    """The PDF's download name."""
    return f"fiche-intervention-{report.tracking_number}.pdf"


@dataclass(frozen=True)
class _Dot:
    x: float
    y: float


def _project(lat0: float, lon0: float, scale: float) -> Any:
    """Equirectangular projection around (lat0, lon0): metres east/north, then SVG units (y down)."""
    k = math.cos(math.radians(lat0))

    def to_svg(lat: float, lon: float) -> _Dot:
        east = math.radians(lon - lon0) * 6_371_000 * k
        north = math.radians(lat - lat0) * 6_371_000
        return _Dot(MAP_WIDTH / 2 + east * scale, MAP_HEIGHT / 2 - north * scale)

    return to_svg


def nearby_addresses(
    session: Session,
    config: Config,
    lat: float,
    lon: float,
    *,
    half_span_m: float = MAP_HALF_SPAN_M,
) -> list[tuple[float, float, str, int]]:
    """(lat, lon, street name, number) of the reference's addresses around the point.

    From the reference imported in the database (`guichet init`), else from the configured files (read once per
    process by the geocoding loader).
    """
    dlat = math.degrees(half_span_m / 6_371_000) * 1.1
    dlon = math.degrees(half_span_m / (6_371_000 * math.cos(math.radians(lat)))) * 1.1
    rows = session.execute(
        select(AddressPoint.lat, AddressPoint.lon, AddressStreet.name, AddressPoint.numero)
        .join(AddressStreet, AddressStreet.id == AddressPoint.street_id)
        .where(AddressPoint.lat.between(lat - dlat, lat + dlat), AddressPoint.lon.between(lon - dlon, lon + dlon))
        .limit(5000)
    ).all()
    if rows or session.scalar(select(AddressStreet.id).limit(1)) is not None:
        return [(r[0], r[1], r[2], r[3]) for r in rows]
    from intake.geocoding.loader import load_local_geocoder

    files = [config.resolve_path(p) for p in config.addresses.reference]
    geocoder = load_local_geocoder(None, files=files, citycodes=set(config.town.insee_codes))
    found = []
    for street in geocoder.streets():
        for (numero, _rep), (plon, plat) in street.points.items():
            if abs(plat - lat) <= dlat and abs(plon - lon) <= dlon:
                found.append((plat, plon, street.name, numero))
    return found[:5000]


def nearest_address(addresses: list[tuple[float, float, str, int]], lat: float, lon: float) -> str | None:
    """ "24 Rue de la Roquette": the reference's address nearest to the point, or None."""
    if not addresses:
        return None
    k = math.cos(math.radians(lat))
    best = min(addresses, key=lambda a: (a[0] - lat) ** 2 + ((a[1] - lon) * k) ** 2)
    return f"{best[3]} {best[2]}" if best[3] else best[2]


def map_svg(addresses: list[tuple[float, float, str, int]], lat: float, lon: float) -> str:
    """A small map centred on the point: the reference's address points and street names around it, a scale.

    Offline by design (no tile server is asked): what the commune's address reference knows is drawn.
    """
    scale = (MAP_WIDTH / 2) / MAP_HALF_SPAN_M
    to_svg = _project(lat, lon, scale)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{MAP_WIDTH}" height="{MAP_HEIGHT}" '
        f'viewBox="0 0 {MAP_WIDTH} {MAP_HEIGHT}" role="img" aria-label="Plan de situation">',
        f'<rect width="{MAP_WIDTH}" height="{MAP_HEIGHT}" fill="#f4f1ea" stroke="#888"/>',
    ]
    by_street: dict[str, list[_Dot]] = {}
    for plat, plon, name, _numero in addresses:
        dot = to_svg(plat, plon)
        if not (0 <= dot.x <= MAP_WIDTH and 0 <= dot.y <= MAP_HEIGHT):
            continue
        by_street.setdefault(name, []).append(dot)
        parts.append(f'<circle cx="{dot.x:.1f}" cy="{dot.y:.1f}" r="1.8" fill="#9a9a9a"/>')
    nearest = sorted(
        by_street, key=lambda n: min(math.hypot(d.x - MAP_WIDTH / 2, d.y - MAP_HEIGHT / 2) for d in by_street[n])
    )[:MAX_STREET_LABELS]
    for name in nearest:
        dots = by_street[name]
        x = sum(d.x for d in dots) / len(dots)
        y = sum(d.y for d in dots) / len(dots)
        parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="10" fill="#333" text-anchor="middle" '
            f'font-family="sans-serif">{escape(name)}</text>'
        )
    cx, cy = MAP_WIDTH / 2, MAP_HEIGHT / 2
    parts.append(
        f'<circle cx="{cx}" cy="{cy}" r="14" fill="none" stroke="#c00" stroke-width="3"/>'
        f'<circle cx="{cx}" cy="{cy}" r="4" fill="#c00"/>'
    )
    bar = 100 * scale
    parts.append(
        f'<line x1="12" y1="{MAP_HEIGHT - 14}" x2="{12 + bar:.1f}" y2="{MAP_HEIGHT - 14}" '
        f'stroke="#000" stroke-width="3"/><text x="12" y="{MAP_HEIGHT - 20}" font-size="10" '
        f'font-family="sans-serif">100 m</text>'
        f'<text x="{MAP_WIDTH - 8}" y="16" font-size="12" text-anchor="end" '
        f'font-family="sans-serif">N ↑</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def qr_svg(url: str) -> str:
    """The QR code of `url` as inline SVG (no raster, no network)."""
    import qrcode
    from qrcode.image.svg import SvgPathImage

    image = qrcode.make(url, image_factory=SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    text = out.getvalue().decode()
    return text[text.index("<svg") :]


def _photo_uri(store: FileStore, attachment: Attachment) -> str | None:
    digest = attachment.served_sha256
    if not digest:
        return None
    try:
        data = store.read(digest)
    except OSError:
        return None
    mime = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _history(config: Config, events: list[Event]) -> list[tuple[datetime, str]]:
    lines = []
    for event in events:
        detail = event.detail or {}
        if event.action == "status":
            text = (
                f"statut : {config.statuses.label(str(detail.get('from')))} → "
                f"{config.statuses.label(str(detail.get('to')))}"
            )
            if detail.get("note"):
                text += f" — {detail['note']}"
        elif event.action in HISTORY:
            text = HISTORY[event.action]
            service = config.service(detail.get("service")) if detail.get("service") else None
            if service is not None:
                text += f" : {service.name}"
            if event.action == "assigned":
                text += f" : {detail.get('to') or 'personne'}"
            if detail.get("note"):
                text += f" — {detail['note']}"
        else:
            continue
        lines.append((event.at, text))
    return lines


def workorder_html(session: Session, config: Config, report: Report, store: FileStore) -> str:
    """The work order as a self-contained HTML page (inline SVG and images), ready for WeasyPrint."""
    labels = {c.code: c.label for c in config.categories}
    service = config.service(report.service)
    events = list(session.execute(select(Event).where(Event.report_id == report.id).order_by(Event.id)).scalars())
    attachments = list(
        session.execute(select(Attachment).where(Attachment.report_id == report.id).order_by(Attachment.id)).scalars()
    )
    photos = [uri for uri in (_photo_uri(store, a) for a in attachments[:MAX_PHOTOS]) if uri]
    description = mask_contacts(report.description or report.subject or "", region=config.town.phone_region)
    url = field_url(config, report)
    address = describe(report)
    if report.lat is not None and report.lon is not None:
        nearby = nearby_addresses(session, config, report.lat, report.lon)
        near = nearest_address(nearby, report.lat, report.lon)
        if not address and near:
            address = f"près du {near} (d'après la position)"
        position = (
            f'<div class="carte">{map_svg(nearby, report.lat, report.lon)}</div>'
            f"<p>Coordonnées (WGS 84) : {report.lat:.6f}, {report.lon:.6f}</p>"
        )
    else:
        position = "<p><strong>Position inconnue</strong> : se fier à l'adresse et à la description.</p>"
    local = config.town.local
    history = "".join(
        f"<li>{local(at).strftime('%d/%m/%Y %H:%M')} — {escape(text)}</li>" for at, text in _history(config, events)
    )
    e = escape
    return f"""<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>Fiche d'intervention n° {e(report.tracking_number)}</title>
<style>
@page {{ size: A4; margin: 14mm 14mm 16mm; @bottom-right {{ content: "page " counter(page) " / " counter(pages);
  font-size: 8pt; }} }}
body {{ font-family: "DejaVu Sans", "Liberation Sans", sans-serif; font-size: 10pt; color: #000; }}
h1 {{ font-size: 16pt; margin: 0 0 2mm; }} h2 {{ font-size: 12pt; margin: 5mm 0 2mm; border-bottom: 1px solid #000; }}
.entete {{ display: flex; justify-content: space-between; align-items: flex-start; }}
.qr svg {{ width: 32mm; height: 32mm; }} .qr p {{ font-size: 7pt; width: 34mm; margin: 0; overflow-wrap: anywhere; }}
dl {{ margin: 0; }} dt {{ font-weight: bold; float: left; clear: left; width: 30mm; }} dd {{ margin: 0 0 1mm 32mm; }}
.carte svg {{ width: 100%; height: auto; }}
.description {{ white-space: pre-wrap; border: 1px solid #999; padding: 2mm; }}
.photos img {{ max-width: 58mm; max-height: 58mm; margin: 0 2mm 2mm 0; }}
.cadre {{ border: 1px solid #000; height: 28mm; }}
</style></head><body>
<div class="entete"><div>
<h1>Fiche d'intervention</h1>
<p>{e(config.town.name)} — signalement n° <strong>{e(report.tracking_number)}</strong></p>
<dl>
<dt>Catégorie</dt><dd>{e(labels.get(report.category or "", report.category or "non classé"))}</dd>
<dt>Service</dt><dd>{e(service.name if service else "non orienté")}</dd>
<dt>Statut</dt><dd>{e(config.statuses.label(report.status))}</dd>
<dt>Reçu le</dt><dd>{local(report.created_at).strftime("%d/%m/%Y à %H:%M")}</dd>
<dt>Adresse</dt><dd>{e(address or "adresse non précisée")}</dd>
</dl></div>
<div class="qr">{qr_svg(url)}<p>Page de terrain : {e(url)}</p></div></div>
<h2>Position</h2>{position}
<h2>Description du citoyen</h2><div class="description">{e(description) or "(aucune description)"}</div>
<h2>Photos</h2>{
        "".join(f'<span class="photos"><img src="{uri}" alt=""></span>' for uri in photos) or "<p>Aucune photo.</p>"
    }
<h2>Historique</h2><ol>{history}</ol>
<h2>Compte rendu d'intervention</h2><p>Date, intervenant, travaux réalisés :</p><div class="cadre"></div>
</body></html>"""


def render_workorder(session: Session, config: Config, report: Report, store: FileStore) -> bytes:
    """The work order of `report` as PDF bytes (A4)."""
    from PIL import ImageFile
    from weasyprint import HTML

    # WeasyPrint turns Pillow's LOAD_TRUNCATED_IMAGES on for the whole process when it is imported: the worker
    # would then accept the truncated images every door refuses (intake/media/images.py). Our work orders only
    # embed our own complete, re-encoded copies, so Pillow's strict default is put back.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    html = workorder_html(session, config, report, store)
    pdf: bytes = HTML(string=html, base_url=str(Path.cwd())).write_pdf()
    return pdf


def wanted(config: Config, report: Report | None, kind: str) -> bool:
    """Whether a referents' email of `kind` about `report` carries the work order (the service's setting)."""
    service = config.service(report.service) if report is not None else None
    return kind.startswith("referent:") and service is not None and service.work_order_pdf


def attach(message: Message, pdf: bytes, name: str) -> Message:
    """`message` (a single text part) turned into multipart/mixed with the PDF attached; headers kept in order."""
    mixed = MIMEMultipart("mixed")
    for key, value in message.items():
        if key.lower() not in {"content-type", "content-transfer-encoding", "mime-version"}:
            mixed[key] = value
    body = Message()  # the text part as it was encoded (quoted-printable UTF-8), not encoded twice
    for key in ("Content-Type", "Content-Transfer-Encoding"):
        if message[key] is not None:
            body[key] = message[key]
    body.set_payload(message.get_payload())
    mixed.attach(body)
    part = MIMEApplication(pdf, "pdf")
    part.add_header("Content-Disposition", "attachment", filename=name)
    mixed.attach(part)
    return mixed


def with_workorder(session: Session, config: Config, report_id: int | None, kind: str, message: Message) -> Message:
    """The referents' email with the report's work order attached when its service asks for it.

    A work order that cannot be rendered never blocks the email (its link to the report is in the body): the
    failure is logged and the email leaves without it.
    """
    report = session.get(Report, report_id) if report_id is not None else None
    if report is None or not wanted(config, report, kind):
        return message
    try:
        store = FileStore(config.resolve_path(config.storage.root))
        pdf = render_workorder(session, config, report, store)
    except Exception:
        log.exception("work order of report %s could not be rendered: email sent without it", report.tracking_number)
        return message
    return attach(message, pdf, filename(report))
