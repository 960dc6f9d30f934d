"""Read-side helpers for the client's home and history pages."""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import windows
from ..extensions import db
from ..models import Appointment, CheckIn, User

LOOKAROUND = timedelta(days=4)


def nearby_appointments(
    client: User, *, now: datetime, since: datetime | None = None
) -> list[Appointment]:
    """Appointments whose check-in windows could be open now, plus the next few ahead; with `since`
    (a recovery, app/auth/recovery.py) only those starting from then on."""
    floor = now - LOOKAROUND if since is None else max(now - LOOKAROUND, since)
    rows = db.session.scalars(
        select(Appointment)
        .where(
            Appointment.client_id == client.id,
            Appointment.status == "scheduled",
            Appointment.starts_at >= floor,
        )
        .order_by(Appointment.starts_at)
        .limit(20)
    )
    return list(rows)


def done_phases(client: User, appointments) -> set[tuple[int, str]]:
    ids = [a.id for a in appointments]
    if not ids:
        return set()
    rows = db.session.execute(
        select(CheckIn.appointment_id, CheckIn.phase).where(
            CheckIn.client_id == client.id, CheckIn.appointment_id.in_(ids)
        )
    )
    return {(a, p) for a, p in rows}


def home_state(client: User, *, now: datetime, since: datetime | None = None) -> dict:
    """What the client's home shows: the next appointment and the check-in due now, if any (with
    `since`, of sessions starting from then on: the same whether an earlier one was answered)."""
    appointments = nearby_appointments(client, now=now, since=since)
    due = windows.due_now(appointments, done_phases(client, appointments), now=now)
    return {
        "next": windows.next_appointment(appointments, now=now),
        "due": due,
        "due_closes": windows.window(*due).closes if due else None,
    }


def history(client: User, *, limit: int = 200, since: datetime | None = None) -> list[CheckIn]:
    """The client's own check-ins, newest first; only those received from `since` on when set
    (a recovery hold, app/auth/recovery.py)."""
    held = () if since is None else (CheckIn.received_at >= since,)
    return list(
        db.session.scalars(
            select(CheckIn)
            .where(CheckIn.client_id == client.id, *held)
            .order_by(CheckIn.created_at.desc(), CheckIn.id.desc())
            .options(selectinload(CheckIn.appointment))
            .limit(limit)
        )
    )
