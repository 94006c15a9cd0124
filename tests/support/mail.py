"""Building realistic test emails (raw RFC 5322 bytes)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime


def citizen_email(
    *,
    sender: str = "Jeanne Martin <jeanne.martin@example.org>",
    to: str = "mairie@mairie.localhost",
    subject: str = "Lampadaire en panne",
    body: str = (
        "Bonjour,\n\nLe lampadaire devant le 12 rue des Lilas ne s'allume plus depuis lundi.\n\nCordialement,\nJeanne"
    ),
    message_id: str | None = None,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
) -> bytes:
    """A citizen's email as bytes; attachments are (filename, content_type, data)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<{message_id or uuid.uuid4().hex + '@example.org'}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
        msg["References"] = f"<{in_reply_to}>"
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def jpeg_with_gps(lat: float, lon: float) -> bytes:
    """A small JPEG whose EXIF carries a GPS position (north/east)."""
    from PIL import Image

    def dms(value: float) -> tuple[float, float, float]:
        deg = int(value)
        minutes = int((value - deg) * 60)
        seconds = round(((value - deg) * 60 - minutes) * 60, 4)
        return (float(deg), float(minutes), seconds)

    img = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    gps = {1: "N", 2: dms(lat), 3: "E", 4: dms(lon)}
    exif[0x8825] = gps
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()
