"""Scheduling rules (DESIGN 1, Therapist 2): weekly series, moves and cancellations in local time.

Therapists type a local date and time in their own zone; each occurrence of a weekly series keeps that wall
time across daylight-saving changes, and is stored in UTC. Every create, move and cancel syncs the
appointment's reminders in the caller's transaction, so both commit together or not at all.
"""

import secrets
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from ..i18n import zone
from ..models import Appointment, CareLink, User
from ..reminders import outbox

MAX_WEEKS = 52
# The dates a therapist may type: far enough back to record a missed entry, far enough ahead for any real
# plan, and far from the ends of the calendar (9999-12-31 or 0001-01-01 would overflow in a time zone).
EARLIEST = timedelta(days=366)
LATEST = timedelta(days=2 * 366)


class ScheduleError(Exception):
    """A refused scheduling request; the message is safe to show."""


def to_utc(local_date: date, local_time: time, tz_name: str) -> datetime:
    """The UTC instant of a wall-clock date and time in `tz_name` (a skipped DST hour moves forward)."""
    naive = datetime.combine(local_date, local_time)
    aware = naive.replace(tzinfo=zone(tz_name))
    # Round-trip through UTC so a non-existent local time (spring forward) lands on a real instant.
    return aware.astimezone(UTC)


def local_parts(moment: datetime, tz_name: str) -> tuple[date, time]:
    local = moment.astimezone(zone(tz_name))
    return local.date(), local.time().replace(second=0, microsecond=0)


def clients_of(therapist: User) -> list[User]:
    """The therapist's current clients, by name."""
    return list(
        db.session.scalars(
            select(User)
            .join(CareLink, CareLink.client_id == User.id)
            .where(
                CareLink.therapist_id == therapist.id,
                CareLink.ended_at.is_(None),
                User.active.is_(True),
            )
            .order_by(User.display_name)
        )
    )


def check_date(local_date: date, *, now: datetime) -> None:
    """Refuse a date more than a year back or two years ahead of today."""
    today = now.date()
    if not today - EARLIEST <= local_date <= today + LATEST:
        raise ScheduleError(_l("Choose a date within a year back and two years ahead."))


def _check(therapist: User, client: User, duration: int, weeks: int) -> None:
    if client.id not in {c.id for c in clients_of(therapist)}:
        raise ScheduleError(_l("That person is not one of your clients."))
    if not 5 <= duration <= 600:
        raise ScheduleError(_l("Duration must be between 5 and 600 minutes."))
    if not 1 <= weeks <= MAX_WEEKS:
        raise ScheduleError(_l("A series can have 1 to %(n)s weeks.", n=MAX_WEEKS))


def schedule(
    therapist: User,
    client: User,
    *,
    local_date: date,
    local_time: time,
    duration: int,
    weeks: int = 1,
    now: datetime,
) -> list[Appointment]:
    """Create one appointment, or a weekly series of `weeks`, at the therapist's local wall time."""
    _check(therapist, client, duration, weeks)
    check_date(local_date, now=now)
    series_id = secrets.token_hex(8) if weeks > 1 else None
    made = []
    for week in range(weeks):
        appointment = Appointment(
            therapist_id=therapist.id,
            client_id=client.id,
            starts_at=to_utc(local_date + timedelta(weeks=week), local_time, therapist.time_zone),
            duration_minutes=duration,
            status="scheduled",
            series_id=series_id,
            created_at=now,
            updated_at=now,
        )
        db.session.add(appointment)
        made.append(appointment)
    db.session.flush()
    for appointment in made:
        outbox.sync_appointment(appointment, now=now)
    return made


def affected(appointment: Appointment, scope: str) -> list[Appointment]:
    """`appointment` alone, or it and the later scheduled ones of its series ("following")."""
    if scope != "following" or appointment.series_id is None:
        return [appointment]
    return list(
        db.session.scalars(
            select(Appointment)
            .where(
                Appointment.series_id == appointment.series_id,
                Appointment.starts_at >= appointment.starts_at,
                Appointment.status == "scheduled",
            )
            .order_by(Appointment.starts_at)
        )
    )


def move(
    appointment: Appointment,
    *,
    local_date: date,
    local_time: time,
    duration: int,
    scope: str = "this",
    tz_name: str,
    now: datetime,
) -> list[Appointment]:
    """Move one appointment, or it and the following ones of its series by the same local shift.

    "This and following" splits the series: the moved part gets a new series id, so a later edit of the
    earlier part does not drag the moved part along.
    """
    if appointment.status != "scheduled":
        raise ScheduleError(_l("A cancelled appointment cannot be moved."))
    if not 5 <= duration <= 600:
        raise ScheduleError(_l("Duration must be between 5 and 600 minutes."))
    check_date(local_date, now=now)
    old_date, _ = local_parts(appointment.starts_at, tz_name)
    shift = local_date - old_date
    rows = affected(appointment, scope)
    new_series = secrets.token_hex(8) if scope == "following" and len(rows) > 1 else None
    for row in rows:
        row_date, _ = local_parts(row.starts_at, tz_name)
        row.starts_at = to_utc(row_date + shift, local_time, tz_name)
        row.duration_minutes = duration
        row.updated_at = now
        if scope == "following":
            row.series_id = new_series
        elif row.series_id is not None:
            row.series_id = None  # a one-off change takes it out of the series
        outbox.sync_appointment(row, now=now)
    db.session.flush()
    return rows


def cancel(appointment: Appointment, *, scope: str = "this", now: datetime) -> list[Appointment]:
    """Cancel one appointment, or it and the following ones of its series."""
    rows = affected(appointment, scope)
    for row in rows:
        row.status = "cancelled"
        row.updated_at = now
        outbox.sync_appointment(row, now=now)
    db.session.flush()
    return rows


def upcoming(therapist: User, *, now: datetime, days_back: int = 7, limit: int = 200):
    """The therapist's appointments from a week ago onwards, soonest first."""
    return list(
        db.session.scalars(
            select(Appointment)
            .where(
                Appointment.therapist_id == therapist.id,
                Appointment.starts_at >= now - timedelta(days=days_back),
            )
            .order_by(Appointment.starts_at)
            .limit(limit)
        )
    )


def own(therapist: User, appointment_id: int) -> Appointment | None:
    row = db.session.get(Appointment, appointment_id)
    return row if row is not None and row.therapist_id == therapist.id else None
