"""Send one SMS/WhatsApp outbox row through Twilio, exactly once, within the town's rules and rate."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioRestException

from intake.config import Config, Twilio
from intake.gsm import fit_segments
from intake.models import Contact, Event, Outbox, utcnow
from intake.outbox.rows import claim_outbox
from intake.outbox.sms_rules import WHATSAPP, RateLimiter, bare_number, check_destination
from intake.outbox.twilio_errors import ERROR_LABELS, OPTED_OUT, TwilioPermanent, TwilioTransient
from intake.outbox.twilio_errors import classify as classify_status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """How a failed send is treated: retried later (transient) or given up (permanent, with its code)."""

    transient: bool
    reason: str
    code: int | None = None


def classify(exc: BaseException) -> Failure:
    """Sort a Twilio or network error with the one taxonomy of outbox/twilio_errors.py."""
    if isinstance(exc, TwilioRestException):
        exc = classify_status(int(exc.status or 0) or None, str(exc.msg), code=exc.code)
    if isinstance(exc, TwilioPermanent):
        text = ERROR_LABELS.get(exc.code or 0, f"refusé par Twilio (HTTP {exc.status})")
        return Failure(False, f"Twilio {exc.code or exc.status} : {text}", exc.code)
    if isinstance(exc, TwilioTransient):
        return Failure(True, f"Twilio indisponible (HTTP {exc.status}), nouvel essai plus tard")
    # Network errors (requests' exceptions are OSErrors) and anything unforeseen: retry, never lose it.
    return Failure(True, f"envoi à réessayer : {type(exc).__name__}: {exc}")


def sender_number(settings: Twilio, *, channel: str) -> str | None:
    """The town's number to send from, with the "whatsapp:" prefix for WhatsApp rows."""
    if channel == "whatsapp":
        number = settings.whatsapp_number or (settings.numbers[0] if settings.numbers else None)
        return WHATSAPP + bare_number(number) if number else None
    return settings.numbers[0] if settings.numbers else None


def _finish(session: Session, row: Outbox, status: str, reason: str | None) -> str:
    row.status, row.reason = status, reason
    session.add(
        Event(
            report_id=row.report_id,
            action=f"{row.kind}_{status}"[:40],
            detail={"recipient": row.recipient, "outbox_id": row.id, "reason": reason},
        )
    )
    session.commit()
    return status


def _opt_out(session: Session, number: str) -> None:
    contact = session.execute(select(Contact).where(Contact.phone == number)).scalar_one_or_none()
    if contact is None:
        contact = Contact(phone=number)
        session.add(contact)
    contact.opt_out, contact.opt_out_at = True, utcnow()


def send_sms_row(
    factory: sessionmaker[Session], config: Config, row_id: int, *, client: Any, limiter: RateLimiter
) -> str:
    """Send one SMS/WhatsApp outbox row if still pending; return its status. Transient errors are re-raised."""
    settings = config.twilio
    claimed = claim_outbox(factory, row_id)
    with factory() as session:
        row = session.get(Outbox, row_id)
        if row is None:
            return "missing"
        if not claimed:
            return row.status
        refusal = check_destination(
            row.recipient, settings, session=session, kind=row.kind, region=config.town.phone_region
        )
        if refusal:
            return _finish(session, row, "suppressed", refusal)
        from_ = sender_number(settings, channel=row.channel)
        if from_ is None:
            return _finish(session, row, "failed", "aucun numéro Twilio configuré (twilio.numbers)")
        number = bare_number(row.recipient)
        params: dict[str, Any] = {
            "to": WHATSAPP + number if row.channel == "whatsapp" else number,
            "from_": from_,
            "body": fit_segments(row.body, settings.outbound.max_segments),
        }
        if settings.public_base_url:
            params["status_callback"] = settings.public_base_url.rstrip("/") + "/twilio/status"
        session.commit()  # no transaction stays open during the network call
    limiter.wait(bare_number(from_))
    try:
        message = client.messages.create(**params)
    except Exception as exc:
        failure = classify(exc)
        with factory() as session:
            row = session.get(Outbox, row_id)
            assert row is not None
            if failure.transient:
                row.status, row.reason = "pending", failure.reason
                session.commit()
                raise
            if failure.code == OPTED_OUT:
                _opt_out(session, number)
            return _finish(session, row, "failed", failure.reason)
    with factory() as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        row.provider_id, row.provider_status, row.sent_at = str(message.sid), "queued", utcnow()
        return _finish(session, row, "sent", None)


_BUILT: dict[str, tuple[Any, Any]] = {}


def build_client(config: Config) -> Any:
    """The Twilio client of this process, made once by intake.outbox.twilio_client.make_client."""
    key = f"client:{id(config.twilio)}"
    if key not in _BUILT:
        try:
            from intake.outbox.twilio_client import make_client
        except ModuleNotFoundError as exc:
            if exc.name != "intake.outbox.twilio_client":
                raise
            raise RuntimeError(
                "SMS/WhatsApp sending needs intake/channels/twilio_client.py (make_client), which is missing"
            ) from exc
        _BUILT[key] = (config.twilio, make_client(config.twilio))  # keeps the settings alive: id stays unique
    return _BUILT[key][1]


def build_limiter(config: Config) -> RateLimiter:
    """The rate limiter of this process: shared through Redis when redis_url is set, else in process."""
    key = f"limiter:{id(config)}"
    if key not in _BUILT:
        redis = None
        if config.redis_url:
            from intake.runtime.queue import redis_connection

            redis = redis_connection(config)
        _BUILT[key] = (config, RateLimiter(redis, config.twilio.outbound.per_second))
    limiter: RateLimiter = _BUILT[key][1]
    return limiter


def send_text_row(factory: sessionmaker[Session], config: Config, row_id: int) -> str:
    """Send an SMS/WhatsApp row with this process's client and limiter (the outbox dispatch entry point)."""
    return send_sms_row(factory, config, row_id, client=build_client(config), limiter=build_limiter(config))


def record_status_callback(
    session: Session, sid: str, status: str, *, phone: str = "", opted_out: bool = False
) -> None:
    """What Twilio's status callback says of an SMS we sent: its delivery status on the outbox row of `sid`, and,
    when the recipient `phone` had opted out (error 21610, they answered STOP), their contact marked so (a contact
    is never created here: only a known citizen is marked)."""
    if sid and status:
        session.execute(update(Outbox).where(Outbox.provider_id == sid).values(provider_status=status[:20]))
    if opted_out and phone:
        contact = session.execute(select(Contact).where(Contact.phone == phone)).scalar_one_or_none()
        if contact is not None and not contact.opt_out:
            contact.opt_out, contact.opt_out_at = True, utcnow()
