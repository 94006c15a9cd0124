"""The outbox sender: a batch of rows claimed in one statement, sent, and recorded in one transaction.

send_outbox_row costs four short transactions per mail (two of them commits); a burst of confirmations after a
backlog would cost as much database time as filing the reports. Here a batch of email rows is claimed with one
UPDATE ... RETURNING (pending -> sending, a try counted), their messages built from one read, sent one after the
other, and every outcome recorded in one transaction. The state machine is send_outbox_row's: a row the batch
could not record stays `sending` and the stale-claim sweep sends it again (a rare duplicate beats a loss).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from email.message import Message

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.models import Outbox, utcnow
from intake.outbox.notifiers import Notifier
from intake.outbox.notify import Mailer, PermanentSendError, build_email
from intake.outbox.rows import record_outcomes
from intake.outbox.send import send_outbox_row

log = logging.getLogger(__name__)


def send_outbox_rows(
    factory: sessionmaker[Session],
    config: Config,
    outbox_ids: list[int],
    mailer: Mailer,
    *,
    notifiers: Mapping[str, Notifier] | None = None,
) -> dict[int, str]:
    """Send these outbox rows if still pending; each row's final status (`pending: Error` for a transient failure,
    which the database sweep tries again when due). Emails go in one batch through `mailer`; texts (SMS,
    WhatsApp) one by one through their channel's notifier (`notifiers`, default: as config.yaml chooses)."""
    if not outbox_ids:
        return {}
    with factory() as session:
        channels = dict(session.execute(select(Outbox.id, Outbox.channel).where(Outbox.id.in_(outbox_ids))).all())
    done: dict[int, str] = {oid: "missing" for oid in outbox_ids if oid not in channels}
    emails = [oid for oid in outbox_ids if channels.get(oid) not in (None, "sms", "whatsapp")]
    for oid in outbox_ids:
        if channels.get(oid) in ("sms", "whatsapp"):
            done[oid] = _one(factory, config, oid, mailer, notifiers)
    messages = _claim(factory, config, emails)
    outcomes: dict[int, tuple[str, str | None]] = {}
    for oid, (message, attempts) in messages.items():
        try:
            mailer.send(message)
        except PermanentSendError as exc:
            outcomes[oid] = ("failed", str(exc))
        except Exception as exc:  # transient (SMTP away, a refused connection): tried again when due
            if attempts >= config.worker.max_attempts:
                outcomes[oid] = ("failed", f"abandonné après {attempts} essais : {exc}"[:2000])
            else:
                outcomes[oid] = ("pending", f"envoi à réessayer : {exc}"[:2000])
        else:
            outcomes[oid] = ("sent", None)
    record_outcomes(factory, outcomes)
    for oid in emails:
        if oid in outcomes:
            status, _ = outcomes[oid]
            done[oid] = status if status != "pending" else "pending: envoi à réessayer"
    if any(oid not in outcomes for oid in emails):  # not claimed now: sent already, or by someone else
        with factory() as session:
            done.update(
                {
                    oid: status
                    for oid, status in session.execute(
                        select(Outbox.id, Outbox.status).where(Outbox.id.in_([o for o in emails if o not in outcomes]))
                    )
                }
            )
    return done


def _one(
    factory: sessionmaker[Session],
    config: Config,
    outbox_id: int,
    mailer: Mailer,
    notifiers: Mapping[str, Notifier] | None,
) -> str:
    try:
        return send_outbox_row(factory, config, outbox_id, mailer, notifiers=notifiers)
    except Exception as exc:  # transient: the row is pending again (or failed once out of tries)
        log.warning("outbox %s not sent now (%s): the sweep tries again when due", outbox_id, exc)
        return f"pending: {type(exc).__name__}"


def _claim(factory: sessionmaker[Session], config: Config, ids: list[int]) -> dict[int, tuple[Message, int]]:
    """Move the pending rows among `ids` to `sending` in one statement; their messages and tries, in id order."""
    if not ids:
        return {}
    with factory() as session, session.begin():
        claimed = set(
            session.execute(
                update(Outbox)
                .where(Outbox.id.in_(ids), Outbox.status == "pending")
                .values(status="sending", attempts=Outbox.attempts + 1, claimed_at=utcnow())
                .returning(Outbox.id)
                .execution_options(synchronize_session=False)
            ).scalars()
        )
    if not claimed:
        return {}
    with factory() as session:  # read, then no connection is held during the SMTP exchanges
        rows = session.execute(select(Outbox).where(Outbox.id.in_(claimed)).order_by(Outbox.id)).scalars()
        return {row.id: (build_email(config, row), row.attempts) for row in rows}
