"""A claimed batch, read in two queries into plain snapshots before any network call.

Plain values rather than ORM objects: the dispatcher commits the claim, this read and the batch's
outcomes, and a commit would otherwise expire (and reload) everything it read.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, select

from ..extensions import db
from ..models import Appointment, CheckIn, Practice, PushSubscription, Reminder, User
from .rules import KINDS, PHASE_OF


@dataclass(frozen=True)
class Slot:
    """The appointment facts the rules need (the same names as on `Appointment`)."""

    id: int
    starts_at: datetime
    duration_minutes: int
    status: str


@dataclass(frozen=True)
class Recipient:
    active: bool
    locale: str
    enabled: frozenset


@dataclass
class Job:
    """Everything needed to send one reminder, read before any network call."""

    reminder_id: int
    kind: str
    attempts: int
    served: set
    appointment: Slot
    client: Recipient
    done: bool
    devices: list = field(default_factory=list)  # (id, endpoint, p256dh, auth)


def load_jobs(ids: list[int]) -> list[Job]:
    """Read a claimed batch in two queries and commit (the claim's lease with it): the reminders with
    appointment, client, practice and whether the check-in is done; then the clients' devices.

    Plain columns, not ORM objects: building and tracking objects was most of this read's cost."""
    done = (
        select(CheckIn.id)
        .where(
            CheckIn.appointment_id == Reminder.appointment_id,
            CheckIn.phase == case(PHASE_OF, value=Reminder.kind),
        )
        .exists()
    )
    rows = db.session.execute(
        select(
            Reminder.id,
            Reminder.kind,
            Reminder.attempts,
            Reminder.delivered_to,
            Reminder.user_id,
            Appointment.id,
            Appointment.starts_at,
            Appointment.duration_minutes,
            Appointment.status,
            done,
            User.active,
            User.locale,
            Practice.locale,
            User.remind_before,
            User.remind_after,
            User.remind_nudge,
        )
        .join(Appointment, Appointment.id == Reminder.appointment_id)
        .join(User, User.id == Appointment.client_id)
        .join(Practice, Practice.id == User.practice_id)
        .where(Reminder.id.in_(ids), Reminder.status == "sending")
    ).all()
    devices: dict[int, list] = {}
    if rows:
        found = db.session.execute(
            select(
                PushSubscription.user_id,
                PushSubscription.id,
                PushSubscription.endpoint,
                PushSubscription.p256dh,
                PushSubscription.auth,
            ).where(PushSubscription.user_id.in_({row[4] for row in rows}))
        )
        for user_id, *device in found:
            devices.setdefault(user_id, []).append(tuple(device))
    jobs = [job(row, devices) for row in rows]
    db.session.commit()
    return jobs


def job(row, devices: dict) -> Job:
    """A plain snapshot of one reminder, so later commits never reload anything."""
    rid, kind, attempts, delivered_to, user_id, appointment_id, starts_at, minutes, status = row[:9]
    done, active, locale, practice_locale, *switches = row[9:]
    served = served_ids(delivered_to)
    return Job(
        reminder_id=rid,
        kind=kind,
        attempts=attempts,
        served=served,
        appointment=Slot(appointment_id, starts_at, minutes, status),
        client=Recipient(
            active=active,
            locale=locale or practice_locale or "en",
            enabled=frozenset(k for k, on in zip(KINDS, switches, strict=True) if on is not False),
        ),
        done=bool(done),
        devices=[d for d in devices.get(user_id, []) if d[0] not in served],
    )


def served_ids(delivered_to: str) -> set[int]:
    return {int(x) for x in (delivered_to or "").split(",") if x.strip().isdigit()}
