"""Storing 'needs attention' alerts (DESIGN 3): on each check-in, and by a periodic pass for missing ones.

Only named after-session check-ins are ever read here: an anonymous check-in never raises, shapes or
suppresses a per-client alert (DESIGN 4), so an alert can never reveal one.
"""

from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import and_, exists, func, or_, select, update

from .. import windows
from ..extensions import db
from ..models import Alert, Appointment, CheckIn, User
from . import rules

SCAN_LOOKBACK = timedelta(days=14)


def _scores(row) -> rules.Scores:
    return (row.safe, row.heard, row.understood)


def _named(*where):
    return select(CheckIn.safe, CheckIn.heard, CheckIn.understood).where(
        CheckIn.visibility == "named", *where
    )


def on_check_in(check_in, *, now) -> list[Alert]:
    """Evaluate the alert rules for a just-stored check-in and add Alert rows to the session.

    Called inside the check-in's transaction, after flush, before commit.
    """
    if check_in.visibility != "named" or check_in.phase != "after" or not check_in.therapist_id:
        return []
    therapist = db.session.get(User, check_in.therapist_id)
    earlier = (
        CheckIn.client_id == check_in.client_id,
        CheckIn.phase == "after",
        CheckIn.id != check_in.id,
        CheckIn.created_at < check_in.created_at,
    )
    last_three = [
        _scores(r)
        for r in db.session.execute(_named(*earlier).order_by(CheckIn.created_at.desc()).limit(3))
    ]
    count, mean = db.session.execute(
        select(
            func.count(CheckIn.id), func.avg(CheckIn.safe + CheckIn.heard + CheckIn.understood)
        ).where(CheckIn.visibility == "named", *earlier)
    ).one()
    before = None
    if check_in.appointment_id:
        row = db.session.execute(
            _named(CheckIn.appointment_id == check_in.appointment_id, CheckIn.phase == "before")
        ).first()
        before = _scores(row) if row else None
    findings = rules.evaluate(
        _scores(check_in),
        thresholds=rules.Thresholds.of(therapist.practice),
        previous=last_three[0] if last_three else None,
        earlier_mean=float(mean) if mean is not None else None,
        earlier_count=count,
        last_three=last_three,
        before=before,
    )
    return [
        _store(check_in.therapist_id, check_in.client_id, f, now, check_in=check_in)
        for f in findings
    ]


def _store(therapist_id, client_id, finding, now, *, check_in=None, appointment_id=None) -> Alert:
    alert = Alert(
        therapist_id=therapist_id,
        client_id=client_id,
        check_in_id=check_in.id if check_in else None,
        appointment_id=check_in.appointment_id if check_in else appointment_id,
        rule=finding.rule,
        detail=finding.detail(),
        created_at=now,
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


def grouped(rows) -> list[tuple]:
    """Open-alert rows (alert, name, next_at) folded to one entry per session, newest first."""
    groups: dict = {}
    for alert, name, next_at in rows:
        key = ("c", alert.check_in_id) if alert.check_in_id else ("a", alert.appointment_id)
        groups.setdefault(key, (alert, name, next_at, []))[3].append(alert)
    return list(groups.values())


def open_alerts(therapist_id: int, *, now: datetime, limit: int = 50):
    """Unacknowledged alerts, newest first, with the client's name and next appointment (one query)."""
    next_start = (
        select(func.min(Appointment.starts_at))
        .where(
            Appointment.client_id == Alert.client_id,
            Appointment.therapist_id == therapist_id,
            Appointment.status == "scheduled",
            Appointment.starts_at >= now,
        )
        .scalar_subquery()
    )
    return db.session.execute(
        select(Alert, User.display_name, next_start.label("next_at"))
        .join(User, and_(User.id == Alert.client_id))
        .where(Alert.therapist_id == therapist_id, Alert.acknowledged_at.is_(None))
        .order_by(Alert.created_at.desc(), Alert.id.desc())
        .limit(limit)
    ).all()


def facts(alert: Alert) -> dict:
    out = {}
    for part in (alert.detail or "").split(";"):
        key, _sep, value = part.partition("=")
        if key:
            out[key] = value
    return out


def item_word(item: str) -> str:
    return {"safe": _("safe"), "heard": _("heard"), "understood": _("understood")}.get(item, item)


def describe(alert: Alert) -> str:
    """Which rule fired, in words ('felt less heard than last time (9 → 6)')."""
    f = facts(alert)
    item = item_word(f.get("item", ""))
    texts = {
        "low_item": lambda: _("felt only %(value)s/10 %(item)s", value=f.get("value"), item=item),
        "drop_previous": lambda: _(
            "felt less %(item)s than last time (%(before)s → %(value)s)",
            item=item,
            before=f.get("before"),
            value=f.get("value"),
        ),
        "below_mean": lambda: _(
            "rated this session well below their usual (total %(value)s/30, usually %(mean)s)",
            value=f.get("value"),
            mean=f.get("mean"),
        ),
        "streak_crack": lambda: _(
            "first rating below 10 after a run of perfect scores (%(item)s: %(value)s)",
            item=item,
            value=f.get("value"),
        ),
        "worse_after": lambda: _(
            "felt worse after the session than before it (total %(before)s → %(value)s)",
            before=f.get("before"),
            value=f.get("value"),
        ),
        "missing_after": lambda: (
            _(
                "no named after-session check-in, and the before-check-in was low (%(value)s/10)",
                value=f.get("value"),
            )
            if f.get("reason") == "low_before"
            else _("no named after-session check-in, after an alert at the previous session")
        ),
    }
    return texts.get(alert.rule, lambda: alert.rule)()
