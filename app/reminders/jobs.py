"""A claimed batch, read in three queries into plain snapshots before any network call.

Plain values rather than ORM objects: the dispatcher commits the claim, this read and the batch's
outcomes, and a commit would otherwise expire (and reload) everything it read.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Appointment, CheckIn, PushSubscription, Reminder, User
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
    """Read a claimed batch: reminders with appointment, client and practice; check-ins; devices."""
    reminders = db.session.scalars(
        select(Reminder)
        .where(Reminder.id.in_(ids), Reminder.status == "sending")
        .options(
            joinedload(Reminder.appointment)
            .joinedload(Appointment.client)
            .joinedload(User.practice)
        )
    ).all()
    pairs = {(r.appointment_id, PHASE_OF[r.kind]) for r in reminders}
    done = set()
    if pairs:
        done = set(
            db.session.execute(
                select(CheckIn.appointment_id, CheckIn.phase).where(
                    tuple_(CheckIn.appointment_id, CheckIn.phase).in_(pairs)
                )
            ).all()
        )
    devices: dict[int, list] = {}
    rows = db.session.execute(
        select(
            PushSubscription.user_id,
            PushSubscription.id,
            PushSubscription.endpoint,
            PushSubscription.p256dh,
            PushSubscription.auth,
        ).where(PushSubscription.user_id.in_({r.user_id for r in reminders}))
    )
    for user_id, *device in rows:
        devices.setdefault(user_id, []).append(tuple(device))
    jobs = [job(r, (r.appointment_id, PHASE_OF[r.kind]) in done, devices) for r in reminders]
    db.session.commit()
    return jobs


def job(r: Reminder, done: bool, devices: dict) -> Job:
    """A plain snapshot of one reminder, so later commits never reload anything."""
    a, client = r.appointment, r.appointment.client
    served = served_ids(r.delivered_to)
    return Job(
        reminder_id=r.id,
        kind=r.kind,
        attempts=r.attempts,
        served=served,
        appointment=Slot(a.id, a.starts_at, a.duration_minutes, a.status),
        client=Recipient(
            active=client.active,
            locale=client.locale or client.practice.locale or "en",
            enabled=frozenset(k for k in KINDS if getattr(client, f"remind_{k}") is not False),
        ),
        done=done,
        devices=[d for d in devices.get(r.user_id, []) if d[0] not in served],
    )


def served_ids(delivered_to: str) -> set[int]:
    return {int(x) for x in (delivered_to or "").split(",") if x.strip().isdigit()}
