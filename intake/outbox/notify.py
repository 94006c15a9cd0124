"""Email notifications: render them from the town's templates (French) and send them by SMTP, exactly once."""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from functools import lru_cache
from typing import Any, Protocol

from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Config, Smtp
from intake.models import Outbox, Report, utcnow
from intake.outbox.rows import claim_outbox, record_outcome

log = logging.getLogger(__name__)
_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
SUMMARY_CHARS = 600
STAFF_KINDS = ("referent:", "digest:")  # outbox kinds of mail to the town's staff; every other mail is a citizen's


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


def warm_templates(config: Config) -> int:
    """Compile every template of the town once (a worker does it before forking: each rq job runs in a fresh
    horse, which would otherwise compile the confirmation's templates again); the number compiled."""
    sources: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            sources.append(value)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(config.templates)
    for source in dict.fromkeys(sources):
        try:
            template(source)
        except Exception as exc:  # a template the configuration check let through fails where it is used, as before
            log.warning("template not compiled in advance: %s", exc)
    return len(sources)


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
        "privacy_url": config.privacy_url(),
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
    reply_to = config.reply_address
    if reply_to and not row.kind.startswith(STAFF_KINDS):  # the citizen's answer must reach a mailbox we read
        msg["Reply-To"] = formataddr((config.smtp.from_name, reply_to))
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


def send_email_row(factory: sessionmaker[Session], config: Config, outbox_id: int, mailer: Mailer) -> str:
    """Send one email outbox row through `mailer` if still pending; return its final status. Transient errors are
    re-raised (the row is pending again, or failed once worker.max_attempts tries were made)."""
    claimed = claim_outbox(factory, outbox_id)
    with factory() as session:  # read, then no connection is held during the SMTP exchange
        row = session.get(Outbox, outbox_id)
        if row is None:
            return "missing"
        if not claimed:
            return row.status
        message = build_email(config, row)
        if row.kind.startswith("referent:"):
            from intake.outbox.workorder import with_workorder

            message = with_workorder(session, config, row.report_id, row.kind, message)
        attempts = row.attempts
    try:
        mailer.send(message)
    except PermanentSendError as exc:
        record_outcome(factory, outbox_id, "failed", str(exc))
        return "failed"
    except (OSError, smtplib.SMTPException) as exc:
        if attempts >= config.worker.max_attempts:
            record_outcome(factory, outbox_id, "failed", f"abandonné après {attempts} essais : {exc}"[:2000])
        else:
            record_outcome(factory, outbox_id, "pending", f"envoi à réessayer : {exc}"[:2000])
        raise
    record_outcome(factory, outbox_id, "sent", None)
    return "sent"
