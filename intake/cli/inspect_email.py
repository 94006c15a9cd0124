"""`guichet parse-email`: one JSON summary per file, whatever the file holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def inspect_bytes(raw: bytes) -> dict[str, Any]:
    """Parse an email and summarise it, adding the GPS position of each image attachment."""
    from intake.email.parse import parse_email
    from intake.email.summary import summarise
    from intake.media.exif import read_image_info

    parsed = parse_email(raw)
    summary = summarise(parsed)
    for entry, att in zip(summary["attachments"], parsed.attachments, strict=True):
        info = read_image_info(att.payload)
        gps = info.gps if info is not None else None
        entry["gps"] = {"lat": gps.lat, "lon": gps.lon} if gps else None
    return summary


def inspect_file(name: str) -> dict[str, Any]:
    """The parse-email contract for one file: ok false with the reason instead of an exception."""
    base: dict[str, Any] = {
        "file": name,
        "ok": False,
        "sender": {"name": None, "email": None},
        "forwarded_by": None,
        "subject": "",
        "text": "",
        "attachments": [],
        "auto_reply": False,
        "error": None,
    }
    path = Path(name)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        base["error"] = f"cannot read file: {exc.strerror or exc}"
        return base
    try:
        summary = inspect_bytes(raw)
    except Exception as exc:  # the contract: a file that cannot be parsed is reported, not raised
        base["error"] = f"{type(exc).__name__}: {exc}"
        return base
    return {"file": name, "ok": True, **summary, "error": None}
