"""Outbox: render French notifications from the town's templates and send them by SMTP, exactly once."""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
import uuid
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from functools import lru_cache
from typing import Any, Protocol

from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config, Smtp
from intake.models import Event, Outbox, Report, utcnow

log = logging.getLogger(__name__)
_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
SUMMARY_CHARS = 600


class PermanentSendError(Exception):
    """The message can never be delivered as is (refused recipient); not retried."""


def make_message_id(domain: str) -> str:
    """A Message-ID of our own domain, without angle brackets."""
    return f"{uuid.uuid4().hex}@{domain}"


def _summary(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1].rstrip() + "…"


@lru_cache(maxsize=64)
def template(source: str) -> Any:
    """A town template compiled once (sandboxed Jinja2): compiling per message was the costly part."""
    return _ENV.from_string(source)


def render_sms(config: Config, source: str, *, report: Report | None = None) -> str:
    """Render an SMS template (tracking_number, town, status_url) on one line."""
    values: dict[str, Any] = {"town": config.town.name}
    if report is not None:
        values["tracking_number"] = report.tracking_number
        values["status_url"] = config.status_url(report.public_token)
    return " ".join(template(source).render(values).split())


def render_confirmation(config: Config, *, report: Report, parsed: Any) -> tuple[str, str]:
    """Render the confirmation subject and body for a new report."""
    received = report.created_at or utcnow()
    values = {
        "tracking_number": report.tracking_number,
        "town": config.town.name,
        "subject": parsed.subject or "(sans objet)",
        "summary": _summary(parsed.text),
        "received_at": config.town.local(received).strftime("%d/%m/%Y à %H:%M"),
        "attachments": [a.filename for a in parsed.attachments],
        "status_url": config.status_url(report.public_token),
    }
    subject = template(config.templates.confirmation_subject).render(values)
    body = template(config.templates.confirmation_body).render(values)
    return " ".join(subject.split())[:500], body


def build_email(config: Config, row: Outbox) -> Message:
    """The MIME message of an outbox row, marked as automatic so that no robot answers it."""
    # compat32 + Header on purpose: the modern policy's folder drops the space between two encoded
    # words ("été reçu" arrives as "étéreçu" in mail clients).
    charset = Charset("utf-8")
    charset.body_encoding = QP
    msg = MIMEText(row.body, "plain", charset)  # type: ignore[arg-type]
    msg["From"] = formataddr((config.smtp.from_name, config.smtp.from_address))  # encodes a non-ASCII name
    msg["To"] = row.recipient
    msg["Subject"] = Header(row.subject, "utf-8")  # type: ignore[assignment]
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = f"<{row.message_id}>"
    if row.in_reply_to:
        msg["In-Reply-To"] = f"<{row.in_reply_to}>"
        msg["References"] = f"<{row.in_reply_to}>"
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Precedence"] = "auto_reply"
    return msg


class Mailer(Protocol):
    """Sends one email message."""

    def send(self, message: Message) -> None: ...


class SmtpMailer:
    """Real SMTP delivery (plain, STARTTLS or implicit TLS)."""

    def __init__(self, settings: Smtp) -> None:
        self.settings = settings
        self._context: ssl.SSLContext | None = None

    def send(self, message: Message) -> None:
        """Deliver through the configured SMTP server; refused recipients raise PermanentSendError."""
        s = self.settings
        if self._context is None:  # built once per mailer: loading the CA store was half the cost of a mail
            self._context = ssl.create_default_context()
        context = self._context
        client: smtplib.SMTP
        if s.tls:
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        with client:
            if s.starttls:
                client.starttls(context=context)
            password = s.password.reveal() if s.password else None
            if s.username and password:
                client.login(s.username, password)
            try:
                client.send_message(message)
            except smtplib.SMTPRecipientsRefused as exc:
                raise PermanentSendError(f"destinataire refusé : {exc.recipients}") from None


class ConsoleMailer:
    """Development only: log messages instead of sending them."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        """Keep and log the message."""
        self.sent.append(message)
        log.info("mail (console) to %s: %s", message["To"], message["Subject"])


def make_mailer(config: Config) -> Mailer:
    """The mailer chosen in config.yaml."""
    return SmtpMailer(config.smtp) if config.smtp.backend == "smtp" else ConsoleMailer()


# Outbox states: pending -> sending -> sent | failed (and suppressed for SMS refused by the town's rules).
# A transient failure puts the row back to pending until worker.max_attempts; the sweep then parks it as failed,
# where `guichet resend` or the health page's button put it back to pending. No state is a dead end.
RETRY_DELAYS = (60, 120, 600, 1800, 3600)  # seconds before the next try, by attempts already made
_MARK_TRIES = 8  # recording "sent" survives a database hiccup of about a minute (1 + 2 + 4 + ... seconds)


def retry_delay(attempts: int) -> int:
    """Seconds to wait after `attempts` tries before trying again."""
    return RETRY_DELAYS[min(max(attempts, 0), len(RETRY_DELAYS) - 1)]


def claim_outbox(factory: sessionmaker[Session], outbox_id: int) -> bool:
    """Atomically move a row from pending to sending; True for exactly one caller."""
    with factory() as session, session.begin():
        result = session.execute(
            update(Outbox)
            .where(Outbox.id == outbox_id, Outbox.status == "pending")
            .values(status="sending", attempts=Outbox.attempts + 1, claimed_at=utcnow())
        )
    return bool(getattr(result, "rowcount", 0))


def _record(factory: sessionmaker[Session], outbox_id: int, status: str, reason: str | None) -> None:
    """Record the outcome of a send, retrying through a database outage: the mail has left already, and a
    row left in `sending` would be sent a second time by the stale-claim sweep."""
    delay = 1.0
    for attempt in range(_MARK_TRIES):
        try:
            with factory() as session, session.begin():
                row = session.get(Outbox, outbox_id)
                if row is None:
                    return
                row.status, row.reason = status, reason
                if status == "sent":
                    row.sent_at = utcnow()
                if row.report_id is not None and status != "pending":  # a referents' digest belongs to no report
                    session.add(Event(report_id=row.report_id, action=f"{row.kind}_{status}",
                                      detail={"recipient": row.recipient, "outbox_id": row.id}))
            return
        except OperationalError as exc:
            if attempt == _MARK_TRIES - 1:
                raise
            log.warning("outbox %s: recording %s failed (%s), retrying in %.0f s", outbox_id, status, exc.orig, delay)
            time.sleep(delay)
            delay = min(delay * 2, 15.0)


def send_outbox_row(factory: sessionmaker[Session], config: Config, outbox_id: int, mailer: Mailer) -> str:
    """Send one outbox row if still pending; return its final status. Transient errors are re-raised
    (the row is pending again, or failed once worker.max_attempts tries were made)."""
    with factory() as session:
        channel = session.execute(select(Outbox.channel).where(Outbox.id == outbox_id)).scalar_one_or_none()
    if channel in ("sms", "whatsapp"):
        from intake.outbox.sms import send_text_row  # Twilio is loaded only where texts are sent

        return send_text_row(factory, config, outbox_id)
    claimed = claim_outbox(factory, outbox_id)
    with factory() as session:  # read, then no connection is held during the SMTP exchange
        row = session.get(Outbox, outbox_id)
        if row is None:
            return "missing"
        if not claimed:
            return row.status
        message = build_email(config, row)
        attempts = row.attempts
    try:
        mailer.send(message)
    except PermanentSendError as exc:
        _record(factory, outbox_id, "failed", str(exc))
        return "failed"
    except (OSError, smtplib.SMTPException) as exc:
        if attempts >= config.worker.max_attempts:
            _record(factory, outbox_id, "failed", f"abandonné après {attempts} essais : {exc}"[:2000])
        else:
            _record(factory, outbox_id, "pending", f"envoi à réessayer : {exc}"[:2000])
        raise
    _record(factory, outbox_id, "sent", None)
    return "sent"
