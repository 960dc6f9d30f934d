"""The data model: one module while it stays readable (DESIGN 5).

All times are stored as naive UTC and handed back as aware UTC datetimes (`UTCDateTime`), so SQLite and
PostgreSQL behave the same and no code ever compares naive with aware times.
"""

import secrets
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from . import settings
from .extensions import db

ROLES = ("admin", "therapist", "client")
PHASES = ("before", "after")
VISIBILITIES = ("named", "anonymous")
REMINDER_KINDS = ("before", "after", "nudge")
REMINDER_STATUSES = ("pending", "sending", "sent", "skipped", "failed", "cancelled")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_user_handle() -> bytes:
    """64 random bytes: a WebAuthn user.id that carries no personal data."""
    return secrets.token_bytes(64)


class UTCDateTime(TypeDecorator):
    """Store naive UTC, return aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _setting(name: str):
    return mapped_column(Integer, default=settings.default(name))


class Practice(db.Model):
    """A practice and its settings; every default and bound comes from `settings.PRACTICE`."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    locale: Mapped[str] = mapped_column(String(16), default=settings.DEFAULT_LOCALE)
    # Alert thresholds (DESIGN 3).
    low_threshold: Mapped[int] = _setting("low_threshold")
    drop_threshold: Mapped[int] = _setting("drop_threshold")
    mean_drop_threshold: Mapped[int] = _setting("mean_drop_threshold")
    prepost_drop_threshold: Mapped[int] = _setting("prepost_drop_threshold")
    # Anonymity threshold k (DESIGN 4).
    k_anonymity: Mapped[int] = _setting("k_anonymity")
    # Reminder defaults (DESIGN 2); quiet hours are minutes after local midnight.
    before_reminder_minutes: Mapped[int] = _setting("before_reminder_minutes")
    after_reminder_minutes: Mapped[int] = _setting("after_reminder_minutes")
    nudge_hours: Mapped[int] = _setting("nudge_hours")
    quiet_start_minute: Mapped[int] = _setting("quiet_start_minute")
    quiet_end_minute: Mapped[int] = _setting("quiet_end_minute")
    # How long a passkey added through a staff member's recovery link may not change the account
    # (DESIGN 4b). A change applies to recoveries started a day later (settings.hold_hours): until
    # then the value in force before it, kept here, still holds.
    recovery_hold_hours: Mapped[int] = _setting("recovery_hold_hours")
    recovery_hold_previous_hours: Mapped[int | None] = mapped_column(Integer)
    recovery_hold_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = tuple(
        CheckConstraint(s.check, name=f"{s.name}_range") for s in settings.PRACTICE
    )

    @validates("recovery_hold_hours")
    def _hold_changed(self, _key, hours):
        """Keep the hold in force before a change, whoever changes it (admin form, CLI, demo)."""
        if self.recovery_hold_hours is not None and hours != self.recovery_hold_hours:
            now = utcnow()
            self.recovery_hold_previous_hours = settings.hold_hours(
                self.recovery_hold_hours,
                self.recovery_hold_previous_hours,
                self.recovery_hold_changed_at,
                at=now,
            )
            self.recovery_hold_changed_at = now
        return hours


class User(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(80))
    webauthn_user_id: Mapped[bytes] = mapped_column(
        LargeBinary(64), unique=True, default=new_user_handle
    )
    locale: Mapped[str | None] = mapped_column(String(16))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    remind_before: Mapped[bool] = mapped_column(Boolean, default=True)
    remind_after: Mapped[bool] = mapped_column(Boolean, default=True)
    remind_nudge: Mapped[bool] = mapped_column(Boolean, default=True)
    # The client's own last choice on a device (turned reminders on / off). The dispatcher never writes
    # it, so what a therapist sees does not depend on which reminders went out (DESIGN 4).
    push_chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    quiet_start_minute: Mapped[int | None] = mapped_column(Integer)
    quiet_end_minute: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the client answered the one offer of a recovery code after their first check-in.
    recovery_code_offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    practice: Mapped[Practice] = relationship()
    credentials: Mapped[list["Credential"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Credential.id"
    )

    __table_args__ = (
        CheckConstraint("role IN ('admin', 'therapist', 'client')", name="role"),
        # The admin page's therapists (and admin.staff): one practice's staff among every client.
        Index("ix_user_practice_role", "practice_id", "role"),
    )

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "therapist")


class Credential(db.Model):
    """A passkey. The credential id is unique across all users (WebAuthn registration step 22)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[str] = mapped_column(String(200), default="")
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    device_type: Mapped[str] = mapped_column(String(32), default="")
    nickname: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Added through a staff member's recovery link (app/auth/recovery.py): it sees nothing recorded
    # before `sees_from` (also when added from a session that did) until an older passkey or the
    # client's recovery code unlocks it, and may not change the account until `hold_until`.
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sees_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="credentials")


class Invite(db.Model):
    """A single-use, expiring invitation; only the token's SHA-256 is stored."""

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    therapist_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    # Set when re-inviting an existing user who lost their device: redeeming adds a passkey.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    practice: Mapped[Practice] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    therapist: Mapped[User | None] = relationship(foreign_keys=[therapist_id])
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])

    __table_args__ = (CheckConstraint("role IN ('admin', 'therapist', 'client')", name="role"),)


class CareLink(db.Model):
    """A therapist looks after a client from `started_at` until `ended_at`."""

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    therapist: Mapped[User] = relationship(foreign_keys=[therapist_id])
    client: Mapped[User] = relationship(foreign_keys=[client_id])

    __table_args__ = (UniqueConstraint("therapist_id", "client_id"),)


class UserSession(db.Model):
    """One row per sign-in; the signed cookie carries a token whose hash is stored here."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reauthenticated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    # The passkey that started (or last re-confirmed) this session: its recovery hold applies here.
    credential_id: Mapped[int | None] = mapped_column(
        ForeignKey("credential.id", ondelete="SET NULL")
    )
    # That passkey's `sees_from`, copied when it starts or re-confirms the session: the session row
    # alone (read on every request) tells whether the recovery gate applies (app/auth/gate.py).
    sees_from: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
    credential: Mapped["Credential | None"] = relationship()


class WebAuthnChallenge(db.Model):
    """A server-side ceremony challenge: single use, five-minute expiry (DESIGN 4b)."""

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    challenge: Mapped[bytes] = mapped_column(LargeBinary(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invite.id", ondelete="CASCADE"))
    # For a new account, the random user handle promised to the authenticator in the options.
    user_handle: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    # A passkey made with a recovery code: the code it was asked with, spent when the passkey is stored.
    recovery_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("recovery_code.id", ondelete="CASCADE")
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RecoveryCode(db.Model):
    """A code the person saved to get back in without anyone's help (DESIGN 4b, SECURITY 29): single use,
    the secret part stored only as an Argon2 hash, found by its public `lookup` part. It unlocks what
    its maker could see: everything, or from `sees_from` on when made from a locked session."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    lookup: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    sees_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Appointment(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=50)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    series_id: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    therapist: Mapped[User] = relationship(foreign_keys=[therapist_id])
    client: Mapped[User] = relationship(foreign_keys=[client_id])

    __table_args__ = (
        CheckConstraint("duration_minutes BETWEEN 5 AND 600", name="duration_range"),
        CheckConstraint("status IN ('scheduled', 'cancelled')", name="status"),
        # With the status, the dashboard's weekly response rates read only this index.
        Index("ix_appointment_therapist_starts", "therapist_id", "starts_at", "status"),
        Index("ix_appointment_client_starts", "client_id", "starts_at"),
    )


class CheckIn(db.Model):
    """A client's before/after answer. Anonymous ones keep `client_id` only for k-counting and erasure."""

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    therapist_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointment.id", ondelete="SET NULL")
    )
    phase: Mapped[str] = mapped_column(String(8))
    safe: Mapped[int] = mapped_column(Integer)
    heard: Mapped[int] = mapped_column(Integer)
    understood: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(12), default="named")
    idempotency_key: Mapped[str] = mapped_column(String(64))
    body_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    appointment: Mapped[Appointment | None] = relationship()

    __table_args__ = (
        UniqueConstraint("client_id", "idempotency_key"),
        UniqueConstraint("appointment_id", "phase", name="uq_check_in_appointment_phase"),
        CheckConstraint("safe BETWEEN 0 AND 10", name="safe_range"),
        CheckConstraint("heard BETWEEN 0 AND 10", name="heard_range"),
        CheckConstraint("understood BETWEEN 0 AND 10", name="understood_range"),
        CheckConstraint("phase IN ('before', 'after')", name="phase"),
        CheckConstraint("visibility IN ('named', 'anonymous')", name="visibility"),
        # Covering index for the dashboard's weekly aggregates (perf-notes: 0.2 ms over 1M rows); the
        # appointment lets the weekly means join each after to its before without reading the row.
        Index(
            "ix_check_in_therapist_time",
            "therapist_id",
            "created_at",
            "phase",
            "visibility",
            "client_id",
            "safe",
            "heard",
            "understood",
            "appointment_id",
        ),
        # The dashboard's joins from an appointment (or an after) to its named check-ins, answered from
        # the index alone: ~1,000 afters and ~1,250 appointments of 12 weeks each read a row otherwise.
        Index(
            "ix_check_in_appointment_named",
            "appointment_id",
            "phase",
            "visibility",
            "therapist_id",
            "created_at",
            "safe",
            "heard",
            "understood",
        ),
        Index("ix_check_in_client_time", "client_id", "created_at"),
    )

    @property
    def total(self) -> int:
        return self.safe + self.heard + self.understood


class PublishedPeriod(db.Model):
    """A closed calendar month or quarter whose anonymous cells were decided, once (DESIGN 4: nothing shown
    may change by one person). The row exists even when no cell of the period could be shown, so a period
    is never reconsidered with later data, a later k, or after an erasure."""

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practice.id", ondelete="CASCADE"))
    audience: Mapped[str] = mapped_column(String(12))  # "anonymous" (therapists) or "all" (admins)
    kind: Mapped[str] = mapped_column(String(1))  # "m" or "q"
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    k: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint(
            "practice_id", "audience", "kind", "starts_at", name="uq_published_period"
        ),
    )


class PublishedCell(db.Model):
    """One shown k-anonymous cell of a published period, written once and never updated. Exact sums are
    kept (pages show means to one decimal and counts rounded down to 5) so a later period's cells can be
    checked against it. No foreign key to users: it is anonymous data, and erasing an account leaves it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("published_period.id", ondelete="CASCADE"))
    therapist_id: Mapped[int | None] = mapped_column(Integer)  # None: the whole practice
    clients: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)
    safe: Mapped[int] = mapped_column(Integer)  # sums
    heard: Mapped[int] = mapped_column(Integer)
    understood: Mapped[int] = mapped_column(Integer)

    # A therapist's render reads, per period of the window, the practice's cell and their own: two
    # probes of this index rather than a scan of every therapist's cells (200 a period at issue 12's size).
    __table_args__ = (Index("ix_published_cell_period_therapist", "period_id", "therapist_id"),)


class PublishedComment(db.Model):
    """An anonymous comment published with its therapist's month cell, in a shuffled batch."""

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(
        ForeignKey("published_period.id", ondelete="CASCADE"), index=True
    )
    therapist_id: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)


class Alert(db.Model):
    """A 'needs attention' signal for one named after-check-in (or a missing one)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    check_in_id: Mapped[int | None] = mapped_column(
        ForeignKey("check_in.id", ondelete="CASCADE"), index=True
    )
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointment.id", ondelete="CASCADE")
    )
    rule: Mapped[str] = mapped_column(String(32))
    # What the rule saw, as JSON (`alerts.rules.Finding.facts`): the answer, its baseline, the items that fired.
    facts: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )

    __table_args__ = (
        UniqueConstraint("check_in_id", "rule", name="uq_alert_check_in_rule"),
        UniqueConstraint("appointment_id", "rule", name="uq_alert_appointment_rule"),
        Index("ix_alert_therapist_created", "therapist_id", "created_at"),
    )


class PushSubscription(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    vapid_key_id: Mapped[str] = mapped_column(String(16), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(300), default="")  # why the last push failed


class Reminder(db.Model):
    """An outbox row: written in the same transaction as its appointment (DESIGN 2)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_to: Mapped[str] = mapped_column(Text, default="")
    last_error: Mapped[str] = mapped_column(String(300), default="")

    appointment: Mapped[Appointment] = relationship()

    __table_args__ = (
        UniqueConstraint("appointment_id", "kind", name="uq_reminder_appointment_kind"),
        CheckConstraint("kind IN ('before', 'after', 'nudge')", name="kind"),
        Index("ix_reminder_due", "status", "next_attempt_at"),
    )


class AuditEvent(db.Model):
    """Append-only record of reads of named data and of exports (HIPAA 164.312(b))."""

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    practice_id: Mapped[int | None] = mapped_column(ForeignKey("practice.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str] = mapped_column(String(20), default="")
    target_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete an audit row."""


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_audit_change(mapper, connection, target):
    raise AppendOnlyError("audit events are append-only")
