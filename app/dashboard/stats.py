"""Dashboard numbers, computed by SQL aggregates over indexed columns (DESIGN 1, perf-notes).

Weekly buckets are a portable `CASE` over boundaries computed in Python (the viewer's local Mondays as UTC
instants), so SQLite and PostgreSQL group identically and the covering index
`ix_check_in_therapist_time` answers the range scan. Every statement is built once per process with its
boundaries as bind parameters: building them per request (aliases, a 13-branch CASE) cost more than the
database did, and a statement built at import is also compiled once, on the first render. Named data only: anonymous check-ins appear nowhere
here (they live in `anonymity.py`, under the k rules).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, bindparam, case, func, literal, literal_column, null, select, union_all
from sqlalchemy.orm import aliased

from .. import windows
from ..extensions import PLAN_EACH_TIME, db
from ..i18n import zone
from ..models import Appointment, CheckIn, User, UTCDateTime

WEEKS = 12


def week_starts(now: datetime, tz_name: str | None, weeks: int = WEEKS) -> list[datetime]:
    """`weeks + 1` boundaries: local Mondays at midnight (as aware UTC), the last one after `now`."""
    local = now.astimezone(zone(tz_name))
    monday = (local - timedelta(days=local.weekday())).date()
    days = [monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks + 1)]
    return [_local_midnight(d, tz_name) for d in days]


def _local_midnight(day: date, tz_name: str | None) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone(tz_name)).astimezone(UTC)


def bucket(column, bounds):
    """The index of the bucket `column` falls in (NULL outside): portable SQL. `bounds` are datetimes
    or bind parameters (the statements below are built once, with the boundaries as parameters); the
    indexes are written into the SQL, which keeps the weekly statement short (see `BY_BUCKET`)."""
    return case(*[(column < b, literal_column(str(i))) for i, b in enumerate(bounds[1:])])


# Group by the first column, the bucket, rather than by its 12-branch CASE written out once more:
# the weekly statement then stays under psycopg's 4 KB limit for caching its parsed form (a longer
# statement was parsed again on every render).
BY_BUCKET = literal_column("1")


def _edges(name: str, count: int) -> list:
    return [bindparam(f"{name}{i}", type_=UTCDateTime()) for i in range(count)]


def _values(name: str, bounds: list[datetime]) -> dict:
    return {f"{name}{i}": b for i, b in enumerate(bounds)}


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


_WEEK_EDGES = _edges("w", WEEKS + 1)
_THERAPIST = bindparam("therapist")
# How far an appointment's start and its check-ins can lie apart (windows.accepts, with its grace, and
# the longest session): a joined check-in of the weeks shown was made after `_REACHED`, so the join reads
# this therapist's recent rows through the covering index rather than their whole history.
REACH = windows.BEFORE_OPENS + windows.AFTER_CLOSES + 2 * windows.GRACE + timedelta(minutes=600)
_REACHED = bindparam("reached", type_=UTCDateTime())
_NAMED_AFTERS = (
    CheckIn.therapist_id == _THERAPIST,
    CheckIn.created_at >= _WEEK_EDGES[0],
    CheckIn.created_at < _WEEK_EDGES[-1],
    CheckIn.phase == "after",
    CheckIn.visibility == "named",
)


def _weekly_means():
    """Per week: the means of the three items, the count, and the mean change in total from the same
    appointment's named before-check-in. The before is joined at most once per after (one check-in per
    appointment and phase), so the means and the count are those of the afters alone, and AVG skips
    the afters without a before: one pass where two statements each scanned the same range."""
    before = aliased(CheckIn)
    b = bucket(CheckIn.created_at, _WEEK_EDGES).label("b")
    change = (
        CheckIn.safe
        + CheckIn.heard
        + CheckIn.understood
        - (before.safe + before.heard + before.understood)
    )
    return (
        select(
            b,
            func.avg(CheckIn.safe),
            func.avg(CheckIn.heard),
            func.avg(CheckIn.understood),
            func.count(CheckIn.client_id),
            func.avg(change),
        )
        .outerjoin(
            before,
            and_(
                before.appointment_id == CheckIn.appointment_id,
                before.phase == "before",
                before.visibility == "named",
                before.therapist_id == _THERAPIST,  # see _weekly_response_rates
                before.created_at >= _REACHED,
            ),
        )
        .where(*_NAMED_AFTERS)
        .group_by(BY_BUCKET)
    )


def _weekly_response_rates():
    """Per week: finished appointments and how many got a named after-check-in."""
    after = aliased(CheckIn)
    b = bucket(Appointment.starts_at, _WEEK_EDGES).label("b")
    return (
        select(b, func.count(Appointment.id), func.count(after.appointment_id))
        .outerjoin(
            after,
            and_(
                after.appointment_id == Appointment.id,
                after.phase == "after",
                after.visibility == "named",
                # Always true (a check-in takes its appointment's therapist), and it keeps the join
                # to this therapist's rows: with only the appointment to go by, PostgreSQL's planner
                # hashes every named check-in of the practice (a sequential scan: 20 ms at 100,000).
                after.therapist_id == _THERAPIST,
                after.created_at >= _REACHED,
            ),
        )
        .where(
            Appointment.therapist_id == _THERAPIST,
            Appointment.status == "scheduled",
            Appointment.starts_at >= _WEEK_EDGES[0],
            Appointment.starts_at < bindparam("until", type_=UTCDateTime()),
        )
        .group_by(BY_BUCKET)
    )


def _this_week():
    """This week's appointments with the ids of their named check-ins (NULL when missing)."""
    before, after = aliased(CheckIn), aliased(CheckIn)

    def joined(alias, phase):
        return and_(
            alias.appointment_id == Appointment.id,
            alias.phase == phase,
            alias.visibility == "named",
            alias.therapist_id
            == _THERAPIST,  # always true; keeps every read on this therapist's rows
        )

    start, end = _edges("d", 2)
    return (
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
            Appointment.therapist_id == _THERAPIST,
            Appointment.status == "scheduled",
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
        .order_by(Appointment.starts_at)
        .limit(bindparam("limit"))
    )


def _weekly():
    """`_weekly_means` and `_weekly_response_rates` as one statement (one round trip), each row led by
    which of the two it comes from; the rates' two counts fill the means' first two columns."""
    means = _weekly_means().add_columns(literal("means").label("kind"))
    rates = _weekly_response_rates().add_columns(
        null(), null(), null(), literal("rates").label("kind")
    )
    return union_all(means, rates)


WEEKLY = _weekly().execution_options(**{PLAN_EACH_TIME: True})
THIS_WEEK = _this_week()


def weekly(therapist_id: int, *, now: datetime, tz_name: str | None) -> list[Week]:
    """After-session means, pre-to-post change and response rate for each of the last 12 weeks."""
    bounds = week_starts(now, tz_name)
    weeks = [Week(start=b) for b in bounds[:-1]]
    params = {"therapist": therapist_id, "reached": bounds[0] - REACH, **_values("w", bounds)}
    params["until"] = min(bounds[-1], now)
    for i, first, second, understood, n, change, kind in read(WEEKLY, params):
        if i is None:
            continue
        w = weeks[i]
        if kind == "rates":
            w.appointments, w.answered = int(first), int(second)
        else:
            w.safe, w.heard, w.understood, w.after_count = _r(first), _r(second), _r(understood), n
            w.prepost = _r(change)
    return weeks


def read(statement, params):
    """Run a statement of plain columns on the session's connection, in its transaction: the ORM's
    result handling, which these rows do not need, cost about a third of the call (issue 12)."""
    return db.session.connection().execute(statement, params)


def _r(value) -> float | None:
    return None if value is None else round(float(value), 1)


def this_week(therapist_id: int, *, now: datetime, tz_name: str | None, limit: int = 200):
    """This week's appointments with whether each named check-in is done (one query)."""
    bounds = week_starts(now, tz_name, weeks=1)
    params = {"therapist": therapist_id, "limit": limit, **_values("d", bounds)}
    return read(THIS_WEEK, params).all()


def check_in_status(row, *, now: datetime) -> dict:
    """'done', 'due' (window open), 'missing' (window closed) or 'later' for before and after."""

    def status(done, phase):
        if done:
            return "done"
        win = windows.window(row, phase)
        if now < win.opens:
            return "later"
        return "due" if now < win.closes else "missing"

    return {"before": status(row.before_id, "before"), "after": status(row.after_id, "after")}
