"""Dashboard numbers, computed by SQL aggregates over indexed columns (DESIGN 1, perf-notes).

Weekly buckets are a portable `CASE` over boundaries computed in Python (the viewer's local Mondays as UTC
instants), so SQLite and PostgreSQL group identically and the covering index
`ix_check_in_therapist_time` answers the range scan. Named data only: anonymous check-ins appear nowhere
here (they live in `anonymity.py`, under the k rules).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..i18n import zone
from ..models import Appointment, CheckIn, User

WEEKS = 12


def week_starts(now: datetime, tz_name: str | None, weeks: int = WEEKS) -> list[datetime]:
    """`weeks + 1` boundaries: local Mondays at midnight (as aware UTC), the last one after `now`."""
    local = now.astimezone(zone(tz_name))
    monday = (local - timedelta(days=local.weekday())).date()
    days = [monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks + 1)]
    return [_local_midnight(d, tz_name) for d in days]


def _local_midnight(day: date, tz_name: str | None) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone(tz_name)).astimezone(UTC)


def bucket(column, bounds: list[datetime]):
    """The index of the bucket `column` falls in (NULL outside): portable SQL."""
    return case(*[(column < b, i) for i, b in enumerate(bounds[1:])], else_=None)


@dataclass
class Week:
    start: datetime
    safe: float | None = None
    heard: float | None = None
    understood: float | None = None
    after_count: int = 0
    prepost: float | None = None
    appointments: int = 0
    answered: int = 0

    @property
    def response_rate(self) -> float | None:
        return round(100 * self.answered / self.appointments) if self.appointments else None


def weekly(therapist_id: int, *, now: datetime, tz_name: str | None) -> list[Week]:
    """After-session means, pre-to-post change and response rate for each of the last 12 weeks."""
    bounds = week_starts(now, tz_name)
    weeks = [Week(start=b) for b in bounds[:-1]]
    named_afters = (
        CheckIn.therapist_id == therapist_id,
        CheckIn.created_at >= bounds[0],
        CheckIn.created_at < bounds[-1],
        CheckIn.phase == "after",
        CheckIn.visibility == "named",
    )
    b = bucket(CheckIn.created_at, bounds).label("b")
    # Only columns of the covering index: no table lookups.
    rows = db.session.execute(
        select(
            b,
            func.avg(CheckIn.safe),
            func.avg(CheckIn.heard),
            func.avg(CheckIn.understood),
            func.count(CheckIn.client_id),
        )
        .where(*named_afters)
        .group_by(b)
    )
    for i, safe, heard, understood, n in rows:
        if i is not None:
            w = weeks[i]
            w.safe, w.heard, w.understood, w.after_count = _r(safe), _r(heard), _r(understood), n
    _prepost(weeks, bounds, named_afters)
    _response_rates(therapist_id, weeks, bounds, now)
    return weeks


def _prepost(weeks, bounds, named_afters) -> None:
    """Mean change in total from the same appointment's named before-check-in to its after."""
    before = aliased(CheckIn)
    b = bucket(CheckIn.created_at, bounds).label("b")
    change = (
        CheckIn.safe
        + CheckIn.heard
        + CheckIn.understood
        - (before.safe + before.heard + before.understood)
    )
    rows = db.session.execute(
        select(b, func.avg(change))
        .join(
            before,
            and_(
                before.appointment_id == CheckIn.appointment_id,
                before.phase == "before",
                before.visibility == "named",
            ),
        )
        .where(*named_afters)
        .group_by(b)
    )
    for i, value in rows:
        if i is not None:
            weeks[i].prepost = _r(value)


def _response_rates(therapist_id, weeks, bounds, now) -> None:
    """Share of finished appointments that got a named after-check-in."""
    after = aliased(CheckIn)
    b = bucket(Appointment.starts_at, bounds).label("b")
    rows = db.session.execute(
        select(b, func.count(Appointment.id), func.count(after.id))
        .outerjoin(
            after,
            and_(
                after.appointment_id == Appointment.id,
                after.phase == "after",
                after.visibility == "named",
            ),
        )
        .where(
            Appointment.therapist_id == therapist_id,
            Appointment.status == "scheduled",
            Appointment.starts_at >= bounds[0],
            Appointment.starts_at < min(bounds[-1], now),
        )
        .group_by(b)
    )
    for i, total, answered in rows:
        if i is not None:
            weeks[i].appointments, weeks[i].answered = total, answered


def _r(value) -> float | None:
    return None if value is None else round(float(value), 1)


def this_week(therapist_id: int, *, now: datetime, tz_name: str | None, limit: int = 200):
    """This week's appointments with whether each named check-in is done (one query)."""
    bounds = week_starts(now, tz_name, weeks=1)
    before, after = aliased(CheckIn), aliased(CheckIn)

    def joined(alias, phase):
        return and_(
            alias.appointment_id == Appointment.id,
            alias.phase == phase,
            alias.visibility == "named",
        )

    return db.session.execute(
        select(
            Appointment.id,
            Appointment.starts_at,
            Appointment.duration_minutes,
            Appointment.client_id,
            User.display_name,
            before.id.label("before_id"),
            after.id.label("after_id"),
        )
        .join(User, User.id == Appointment.client_id)
        .outerjoin(before, joined(before, "before"))
        .outerjoin(after, joined(after, "after"))
        .where(
            Appointment.therapist_id == therapist_id,
            Appointment.status == "scheduled",
            Appointment.starts_at >= bounds[0],
            Appointment.starts_at < bounds[1],
        )
        .order_by(Appointment.starts_at)
        .limit(limit)
    ).all()


def check_in_status(row, *, now: datetime) -> dict:
    """'done', 'due' (window open) or 'missing' (window closed) for before and after."""
    end = row.starts_at + timedelta(minutes=row.duration_minutes)

    def status(done, opens, closes):
        if done:
            return "done"
        if now < opens:
            return "later"
        return "due" if now < closes else "missing"

    return {
        "before": status(row.before_id, row.starts_at - timedelta(hours=24), end),
        "after": status(row.after_id, end, end + timedelta(hours=72)),
    }
