"""The project's vocabularies as types: statuses of a report, a raw message and an outbox row, and channels.

Each is a StrEnum, so a member equals its stored string ("nouveau" == ReportStatus.NOUVEAU) and the database
keeps plain text, guarded by CHECK constraints built from these same members (intake/models.py).
"""

from __future__ import annotations

from enum import StrEnum


class ReportStatus(StrEnum):
    """Where a report stands; agents and citizens read the labels of config.yaml's `statuses`."""

    NOUVEAU = "nouveau"
    A_QUALIFIER = "a_qualifier"
    TRANSMIS = "transmis"
    EN_COURS = "en_cours"
    RESOLU = "resolu"
    REJETE = "rejete"


CLOSED = frozenset({ReportStatus.RESOLU, ReportStatus.REJETE})
OPEN = tuple(s for s in ReportStatus if s not in CLOSED)


class RawStatus(StrEnum):
    """Where a stored raw message stands in processing."""

    PENDING = "pending"
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"  # parked with a reason, for an agent to retry
    DISCARDED = "discarded"  # kept as received, files nothing (an auto-reply, a bounce)
    HELD = "held"  # waits for a human before it can be filed


class OutboxStatus(StrEnum):
    """Where a notification stands: pending -> sending -> sent | failed; suppressed never leaves."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class ChannelName(StrEnum):
    """Channels a message, a report or a notification can travel by (doors register under these names)."""

    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    VOICE = "voice"
    OPEN311 = "open311"
    TELEPHONE = "telephone"
    ACCUEIL = "accueil"
    COURRIER = "courrier"
    FORMULAIRE = "formulaire"  # the citizens' web form, /signaler


def sql_in(column: str, vocabulary: type[StrEnum]) -> str:
    """A CHECK constraint's text: `column` takes one of the vocabulary's values."""
    values = ", ".join(f"'{member.value}'" for member in vocabulary)
    return f"{column} IN ({values})"
