"""DESIGN 2 timing rules as plain functions, and the outbox kept in step with its appointment."""

from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Reminder
from app.reminders import outbox
from app.reminders.rules import Timing, due_at, quiet_end_after

from .helpers import appointment

UTC_DEFAULTS = Timing()


def appt(start: datetime, minutes: int = 50, status: str = "scheduled"):
    return SimpleNamespace(starts_at=start, duration_minutes=minutes, status=status)


def at(day: int, hour: int, minute: int = 0, tz=UTC) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=tz)


def test_defaults_60_before_10_after_20h_nudge():
    a = appt(at(10, 14))
    assert due_at(a, "before", UTC_DEFAULTS) == at(10, 13)
    assert due_at(a, "after", UTC_DEFAULTS) == at(10, 15)
    assert due_at(a, "nudge", UTC_DEFAULTS) == at(11, 10, 50)


def test_practice_settings_change_the_timing():
    timing = replace(UTC_DEFAULTS, before_minutes=120, after_minutes=0, nudge_hours=30)
    a = appt(at(10, 14))
    assert due_at(a, "before", timing) == at(10, 12)
    assert due_at(a, "after", timing) == at(10, 14, 50)
    assert due_at(a, "nudge", timing) == at(11, 20, 50)


@pytest.mark.parametrize(
    "start, kind, expected",
    [
        (at(10, 8, 30), "before", at(10, 8)),  # 07:30 is quiet: wait until 08:00
        (at(10, 8), "before", None),  # 08:00 is the start itself: too late, skipped
        (at(10, 20, 30), "after", at(11, 8)),  # ends 21:20, reminder 21:30 -> next morning
        (at(10, 20), "after", at(11, 8)),  # ends 20:50, reminder 21:00: the first quiet minute
        (at(10, 19), "after", at(10, 20)),  # 20:00 is not quiet
        (at(10, 1), "nudge", at(11, 8)),  # 21:50 -> 08:00
    ],
)
def test_quiet_hours_delay_or_skip(start, kind, expected):
    a = appt(start)
    assert due_at(a, kind, UTC_DEFAULTS) == expected


def test_quiet_hours_are_in_the_clients_time_zone():
    timing = replace(UTC_DEFAULTS, time_zone="Europe/Berlin")
    # 06:30 UTC is 07:30 in Berlin (CET, UTC+1): quiet until 08:00 Berlin = 07:00 UTC.
    assert due_at(appt(at(10, 7, 30)), "before", timing) == at(10, 7)
    # In UTC the same reminder (06:30 UTC) is also quiet, so it would wait until 08:00 UTC: skipped.
    assert due_at(appt(at(10, 7, 30)), "before", UTC_DEFAULTS) is None


def test_quiet_hours_within_one_day_and_switched_off():
    daytime = replace(UTC_DEFAULTS, quiet_start=12 * 60, quiet_end=13 * 60)
    assert quiet_end_after(at(10, 12, 30), daytime) == at(10, 13)
    assert quiet_end_after(at(10, 13), daytime) is None
    off = replace(UTC_DEFAULTS, quiet_start=0, quiet_end=0)
    assert quiet_end_after(at(10, 3), off) is None


def test_kinds_turned_off_and_cancelled_appointments_get_nothing():
    timing = replace(UTC_DEFAULTS, enabled=frozenset({"after"}))
    a = appt(at(10, 14))
    assert due_at(a, "before", timing) is None
    assert due_at(a, "nudge", timing) is None
    assert due_at(a, "after", timing) == at(10, 15)
    assert due_at(appt(at(10, 14), status="cancelled"), "after", UTC_DEFAULTS) is None


def rows(appointment_id) -> dict:
    found = db.session.scalars(select(Reminder).where(Reminder.appointment_id == appointment_id))
    return {r.kind: (r.status, r.due_at) for r in found}


def test_outbox_follows_create_move_and_cancel(rctx, people):
    _, therapist, client = people
    a = appointment(client, therapist, at(10, 14), now=at(1, 9))
    assert rows(a.id) == {
        "before": ("pending", at(10, 13)),
        "after": ("pending", at(10, 15)),
        "nudge": ("pending", at(11, 10, 50)),
    }
    a.starts_at = at(12, 10)
    outbox.sync_appointment(a, now=at(2, 9))
    db.session.commit()
    assert rows(a.id)["before"] == ("pending", at(12, 9))
    a.status = "cancelled"
    outbox.sync_appointment(a, now=at(3, 9))
    db.session.commit()
    assert {s for s, _ in rows(a.id).values()} == {"cancelled"}
    a.status = "scheduled"  # restored: its reminders come back
    outbox.sync_appointment(a, now=at(3, 9))
    db.session.commit()
    assert {s for s, _ in rows(a.id).values()} == {"pending"}


def test_a_sent_reminder_is_not_repeated_unless_the_appointment_moved_to_another_day(rctx, people):
    _, therapist, client = people
    a = appointment(client, therapist, at(10, 14), now=at(1, 9))
    before = db.session.scalar(
        select(Reminder).where(Reminder.appointment_id == a.id, Reminder.kind == "before")
    )
    before.status, before.sent_at = "sent", at(10, 13)
    db.session.commit()
    a.starts_at = at(10, 15)  # an hour later the same day: the reminder already did its job
    outbox.sync_appointment(a, now=at(10, 13, 30))
    db.session.commit()
    assert rows(a.id)["before"] == ("sent", at(10, 13))
    a.starts_at = at(17, 14)  # a week later: a new reminder is due then
    outbox.sync_appointment(a, now=at(10, 13, 30))
    db.session.commit()
    assert rows(a.id)["before"] == ("pending", at(17, 13))


def test_turning_a_kind_off_skips_it_in_the_outbox(rctx, people):
    _, therapist, client = people
    a = appointment(client, therapist, at(10, 14), now=at(1, 9))
    client.remind_nudge = False
    outbox.resync_user(client, now=at(2, 9))
    db.session.commit()
    assert rows(a.id)["nudge"][0] == "skipped"
    assert rows(a.id)["after"][0] == "pending"
