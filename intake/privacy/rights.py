"""A citizen's rights (RGPD articles 15 and 17): everything held about an email or a phone number, and its erasure.

`find_subject` gathers what is held about one person: the contacts with that email or number (and what an
agent linked to them), the reports they opened, the messages they wrote on other reports, the messages the town
sent them. `export_subject` gives it as JSON (French keys, for the citizen) and `summary_fr` as a readable
French summary; `erase_subject` anonymises it (intake/privacy/erasure.py) and keeps each problem's category,
place and status for the statistics. Both are written to the audit log under a keyed pseudonym, never the
address itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from intake.config import Config
from intake.media.storage import FileStore
from intake.models import Attachment, Contact, Outbox, Report, ReportMessage, utcnow
from intake.phones import to_e164
from intake.privacy.erasure import (
    ERASED,
    Actor,
    anonymise_contact,
    anonymise_message,
    anonymise_outbox,
    anonymise_report,
    audit,
)
from intake.pseudonyms import pseudonym


def parse_identifier(value: str, *, region: str) -> str:
    """An email (lower case) or a phone number (E.164); ValueError with a French message otherwise."""
    text = (value or "").strip()
    if not text:
        raise ValueError("indiquez une adresse électronique ou un numéro de téléphone")
    if "@" in text:
        local, _, domain = text.rpartition("@")
        if not local or "." not in domain or any(c.isspace() for c in text) or len(text) > 320:
            raise ValueError(f"adresse électronique invalide : {text[:80]}")
        return text.lower()
    number = to_e164(text, region=region)
    if number is None:
        raise ValueError(f"ni une adresse électronique ni un numéro de téléphone valide : {text[:80]}")
    return number


@dataclass
class Subject:
    """What is held about one person."""

    identifier: str
    contacts: list[Contact] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)  # the reports they opened
    messages: list[ReportMessage] = field(default_factory=list)  # every message of theirs, on any report
    outbox: list[Outbox] = field(default_factory=list)  # what the town sent them

    @property
    def found(self) -> bool:
        """Whether anything at all is held."""
        return bool(self.contacts or self.reports or self.messages or self.outbox)


def find_subject(session: Session, identifier: str) -> Subject:
    """Everything held about `identifier` (already normalised by parse_identifier)."""
    subject = Subject(identifier)
    emails = {identifier} if "@" in identifier else set()
    phones = set() if "@" in identifier else {identifier}
    subject.contacts = list(
        session.execute(
            select(Contact)
            .where(
                or_(func.lower(Contact.email).in_(sorted(emails) or [""]), Contact.phone.in_(sorted(phones) or [""]))
            )
            .order_by(Contact.id)
        ).scalars()
    )
    emails |= {c.email.lower() for c in subject.contacts if c.email}
    phones |= {c.phone for c in subject.contacts if c.phone}
    contact_ids = [c.id for c in subject.contacts]
    subject.reports = list(
        session.execute(select(Report).where(Report.author_id.in_(contact_ids or [-1])).order_by(Report.id)).scalars()
    )
    own = {r.id for r in subject.reports}
    rows = session.execute(
        select(ReportMessage)
        .where(
            or_(
                func.lower(ReportMessage.sender_email).in_(sorted(emails) or [""]),
                ReportMessage.report_id.in_(sorted(own) or [-1]),
            )
        )
        .order_by(ReportMessage.id)
    ).scalars()
    # On their own reports, a message without a sender address is theirs (an SMS, a call typed in by reception).
    subject.messages = [
        m for m in rows if (m.sender_email or "").lower() in emails or (m.report_id in own and not m.sender_email)
    ]
    recipients = emails | phones | {f"whatsapp:{p}" for p in phones}
    subject.outbox = list(
        session.execute(
            select(Outbox)
            .where(func.lower(Outbox.recipient).in_(sorted({r.lower() for r in recipients}) or [""]))
            .order_by(Outbox.id)
        ).scalars()
    )
    return subject


def _when(config: Config, moment: datetime | None) -> str | None:
    return config.town.local(moment).isoformat(timespec="seconds") if moment is not None else None


def export_subject(session: Session, config: Config, subject: Subject) -> dict[str, Any]:
    """What is held about the person, as a JSON-ready dict with French keys (what they read)."""
    labels = {c.code: c.label for c in config.categories}
    by_report: dict[int, list[ReportMessage]] = {}
    for message in subject.messages:
        by_report.setdefault(message.report_id, []).append(message)
    reports = {r.id: r for r in subject.reports}
    for report_id in by_report:
        if report_id not in reports:
            row = session.get(Report, report_id)
            if row is not None:
                reports[report_id] = row
    attachments: dict[int, list[Attachment]] = {}
    ids = [m.id for m in subject.messages]
    for att in session.execute(select(Attachment).where(Attachment.report_message_id.in_(ids or [-1]))).scalars():
        attachments.setdefault(att.report_message_id, []).append(att)
    out_reports = []
    for report in sorted(reports.values(), key=lambda r: r.id):
        mine = report.id in {r.id for r in subject.reports}
        out_reports.append(
            {
                "numero": report.tracking_number,
                "auteur": mine,
                "recu_le": _when(config, report.created_at),
                "canal": report.channel,
                "objet": report.subject if mine else None,
                "description": report.description if mine else None,
                "categorie": labels.get(report.category or "", report.category),
                "statut": config.statuses.label(report.status),
                "adresse": report.address_label or report.address_voie,
                "position": [report.lat, report.lon] if report.lat is not None else None,
                "page_de_suivi": config.status_url(report.public_token) if mine else None,
                "anonymise_le": _when(config, report.anonymised_at),
                "messages": [
                    {
                        "recu_le": _when(config, m.created_at),
                        "nom": m.sender_name,
                        "courriel": m.sender_email,
                        "objet": m.subject,
                        "texte": m.text,
                        "signature": m.signature or None,
                        "telephone_lu_dans_le_message": (m.details or {}).get("phone_in_text"),
                        "pieces_jointes": [
                            {
                                "nom": a.filename,
                                "type": a.content_type,
                                "taille": a.size,
                                "position_gps": [a.gps_lat, a.gps_lon] if a.gps_lat is not None else None,
                            }
                            for a in attachments.get(m.id, [])
                        ],
                    }
                    for m in by_report.get(report.id, [])
                ],
            }
        )
    return {
        "demande": {
            "identifiant": subject.identifier,
            "commune": config.town.name,
            "date": _when(config, utcnow()),
            "responsable": config.privacy.controller,
        },
        "contacts": [
            {
                "nom": c.name,
                "courriel": c.email,
                "telephone": c.phone,
                "opposition_sms": c.opt_out,
                "cree_le": _when(config, c.created_at),
                "anonymise_le": _when(config, c.anonymised_at),
            }
            for c in subject.contacts
        ],
        "signalements": out_reports,
        "messages_envoyes": [
            {
                "date": _when(config, o.created_at),
                "canal": o.channel,
                "destinataire": o.recipient,
                "objet": o.subject,
                "texte": o.body,
                "etat": o.status,
            }
            for o in subject.outbox
        ],
    }


def summary_fr(config: Config, data: dict[str, Any]) -> str:
    """A readable French summary of an export (what the citizen reads first)."""
    ask = data["demande"]
    lines = [
        f"Données détenues par {ask['commune']} concernant {ask['identifiant']}",
        f"(extraction du {ask['date']}, responsable du traitement : {ask['responsable']})",
        "",
    ]
    if not (data["contacts"] or data["signalements"] or data["messages_envoyes"]):
        lines.append("Aucune donnée n'est détenue sur cette adresse ou ce numéro.")
    for c in data["contacts"]:
        lines.append(
            "Coordonnées : "
            + ", ".join(v for v in (c["nom"], c["courriel"], c["telephone"]) if v)
            + (" (SMS refusés)" if c["opposition_sms"] else "")
        )
    reports = data["signalements"]
    if reports:
        lines += ["", f"{len(reports)} signalement(s) :"]
    for r in reports:
        role = "déposé par vous" if r["auteur"] else "vous y avez écrit"
        lines.append(
            f"- n° {r['numero']} du {(r['recu_le'] or '')[:10]} ({r['canal']}, {role}) : "
            f"{r['categorie'] or 'catégorie à préciser'}, état « {r['statut']} », "
            f"lieu : {r['adresse'] or 'non précisé'} ; {len(r['messages'])} message(s), "
            f"{sum(len(m['pieces_jointes']) for m in r['messages'])} pièce(s) jointe(s)"
        )
    sent = data["messages_envoyes"]
    if sent:
        lines += ["", f"{len(sent)} message(s) envoyé(s) par la mairie (accusés de réception, suivi)."]
    privacy = config.privacy
    lines += [
        "",
        f"Conservation : les messages reçus et leurs pièces jointes sont supprimés "
        f"{privacy.retention.raw_months} mois après la clôture du signalement, vos coordonnées et vos "
        f"messages anonymisés après {privacy.retention.identity_months} mois.",
        "Vous pouvez demander la rectification ou l'effacement de ces données"
        + (
            f" auprès du délégué à la protection des données : {privacy.dpo_contact}."
            if privacy.dpo_contact
            else " auprès de la mairie."
        ),
        f"Réclamation : {privacy.authority}.",
    ]
    return "\n".join(lines)


@dataclass
class Erasure:
    """What an erasure did."""

    contacts: int = 0
    reports: int = 0
    messages: int = 0
    sent: int = 0


def erase_subject(
    session: Session,
    config: Config,
    store: FileStore,
    subject: Subject,
    *,
    key: bytes,
    actor: Actor,
) -> Erasure:
    """Anonymise everything held about the person; their reports keep category, place and status. Audited."""
    now = utcnow()
    done = Erasure()
    for report in subject.reports:
        done.reports += int(anonymise_report(session, store, report, now=now))
    own = {r.id for r in subject.reports}
    for message in subject.messages:
        if message.report_id not in own and message.text != ERASED:
            anonymise_message(session, store, message, now=now)
            done.messages += 1
    done.sent = sum(1 for o in subject.outbox if not o.recipient.startswith("effacé-"))
    anonymise_outbox(session, subject.outbox)
    for contact in subject.contacts:
        done.contacts += int(anonymise_contact(contact, now=now))
    audit(
        session,
        actor=actor,
        action="rgpd_erase",
        detail={
            "subject": pseudonym(key, subject.identifier, region=config.town.phone_region),
            "contacts": done.contacts,
            "reports": done.reports,
            "messages": done.messages,
            "sent": done.sent,
        },
    )
    return done


def audit_export(
    session: Session,
    config: Config,
    subject: Subject,
    *,
    key: bytes,
    actor: Actor,
) -> None:
    """Record that what is held about the person was exported (under a pseudonym)."""
    audit(
        session,
        actor=actor,
        action="rgpd_export",
        detail={
            "subject": pseudonym(key, subject.identifier, region=config.town.phone_region),
            "reports": len(subject.reports),
            "messages": len(subject.messages),
        },
    )
