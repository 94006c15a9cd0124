"""Spotting automatic messages (out-of-office, bounces, lists, our own mail) to avoid mail loops."""

from __future__ import annotations

import re
from email.message import Message

from .headers import decode_header_value, raw_header
from .model import Address

_SYSTEM_LOCALPART = re.compile(r"^(?:mailer-daemon|postmaster|bounces?(?:[+-].*)?)$", re.IGNORECASE)
# No-reply senders are often web forms or partner platforms relaying a real report: never answered,
# but still filed (kind "noreply"), unlike bounces and out-of-office replies (kind "automatic").
_NOREPLY_LOCALPART = re.compile(
    r"^(?:no-?reply|do-?not-?reply|ne-?pas-?repondre|nepasrepondre|noreply-.*|.*-noreply)$", re.IGNORECASE
)
_SUBJECT = re.compile(
    r"^\s*(?:r[ée]ponse automatique|absence du bureau|absent(?:e)? du bureau|out of (?:the )?office|"
    r"automatic reply|auto(?:matic)?[- ]?reply|autoreply|undeliverable|undelivered mail|"
    r"delivery status notification|delivery failure|message non remis|non remis|"
    r"mail delivery (?:failed|failure|system)|returned mail|accus[ée] de r[ée]ception|"
    r"r[ée]ponse automatique d['’]absence|je suis absent)",
    re.IGNORECASE,
)
_SUPPRESS = {"all", "oof", "autoreply"}
_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}


def _value(msg: Message, name: str) -> str:
    return decode_header_value(raw_header(msg, name)).strip()


def in_domains(address: Address | None, domains: tuple[str, ...]) -> bool:
    """Whether an address belongs to one of ``domains`` (or one of their subdomains)."""
    if address is None or not address.email or "@" not in address.email:
        return False
    domain = address.email.rsplit("@", 1)[1].lower()
    return any(domain == d.lower().lstrip("@") or domain.endswith("." + d.lower().lstrip("@")) for d in domains)


def _header_reason(msg: Message) -> str | None:
    auto = _value(msg, "Auto-Submitted")
    if auto and auto.split(";")[0].strip().lower() != "no":
        return f"Auto-Submitted: {auto}"
    precedence = _value(msg, "Precedence").lower()
    if precedence in _PRECEDENCE:
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        value = _value(msg, name)
        if value and value.lower() not in {"no", "false", "0"}:
            return f"{name}: {value}"
    suppress = {v.strip().lower() for v in _value(msg, "X-Auto-Response-Suppress").split(",")}
    if suppress & _SUPPRESS:
        return f"X-Auto-Response-Suppress: {_value(msg, 'X-Auto-Response-Suppress')}"
    for name in ("List-Id", "List-Unsubscribe"):
        if raw_header(msg, name):
            return f"{name} (liste de diffusion)"
    return_path = raw_header(msg, "Return-Path")
    if return_path is not None and return_path.replace(" ", "") == "<>":
        return "Return-Path: <> (message de service)"
    if msg.get_content_type() == "multipart/report":
        return "Content-Type: multipart/report (avis de non-remise ou de lecture)"
    return None


def auto_reply_verdict(
    msg: Message,
    *,
    header_from: Address | None,
    subject: str,
    sender: Address | None = None,
    own_domains: tuple[str, ...] = (),
) -> tuple[str, str] | None:
    """(kind, reason) when this message must not be answered, None for a human message.

    kind is "automatic" (robots: bounces, out-of-office, lists), "noreply" (a sender that accepts no
    reply) or "own_domain" (the town's own address). Headers, From and subject are those of the outer
    message (a forward hides the original's headers); ``sender`` is the citizen after unwrapping, so a
    staff forward from our own domain is not "ours".
    """
    try:
        reason = _header_reason(msg)
    except Exception:  # unreadable headers just give no header-based verdict
        reason = None
    if reason:
        return "automatic", reason
    if header_from is not None and header_from.email:
        local = header_from.email.split("@", 1)[0]
        if _SYSTEM_LOCALPART.match(local):
            return "automatic", f"expéditeur automatique ({header_from.email})"
    if _SUBJECT.match(subject or ""):
        return "automatic", f"objet de réponse automatique ({subject[:80]})"
    if header_from is not None and header_from.email:
        if _NOREPLY_LOCALPART.match(header_from.email.split("@", 1)[0]):
            return "noreply", f"expéditeur qui n'accepte pas de réponse ({header_from.email})"
    citizen = sender if sender is not None else header_from
    if citizen is not None and in_domains(citizen, own_domains):
        return "own_domain", f"message de notre propre domaine ({citizen.email})"
    return None


def auto_reply_reason(
    msg: Message,
    *,
    header_from: Address | None,
    subject: str,
    sender: Address | None = None,
    own_domains: tuple[str, ...] = (),
) -> str | None:
    """Why this message must not be answered, or None for a human message (see auto_reply_verdict)."""
    verdict = auto_reply_verdict(msg, header_from=header_from, subject=subject, sender=sender, own_domains=own_domains)
    return verdict[1] if verdict else None
