"""Line patterns shared by quote splitting and forward unwrapping (French and English mail clients)."""

from __future__ import annotations

import re

_I = re.IGNORECASE
# Gmail, Thunderbird, Outlook web and Apple Mail put one of these lines above a forwarded message.
FORWARD_LINE = re.compile(
    r"^\s*(?:-{2,}\s*(?:message transf[ée]r[ée]|forwarded message|message r[ée]exp[ée]di[ée]|"
    r"mail transf[ée]r[ée]|courriel transf[ée]r[ée]|e-?mail transf[ée]r[ée]|weitergeleitete nachricht)"
    r"\s*-{2,}"
    r"|(?:d[ée]but du message (?:r[ée]exp[ée]di[ée]|transf[ée]r[ée])|begin forwarded message)\s*:)\s*$",
    _I,
)
# Used above both replies and forwards: only the context tells which.
SEPARATOR_LINE = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|message d['’]origine|message original|"
    r"urspr[üu]ngliche nachricht|mensaje original|messaggio originale)\s*-{2,}|_{10,})\s*$",
    _I,
)
HEADER_LABELS = {
    "from": r"de|from|exp[ée]diteur|von|da",
    "date": r"envoy[ée]|envoy[ée] le|sent|date|gesendet|enviado",
    "to": r"[àa]|to|pour|destinataire|an|para",
    "cc": r"cc|copie [àa]|copie",
    "subject": r"objet|subject|sujet|betreff|asunto|oggetto",
    "reply_to": r"r[ée]pondre [àa]|reply-to",
}
_LABEL = "|".join(f"(?P<{key}>{pattern})" for key, pattern in HEADER_LABELS.items())
HEADER_LINE = re.compile(rf"^\s*[*>]*\s*\*?(?:{_LABEL})\*?[ \t\u00a0]*:\*?[ \t\u00a0]*(?P<value>.*?)\s*$", _I)
ATTRIBUTION = re.compile(
    r"^\s*[-–]?\s*(?:le\b.{0,250}\b[ae] [ée]crit|on\b.{0,250}\bwrote|am\b.{0,250}\bschrieb|"
    r"el\b.{0,250}\bescribi[óo]|il\b.{0,250}\bha scritto)\s*:?\s*$",
    _I,
)
QUOTE_LINE = re.compile(r"^\s*>")
# "Jean a écrit :" with no date: only an attribution when quoted lines follow.
_SHORT_ATTRIBUTION = re.compile(r"^.{1,200}\b(?:a [ée]crit|wrote|schrieb|escribi[óo]|ha scritto)\s*:\s*$", _I)
FORWARD_PREFIX = re.compile(r"^\s*(?:\[\s*)?(?:tr|fwd?|fw|wg|rv|enc|transf[ée]r[ée]?)\s*:", _I)
REPLY_PREFIX = re.compile(r"^\s*(?:\[\s*)?(?:re|r[ée]f|r[ée]p|aw|sv|antw|vs)\s*(?:\[\d+\])?\s*:", _I)


def header_label(line: str) -> tuple[str, str] | None:
    """The (key, value) of a header-looking body line such as "De : Jean <j@x.fr>", or None."""
    match = HEADER_LINE.match(line)
    if not match or len(line) > 1000:
        return None
    key = next(k for k in HEADER_LABELS if match.group(k) is not None)
    return key, match.group("value")


def is_header_block(lines: list[str], start: int) -> bool:
    """Whether an Outlook-style block (De/From, then Envoyé/Sent/Date and Objet/Subject/À/To) starts here."""
    first = header_label(lines[start]) if start < len(lines) else None
    if first is None or first[0] != "from":
        return False
    keys = {"from"}
    for line in lines[start + 1 : start + 8]:
        found = header_label(line)
        if found:
            keys.add(found[0])
        elif not line.strip() and len(keys) > 1:
            break
    return "date" in keys and bool(keys & {"subject", "to"})


def is_attribution(lines: list[str], index: int) -> int:
    """Number of lines (1 or 2) of a "Le … a écrit :" / "On … wrote:" line starting here, else 0."""
    line = lines[index].strip()
    if not line or len(line) > 300:
        return 0
    if ATTRIBUTION.match(line):
        return 1
    if _SHORT_ATTRIBUTION.match(line):
        following = next((other for other in lines[index + 1 : index + 3] if other.strip()), "")
        if QUOTE_LINE.match(following):
            return 1
    if index + 1 < len(lines) and re.match(r"^\s*[-–]?\s*(?:le|on|am|el|il)\b", line, _I):
        if ATTRIBUTION.match(f"{line} {lines[index + 1].strip()}"):
            return 2
    return 0


def has_forward_prefix(subject: str | None) -> bool:
    """Whether a subject starts with TR:, Fwd:, FW: and the like."""
    return bool(subject and FORWARD_PREFIX.match(subject))


def has_reply_prefix(subject: str | None) -> bool:
    """Whether a subject starts with RE:, AW:, Réf: and the like."""
    return bool(subject and REPLY_PREFIX.match(subject))


def strip_forward_prefixes(subject: str) -> str:
    """The subject without its leading forward prefixes ("TR: Fwd: X" → "X"; "TR: RE: X" → "RE: X")."""
    text = subject.strip()
    bracketed = False
    while match := FORWARD_PREFIX.match(text):
        bracketed = bracketed or text.startswith("[")
        text = text[match.end() :].strip()
    if bracketed and text.endswith("]"):
        text = text[:-1].strip()
    return text
