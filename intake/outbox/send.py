"""Send one outbox row, whatever its channel: the entry point of jobs, sweeps, commands and the back office."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config
from intake.models import Outbox
from intake.outbox.notifiers import Notifier, build_notifiers
from intake.outbox.notify import Mailer


def send_outbox_row(
    factory: sessionmaker[Session],
    config: Config,
    outbox_id: int,
    mailer: Mailer,
    *,
    notifiers: Mapping[str, Notifier] | None = None,
) -> str:
    """Send one outbox row if still pending through its channel's notifier; return its final status ("missing"
    for an unknown row). Transient errors are re-raised (the row is pending again, or failed once
    worker.max_attempts tries were made). `notifiers` defaults to those config.yaml chooses, `mailer` for email."""
    with factory() as session:
        channel = session.execute(select(Outbox.channel).where(Outbox.id == outbox_id)).scalar_one_or_none()
    if channel is None:
        return "missing"
    chosen = notifiers if notifiers is not None else build_notifiers(config, mailer)
    notifier = chosen.get(channel)
    if notifier is None:
        raise ValueError(f"outbox {outbox_id}: no notifier for channel {channel!r}")
    return notifier.send(factory, config, outbox_id)
