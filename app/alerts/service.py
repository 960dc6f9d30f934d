"""Storing 'needs attention' alerts (DESIGN 3): on each check-in, by a periodic pass for missing ones, and
marking them 'talked about it'.

Only named after-session check-ins are ever read here: an anonymous check-in never raises, shapes or
suppresses a per-client alert (DESIGN 4), so an alert can never reveal one.
"""

from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import (
    BigInteger,
    Numeric,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from .. import windows
from ..extensions import db
from ..models import Alert, Appointment, CheckIn, Practice, User
from . import rules

SCAN_LOOKBACK = timedelta(days=14)
# Earlier answers read for the drop, the perfect streak and the 'usually' range.
RECENT = 5


def _scores(row) -> rules.Scores:
    return (row.safe, row.heard, row.understood)


def _named(*where):
    return select(CheckIn.safe, CheckIn.heard, CheckIn.understood).where(
        CheckIn.visibility == "named", *where
    )


THRESHOLD_COLUMNS = (
    Practice.low_threshold,
    Practice.drop_threshold,
    Practice.mean_drop_threshold,
    Practice.prepost_drop_threshold,
)


def with_thresholds(query, therapist_id):
    """`query` with the practice thresholds of the therapist `therapist_id` (a column) added as columns,
    so a caller that looks the therapist up anyway gets them in the same statement (issue 12)."""
    return (
        query.add_columns(*THRESHOLD_COLUMNS)
        .outerjoin(User, User.id == therapist_id)
        .outerjoin(Practice, Practice.id == User.practice_id)
    )


@cache
def history_query(with_before: bool, client_id=None):
    """The statement of `_history`, built once per process (issue 12): per check-in only its values
    change (client_id, check_in_id, created_at, appointment_id). Its columns: safe, heard, understood,
    position (0 for the before-answer), count, mean. PostgreSQL's check-in runs it inside its insert
    (app/checkins/fast_path.py), where the new row is invisible and `check_in_id` may be 0; `client_id`,
    when given, is the column expression that statement finds the client by, instead of a value."""
    earlier = _named(
        CheckIn.client_id == (bindparam("client_id") if client_id is None else client_id),
        CheckIn.phase == "after",
        CheckIn.id != bindparam("check_in_id"),
        CheckIn.created_at < bindparam("created_at"),
    )
    total = CheckIn.safe + CheckIn.heard + CheckIn.understood
    newest_first = CheckIn.created_at.desc()
    recent = (
        earlier.add_columns(
            func.row_number().over(order_by=newest_first).label("position"),
            func.count().over().label("count"),
            func.avg(total).over().label("mean"),
        )
        .order_by(newest_first)
        .limit(RECENT)
    )
    parts = [select(recent.subquery())]
    if with_before:
        before = _named(
            CheckIn.appointment_id == bindparam("appointment_id"), CheckIn.phase == "before"
        ).add_columns(
            literal(0).label("position"),
            cast(null(), BigInteger).label("count"),
            cast(null(), Numeric).label("mean"),
        )
        parts.append(select(before.limit(1).subquery()))
    return union_all(*parts)


def history_values(check_in, check_in_id) -> dict:
    """The values `history_query` takes for `check_in`."""
    return {
        "client_id": check_in.client_id,
        "check_in_id": check_in_id,
        "created_at": check_in.created_at,
        "appointment_id": check_in.appointment_id,
    }


def _history(check_in, rows=None):
    """(recent, count, mean, before) in one statement: the client's newest RECENT earlier named
    after-answers, how many there are in all and their mean total (window functions, computed before
    the LIMIT), and this appointment's named before-answer. `rows`: that statement's rows when the
    caller read them already (rows without a position, from an outer join, are skipped)."""
    if rows is None:
        query = history_query(bool(check_in.appointment_id))
        values = history_values(check_in, check_in.id)
        rows = db.session.connection().execute(query, values).all()  # columns only: no ORM work
    rows = sorted((r for r in rows if r.position is not None), key=lambda r: r.position)
    before = _scores(rows.pop(0)) if rows and rows[0].position == 0 else None
    count, mean = (rows[0].count, rows[0].mean) if rows else (0, None)
    return [_scores(r) for r in rows], count, mean, before


def reads_history(check_in) -> bool:
    """Whether the rules look at this check-in at all: named after-answers with a therapist only."""
    return (
        check_in.visibility == "named" and check_in.phase == "after" and bool(check_in.therapist_id)
    )


def on_check_in(check_in, *, now, practice=None, history=None, connection=None) -> list[Alert]:
    """Evaluate the alert rules for a just-stored check-in and add Alert rows to the session.

    Called inside the check-in's transaction, after the insert, before commit. `practice` holds the
    therapist's practice thresholds (a Practice, or a row of a `with_thresholds` query); read here when
    the caller has not. `history`: the rows of `history_query` for it, when the caller read them with
    its insert (issue 12: one round trip less); read here otherwise. `connection`: a Core connection
    to insert the alerts on instead of adding ORM rows (the list returned is then empty). Those inserts
    skip an alert the check-in already has, so a replay can run this again: on PostgreSQL the check-in
    commits on its own (app/checkins/service.py) and a replay writes whatever alert its first send lost.
    """
    if not reads_history(check_in):
        return []
    if practice is None:
        practice = db.session.get(User, check_in.therapist_id).practice
    recent, count, mean, before = _history(check_in, history)
    findings = rules.evaluate(
        _scores(check_in),
        thresholds=rules.Thresholds.of(practice),
        recent=recent,
        earlier_mean=float(mean) if mean is not None else None,
        earlier_count=count,
        before=before,
    )
    if connection is not None:
        if findings:
            values = [
                _values(check_in.therapist_id, check_in.client_id, f, now, check_in=check_in)
                for f in findings
            ]
            connection.execute(_insert_new(connection.dialect.name), values)
        return []
    return [
        _store(check_in.therapist_id, check_in.client_id, f, now, check_in=check_in)
        for f in findings
    ]


@cache
def _insert_new(dialect: str):
    """INSERT of alerts that skips one a check-in already has (uq_alert_check_in_rule)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(Alert.__table__).on_conflict_do_nothing()


def _values(therapist_id, client_id, finding, now, *, check_in=None, appointment_id=None) -> dict:
    return {
        "therapist_id": therapist_id,
        "client_id": client_id,
        "check_in_id": check_in.id if check_in else None,
        "appointment_id": check_in.appointment_id if check_in else appointment_id,
        "rule": finding.rule,
        "facts": finding.facts,
        "created_at": now,
    }


def _store(therapist_id, client_id, finding, now, *, check_in=None, appointment_id=None) -> Alert:
    alert = Alert(
        **_values(
            therapist_id, client_id, finding, now, check_in=check_in, appointment_id=appointment_id
        )
    )
    db.session.add(alert)
    return alert


def scan_missing(*, now: datetime) -> list[Alert]:
    """Add 'missing after-check-in' alerts for appointments whose window closed recently.

    Idempotent: an appointment gets at most one such alert (also enforced by a unique constraint).
    The caller commits.
    """
    closed_before = now - windows.AFTER_CLOSES
    ends = Appointment.starts_at  # filtered in Python below by the exact end (duration varies)
    has_after = exists().where(
        CheckIn.appointment_id == Appointment.id,
        CheckIn.phase == "after",
        CheckIn.visibility == "named",
    )
    has_alert = exists().where(
        Alert.appointment_id == Appointment.id, Alert.rule == "missing_after"
    )
    candidates = db.session.scalars(
        select(Appointment).where(
            Appointment.status == "scheduled",
            ends >= closed_before - SCAN_LOOKBACK,
            ends < closed_before,
            ~has_after,
            ~has_alert,
        )
    ).all()
    made = []
    for appt in candidates:
        if windows.window(appt, "after").closes > now:
            continue
        finding = _missing_finding(appt)
        if finding:
            made.append(
                _store(appt.therapist_id, appt.client_id, finding, now, appointment_id=appt.id)
            )
    db.session.flush()
    return made


def _missing_finding(appt: Appointment) -> rules.Finding | None:
    row = db.session.execute(
        _named(CheckIn.appointment_id == appt.id, CheckIn.phase == "before")
    ).first()
    previous = db.session.scalar(
        select(Appointment.id)
        .where(
            Appointment.client_id == appt.client_id,
            Appointment.therapist_id == appt.therapist_id,
            Appointment.status == "scheduled",
            Appointment.starts_at < appt.starts_at,
        )
        .order_by(Appointment.starts_at.desc())
        .limit(1)
    )
    alerted = previous is not None and bool(
        db.session.scalar(select(exists().where(Alert.appointment_id == previous)))
    )
    low = appt.therapist.practice.low_threshold
    return rules.missing_after(_scores(row) if row else None, alerted, low=low)


def acknowledge(alert: Alert, *, user: User, now: datetime) -> None:
    """Mark an alert 'talked about it', with the other rules the same session raised: the therapist
    talks about the session, not about one rule. Alerts are kept, with the date and who marked it."""
    same_session = (
        Alert.check_in_id == alert.check_in_id
        if alert.check_in_id is not None
        else and_(Alert.check_in_id.is_(None), Alert.appointment_id == alert.appointment_id)
    )
    db.session.execute(
        update(Alert)
        .where(
            Alert.therapist_id == alert.therapist_id,
            Alert.acknowledged_at.is_(None),
            or_(Alert.id == alert.id, same_session),
        )
        .values(acknowledged_at=now, acknowledged_by_id=user.id)
        .execution_options(synchronize_session="fetch")
    )
