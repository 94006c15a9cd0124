"""SQLAlchemy models: raw messages as received, reports, their messages, attachments, events, outbox."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from intake.vocab import ChannelName, OutboxStatus, RawStatus, ReportStatus, sql_in

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Timezone-aware now, the only clock models use."""
    return datetime.now(UTC)


def new_public_id() -> str:
    """An unguessable identifier of a report for anonymous public lookups (Open311 `service_request_id`)."""
    return secrets.token_urlsafe(12)


def as_utc(moment: datetime) -> datetime:
    """A moment as aware UTC; a naive one is UTC (what SQLite keeps, and what raw SQL hands back)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and read back aware, whatever the database (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Aware moments are written in UTC (SQLite would drop any other offset silently)."""
        if value is None:
            return None
        return as_utc(value).replace(tzinfo=None) if dialect.name == "sqlite" else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Always aware UTC."""
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class RawMessage(Base):
    """Exactly what arrived, persisted before anything else; the pipeline can replay it at any time."""

    __tablename__ = "raw_message"
    # The same message is the same key with the same content: a Message-ID or SID reused for other content
    # (a contact-form relay, a broken mailer) is another row, flagged key_collision (intake/pipeline/rawstore.py).
    __table_args__ = (
        UniqueConstraint("channel", "source", "external_key", "content_key", name="uq_raw_message_key"),
        Index("ix_raw_message_door_received", "channel", "source", "received_at"),
        Index("ix_raw_message_processed", "processed_at", "received_at"),  # /metrics' histogram
        CheckConstraint(sql_in("status", RawStatus), name="status_known"),
        CheckConstraint(sql_in("channel", ChannelName), name="channel_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))  # email, sms, open311, staff
    source: Mapped[str] = mapped_column(String(80))  # mailbox name, phone number, api key name
    external_key: Mapped[str] = mapped_column(String(255))  # Message-ID, else sha256 of the bytes
    # sha256 of what identifies the content (intake/pipeline/content_keys.py); NULL for rows stored before
    # revision 0007, computed from their payload when their key is seen again.
    content_key: Mapped[str | None] = mapped_column(String(64))
    key_collision: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    imap_uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    imap_uid: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the payload was deleted (retention or a citizen's erasure): the row and its keys stay, so that the
    # same message fetched again is recognised and not filed twice, but the bytes are gone (payload empty).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MailboxState(Base):
    """Per-mailbox IMAP cursor and health."""

    __tablename__ = "mailbox_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class ChannelState(Base):
    """Cursor and health of a polled channel other than IMAP (the Twilio inbound poll)."""

    __tablename__ = "channel_state"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(String(200))
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class Contact(Base):
    """A citizen reachable by email and/or phone."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    opt_out: Mapped[bool] = mapped_column(Boolean, default=False)  # SMS: STOP received, or refused by Twilio
    opt_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # identity erased (RGPD)


class TrackingCounter(Base):
    """Yearly sequence behind tracking numbers AAAA-NNNNN."""

    __tablename__ = "tracking_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Report(Base):
    """One problem in public space, whatever the number of messages about it."""

    __tablename__ = "report"
    __table_args__ = (
        # The queue's counts per status over main reports (duplicates folded) without reading the table.
        Index(
            "ix_report_main_status",
            "status",
            sqlite_where=text("duplicate_of_id IS NULL"),
            postgresql_where=text("duplicate_of_id IS NULL"),
        ),
        # Duplicate detection's candidates (same category, main reports, a latitude band) without reading every
        # report of the category: filing stays flat as the table grows.
        Index(
            "ix_report_dedupe",
            "category",
            "lat",
            sqlite_where=text("duplicate_of_id IS NULL"),
            postgresql_where=text("duplicate_of_id IS NULL"),
        ),
        CheckConstraint(sql_in("status", ReportStatus), name="status_known"),
        CheckConstraint(sql_in("channel", ChannelName), name="channel_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tracking_number: Mapped[str] = mapped_column(String(16), unique=True)
    public_token: Mapped[str] = mapped_column(String(64), unique=True)  # the citizen's /suivi link: a secret
    # What anonymous public outputs (Open311) name a report by: unguessable, so the history cannot be listed
    # by counting tracking numbers; unlike public_token it opens nothing but the public record.
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    channel: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(40), index=True)
    service: Mapped[str | None] = mapped_column(String(40), index=True)
    zone: Mapped[str | None] = mapped_column(String(60), index=True)  # routing zone the position falls in
    status: Mapped[str] = mapped_column(String(20), default="nouveau", index=True)
    status_reason: Mapped[str | None] = mapped_column(String(60))  # rejection reason code
    location_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # asked once
    author_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"))
    forwarded_by_name: Mapped[str | None] = mapped_column(String(200))
    forwarded_by_email: Mapped[str | None] = mapped_column(String(320))
    citizen_recovered: Mapped[bool] = mapped_column(Boolean, default=True)
    category_source: Mapped[str] = mapped_column(String(10), default="model")  # model|agent|app
    review_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)  # why it is "à qualifier"
    address_label: Mapped[str | None] = mapped_column(String(300))
    address_numero: Mapped[str | None] = mapped_column(String(10))
    address_rep: Mapped[str | None] = mapped_column(String(10))
    address_voie: Mapped[str | None] = mapped_column(String(200))
    address_postcode: Mapped[str | None] = mapped_column(String(5))
    address_citycode: Mapped[str | None] = mapped_column(String(5))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    location_source: Mapped[str] = mapped_column(String(10), default="none")  # exif|text|pin|none
    confidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    # Names, contacts and the citizens' words erased (retention or erasure); category, place, status stay.
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    author: Mapped[Contact | None] = relationship()
    messages: Mapped[list[ReportMessage]] = relationship(
        back_populates="report", order_by="ReportMessage.id", foreign_keys="ReportMessage.report_id"
    )
    attachments: Mapped[list[Attachment]] = relationship(back_populates="report", order_by="Attachment.id")
    events: Mapped[list[Event]] = relationship(back_populates="report", order_by="Event.id")


class ReportMessage(Base):
    """A raw message understood and filed on a report (original, follow-up, duplicate, auto-reply)."""

    __tablename__ = "report_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id"), index=True)
    raw_message_id: Mapped[int] = mapped_column(ForeignKey("raw_message.id"), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="original")
    message_id: Mapped[str | None] = mapped_column(String(500), index=True)
    sender_name: Mapped[str | None] = mapped_column(String(200))
    sender_email: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    quoted: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    report: Mapped[Report] = relationship(back_populates="messages", foreign_keys=[report_id])
    raw: Mapped[RawMessage] = relationship()


class Attachment(Base):
    """A file received with a message, stored on disk by content hash."""

    __tablename__ = "attachment"
    __table_args__ = (UniqueConstraint("report_message_id", "sha256", name="uq_attachment_msg_sha"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id"), index=True)
    report_message_id: Mapped[int] = mapped_column(ForeignKey("report_message.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    is_image: Mapped[bool] = mapped_column(Boolean, default=False)
    served_sha256: Mapped[str | None] = mapped_column(String(64))
    thumb_sha256: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    orientation: Mapped[int | None] = mapped_column(Integer)
    gps_lat: Mapped[float | None] = mapped_column(Float)
    gps_lon: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)

    report: Mapped[Report] = relationship(back_populates="attachments")


class Event(Base):
    """Audit trail of a report: who did what, when."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(120), default="guichet")
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    report: Mapped[Report] = relationship(back_populates="events")


class Correction(Base):
    """An agent's correction of what the model proposed: training data for `guichet train`."""

    __tablename__ = "correction"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id"), index=True)
    field: Mapped[str] = mapped_column(String(20))  # category | address
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(500), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(20), default="email")
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Outbox(Base):
    """One notification to send, exactly once per (report, kind, recipient); digests have no report and are
    unique per (kind, recipient), their kind naming the service and the day."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("report_id", "kind", "recipient", name="uq_outbox_report_kind_recipient"),
        Index("ix_outbox_recipient_created", "recipient", "created_at"),
        Index(
            "uq_outbox_kind_recipient_no_report",
            "kind",
            "recipient",
            unique=True,
            sqlite_where=text("report_id IS NULL"),
            postgresql_where=text("report_id IS NULL"),
        ),
        CheckConstraint(sql_in("status", OutboxStatus), name="status_known"),
        CheckConstraint(sql_in("channel", ChannelName), name="channel_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"))
    kind: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10), default="email")
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(500), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(500))
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)  # Twilio MessageSid of an SMS sent
    provider_status: Mapped[str | None] = mapped_column(String(20))  # queued|sent|delivered|undelivered|failed
    # pending | sending | sent | failed | suppressed
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# The daily cap of confirmations compares recipients without case: without this index each new report read the
# whole outbox (a 20,000-message backlog spent most of its filing there).
Index("ix_outbox_lower_recipient_created", func.lower(Outbox.recipient), Outbox.created_at)


class User(Base):
    """A back-office account: reception (accueil), agent of one service, or administrator."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))  # accueil | agent | admin
    service: Mapped[str | None] = mapped_column(String(40))  # an agent's service
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UserSession(Base):
    """A back-office sign-in, checked on every request: signing out or a new password revokes it, and it ends
    `web.session_hours` after the sign-in whatever the activity (the cookie only names it)."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the token in the cookie
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(45))


class RateCounter(Base):
    """Hits of one key (a client address, an api key, a sign-in source) in its current window, counted by one
    atomic statement so that parallel requests are never counted as one."""

    __tablename__ = "rate_counter"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)


class AuditLog(Base):
    """Who viewed or changed what in the back office, when, from where."""

    __tablename__ = "audit_log"
    # The last retention purge, read by every worker's upkeep and the health page, without scanning the log.
    __table_args__ = (Index("ix_audit_log_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    username: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(80))
    method: Mapped[str] = mapped_column(String(8), default="GET")
    path: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[int] = mapped_column(Integer, default=200)
    report_id: Mapped[int | None] = mapped_column(Integer, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))
