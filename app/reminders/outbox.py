"""The reminder outbox: rows written in the same transaction as their appointment (DESIGN 2).

Each appointment has at most one row per kind (before, after, nudge). Moving an appointment re-plans its rows,
cancelling it cancels them, and a kind the client turned off (or one quiet hours push past its deadline) is
kept as `skipped`, so the outbox always says why nothing went out.
"""

from datetime import datetime, timedelta

from sqlalchemy import select

from ..extensions import db
from ..models import Appointment, Reminder
from ..windows import AFTER_CLOSES, window
from .rules import KINDS, PHASE_OF, due_at, timing_for

# An appointment whose after window is still open can still get its nudge (a day covers the longest session).
LOOKBACK = AFTER_CLOSES + timedelta(days=1)
# A before reminder goes out up to a few hours before its window opens (long before_reminder_minutes).
STALE_SLACK = timedelta(hours=12)

OPEN = ("pending", "skipped", "cancelled")


def sync_appointment(appointment, *, now: datetime) -> None:
    """Create, move or cancel `appointment`'s reminders inside the caller's transaction.

    Call after any create, move or cancel of an appointment, before the caller commits.
    """
    db.session.flush()
    existing = {
        r.kind: r
        for r in db.session.scalars(
            select(Reminder).where(Reminder.appointment_id == appointment.id)
        )
    }
    timing = timing_for(appointment.client)
    for kind in KINDS:
        row = existing.get(kind)
        if appointment.status == "cancelled":
            if row is not None and row.status in ("pending", "sending", "skipped"):
                row.status, row.claimed_until = "cancelled", None
            continue
        _plan(row, appointment, kind, due_at(appointment, kind, timing), now=now)


def _plan(row, appointment, kind: str, due: datetime | None, *, now: datetime) -> None:
    """Bring one row in line with its planned time; a sent reminder is replanned only if it moved."""
    if row is None:
        row = Reminder(
            user_id=appointment.client_id,
            appointment_id=appointment.id,
            kind=kind,
            attempts=0,
            delivered_to="",
            last_error="",
        )
        db.session.add(row)
    elif row.status not in OPEN and not _stale(row, appointment):
        return  # already went out (or is going) inside this check-in window: never twice
    row.user_id = appointment.client_id
    row.due_at = due or row.due_at or now
    row.next_attempt_at = max(row.due_at, now)
    row.status = "pending" if due is not None else "skipped"
    row.attempts, row.claimed_until, row.sent_at = 0, None, None
    row.delivered_to, row.last_error = "", "" if due is not None else "not planned"


def _stale(row, appointment) -> bool:
    """True when a sent row belongs to an earlier slot: the appointment moved past its window."""
    went_out = row.sent_at or row.due_at
    return went_out < window(appointment, PHASE_OF[row.kind]).opens - STALE_SLACK


def resync_user(user, *, now: datetime) -> int:
    """Re-plan the future reminders of `user` after they change their reminder settings."""
    appointments = db.session.scalars(
        select(Appointment).where(
            Appointment.client_id == user.id,
            Appointment.status == "scheduled",
            Appointment.starts_at > now - LOOKBACK,
        )
    ).all()
    for appointment in appointments:
        sync_appointment(appointment, now=now)
    return len(appointments)
