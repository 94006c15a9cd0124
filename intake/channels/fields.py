"""Reading the stored JSON fields of the doors that store a form (staff entry, the citizens' form, Open311)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from intake.message import ParsedAttachment, SkippedAttachment


def text_field(fields: dict[str, Any], key: str, limit: int) -> str | None:
    """The field's text, stripped and cut at `limit` characters; None when absent or blank."""
    value = fields.get(key)
    text = str(value).strip()[:limit] if value is not None else ""
    return text or None


def float_field(fields: dict[str, Any], key: str) -> float | None:
    """The field as a number; None when absent, empty or not a number."""
    try:
        value = fields.get(key)
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def decoded_media(fields: dict[str, Any], *, origin: str) -> tuple[list[ParsedAttachment], list[SkippedAttachment]]:
    """The files of the `media` field (base64 in JSON); one that does not decode is listed as skipped, in French."""
    files: list[ParsedAttachment] = []
    skipped: list[SkippedAttachment] = []
    for item in fields.get("media") or []:
        if not isinstance(item, dict):
            continue
        name = str(item.get("filename") or "photo")[:200]
        content_type = str(item.get("content_type") or "application/octet-stream")[:120]
        try:
            payload = base64.b64decode(str(item.get("data") or ""), validate=True)
        except (binascii.Error, ValueError):
            skipped.append(SkippedAttachment(name, content_type, 0, "fichier illisible (base64 invalide)"))
            continue
        files.append(ParsedAttachment(filename=name, content_type=content_type, payload=payload, origin=origin))
    return files, skipped
