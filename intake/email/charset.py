"""Turn bytes of unknown or lying charsets into clean UTF-8 text."""

from __future__ import annotations

import codecs
import re

import charset_normalizer

# Encodings a French town hall plausibly receives; the detector's guesses outside this set are only
# trusted on long texts, because on short French texts it likes cp1250, cp1006 or UTF-16 (é → ŕ, ﻠ).
_PLAUSIBLE = {
    codecs.lookup(name).name for name in ("ascii", "utf-8", "cp1252", "latin-1", "iso-8859-15", "mac-roman", "cp850")
}
_TRUST_DETECTION_FROM = 300
_SINGLE_BYTE_WESTERN = {codecs.lookup(name).name for name in ("ascii", "latin-1", "iso-8859-15", "cp1252")}
_ALIASES = {
    "unknown-8bit": None,
    "x-unknown": None,
    "unknown": None,
    "x-user-defined": None,
    "ansi_x3.4-1968": "ascii",
    "iso-8859-8-i": "iso-8859-8",
    "utf8mb4": "utf-8",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-mac-roman": "mac_roman",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def normalise_charset(name: str | None) -> str | None:
    """Return a Python codec name for a declared MIME charset, or None when unknown or useless."""
    if not name:
        return None
    label = name.strip().strip("\"'").lower()
    if label in _ALIASES:
        label = _ALIASES[label] or ""
    if not label:
        return None
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):
        return None


def clean_text(text: str) -> str:
    """Drop NULs, stray control characters and lone surrogates; unify line ends to \\n."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SURROGATE.sub("\ufffd", text)
    return _CONTROL.sub("", text)


def _western(data: bytes) -> str:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; latin-1 maps every byte, so nothing is ever lost.
        return data.decode("latin-1")


def detect_decode(data: bytes) -> tuple[str, str]:
    """Decode bytes without a usable declared charset; returns (text, codec used)."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        best = charset_normalizer.from_bytes(data[:200_000]).best()
    except Exception:  # the detector is a heuristic: any failure just means "no opinion"
        best = None
    if best is not None and best.encoding:
        codec = normalise_charset(best.encoding) or best.encoding
        if codec in _PLAUSIBLE or len(data) >= _TRUST_DETECTION_FROM:
            try:
                return data.decode(codec), codec
            except (UnicodeDecodeError, LookupError):
                pass
    return _western(data), "cp1252"


def decode_bytes(data: bytes, declared: str | None, *, notes: list[str] | None = None) -> str:
    """Decode with the declared charset, then detection, then cp1252/latin-1; always clean text.

    Notes about repairs are appended to ``notes`` when given.
    """
    if not data:
        return ""
    codec = normalise_charset(declared)
    if declared and codec is None and notes is not None:
        notes.append(f"jeu de caractères inconnu « {declared[:40]} », détection automatique")
    if codec is not None:
        if codec in _SINGLE_BYTE_WESTERN and not data.isascii():
            # A common lie: UTF-8 bytes labelled latin-1. Valid multi-byte UTF-8 is never an accident.
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                if notes is not None:
                    notes.append(f"texte déclaré {declared} mais encodé en UTF-8")
                return clean_text(text)
        try:
            return clean_text(data.decode(codec))
        except (UnicodeDecodeError, LookupError):
            if notes is not None:
                notes.append(f"texte mal encodé pour {declared}, détection automatique")
    text, used = detect_decode(data)
    if notes is not None and codec is None and not data.isascii() and not declared:
        notes.append(f"texte 8 bits sans jeu de caractères déclaré, lu en {used}")
    return clean_text(text)


def recover_bytes(text: str) -> bytes:
    """Get back the raw bytes of a header the stdlib decoded as ASCII with surrogateescape."""
    # Real non-ASCII characters become UTF-8, escaped bytes become themselves again.
    return text.encode("utf-8", "surrogateescape")
