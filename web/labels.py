"""French words for what the history of a report records (event actions are stable English codes)."""

from __future__ import annotations

EVENTS = {
    "created": "reçu",
    "classified": "catégorie proposée",
    "reclassified": "catégorie changée",
    "located": "localisé",
    "routed": "orienté vers un service",
    "rerouted": "réaffecté à un autre service",
    "duplicate_of": "lié comme doublon",
    "duplicate_unlinked": "doublon détaché",
    "confirmation_skipped": "pas d'accusé de réception",
    "location_requested": "adresse demandée au citoyen",
    "location_request_skipped": "adresse non demandée au citoyen",
    "assigned": "attribué",
    "replied": "réponse au citoyen",
    "follow_up": "complément reçu",
    "opt_out": "SMS refusés par le citoyen (STOP)",
    "field_photo": "photo après intervention",
    "field_note": "note de terrain",
    "transcription_requested": "transcription automatique demandée",
    "transcribed": "transcription automatique reçue",
    "transcription_abandoned": "transcription automatique non reçue",
}
OUTBOX_KINDS = {
    "confirmation": "accusé de réception",
    "ask_location": "demande d'adresse",
    "reply": "réponse",
    "referent": "message aux référents",
    "status": "avis de changement de statut",
    "digest": "récapitulatif",
}
OUTBOX_STATES = {
    "sent": "envoyé",
    "failed": "échec d'envoi",
    "suppressed": "non envoyé",
    "pending": "en attente",
    "delivered": "distribué",
    "undelivered": "non distribué",
}


def event_label(action: str) -> str:
    """ "location_requested" -> "adresse demandée au citoyen"; outbox results like "status_resolu_sent" too."""
    if action in EVENTS:
        return EVENTS[action]
    head, _, state = action.rpartition("_")
    if state in OUTBOX_STATES and head:
        kind = head.split(":")[0].split("_")[0]
        if head.startswith("ask_location"):
            kind = "ask_location"
        return f"{OUTBOX_KINDS.get(kind, head)} : {OUTBOX_STATES[state]}"
    return action.replace("_", " ")
