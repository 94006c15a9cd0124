"""Twilio failures sorted into transient (retry later) and permanent (never retry), keeping Twilio's error code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

# Codes the outbox acts on; the labels are for the back office, in French.
OPTED_OUT = 21610
ERROR_LABELS: dict[int, str] = {
    20003: "identifiants Twilio refusés (account_sid / auth_token)",
    20404: "ressource Twilio introuvable",
    21211: "numéro de destinataire invalide",
    21408: "envoi vers cette région non autorisé sur le compte Twilio",
    21610: "le destinataire a répondu STOP (désinscrit chez Twilio)",
    21612: "ce numéro ne peut pas recevoir de SMS depuis le numéro de la mairie",
    21614: "ce numéro n'est pas un mobile : SMS impossible",
}


class TwilioError(Exception):
    """A Twilio call failed; `status` is the HTTP status (None for network errors), `code` Twilio's error code."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    @property
    def label(self) -> str:
        """A French explanation of the error code, or the raw message."""
        return ERROR_LABELS.get(self.code or 0, self.message)


class TwilioTransient(TwilioError):
    """Worth retrying later: rate limited (429), Twilio unavailable (5xx), network trouble."""


class TwilioPermanent(TwilioError):
    """Retrying will not help (4xx): opted-out recipient, invalid number, region not permitted, bad credentials."""

    @property
    def opted_out(self) -> bool:
        """True when the recipient sent STOP (21610): the contact must be marked opted out."""
        return self.code == OPTED_OUT


class MediaRefused(TwilioPermanent):
    """A media file was refused before or while downloading it (type not accepted, host not Twilio)."""


class MediaTooLarge(MediaRefused):
    """A media file exceeds `twilio.media_max_mb`; the download stopped early."""


def classify(status: int | None, message: str, *, code: int | None = None) -> TwilioError:
    """The exception matching an HTTP status: 429/5xx/no status are transient, other 4xx permanent."""
    if status is None or status == 429 or status >= 500:
        return TwilioTransient(message, status=status, code=code)
    return TwilioPermanent(message, status=status, code=code)


def _error_body(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def translate(exc: BaseException) -> TwilioError | None:
    """Our exception for a twilio/requests exception, or None when it is not a Twilio or network failure."""
    if isinstance(exc, TwilioError):
        return exc
    if isinstance(exc, TwilioRestException):
        code = exc.code if isinstance(exc.code, int) and exc.code != exc.status else None
        return classify(exc.status, f"Twilio {exc.status} {exc.method} {exc.uri}: {exc.msg}", code=code)
    if isinstance(exc, TwilioException) and len(exc.args) > 1 and hasattr(exc.args[1], "status_code"):
        # Listing pages raises a bare TwilioException carrying the response.
        response = exc.args[1]
        body = _error_body(getattr(response, "text", "") or "")
        code = body.get("code") if isinstance(body.get("code"), int) else None
        return classify(
            int(response.status_code), f"Twilio {response.status_code}: {body.get('message', exc.args[0])}", code=code
        )
    if isinstance(exc, requests.RequestException):
        return TwilioTransient(f"Twilio injoignable : {exc}")
    return None


@contextmanager
def twilio_errors() -> Iterator[None]:
    """Re-raise Twilio and network failures inside the block as TwilioTransient or TwilioPermanent."""
    try:
        yield
    except Exception as exc:
        mapped = translate(exc)
        if mapped is None or mapped is exc:
            raise
        raise mapped from exc
