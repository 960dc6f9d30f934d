"""Read-side queries over alerts: what the therapist's dashboard lists."""

from datetime import datetime

from sqlalchemy import and_, bindparam, func, select

from ..extensions import db
from ..models import Alert, Appointment, User, UTCDateTime


def grouped(rows) -> list[tuple]:
    """Open-alert rows (alert, name, next_at) folded to one entry per session, newest first."""
    groups: dict = {}
    for alert, name, next_at in rows:
        key = ("c", alert.check_in_id) if alert.check_in_id else ("a", alert.appointment_id)
        groups.setdefault(key, (alert, name, next_at, []))[3].append(alert)
    return list(groups.values())


def _open_alerts():
    """Built once, with its values bound per call: building it per render cost about as much as
    the database took to answer it."""
    therapist, now = bindparam("therapist"), bindparam("now", type_=UTCDateTime())
    next_start = (
        select(func.min(Appointment.starts_at))
        .where(
            Appointment.client_id == Alert.client_id,
            Appointment.therapist_id == therapist,
            Appointment.status == "scheduled",
            Appointment.starts_at >= now,
        )
        .scalar_subquery()
    )
    return (
        select(Alert, User.display_name, next_start.label("next_at"))
        .join(User, and_(User.id == Alert.client_id))
        .where(Alert.therapist_id == therapist, Alert.acknowledged_at.is_(None))
        .order_by(Alert.created_at.desc(), Alert.id.desc())
        .limit(bindparam("limit"))
    )


OPEN_ALERTS = _open_alerts()


def open_alerts(therapist_id: int, *, now: datetime, limit: int = 50):
    """Unacknowledged alerts, newest first, with the client's name and next appointment (one query)."""
    params = {"therapist": therapist_id, "now": now, "limit": limit}
    return db.session.execute(OPEN_ALERTS, params).all()
