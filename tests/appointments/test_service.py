"""Scheduling rules with fixed clocks: series, moves, cancels, time zones, reminder sync in one transaction."""

from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select

from app import windows
from app.appointments import service
from app.extensions import db
from app.models import Appointment
from tests import factories

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def pair(ctx):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist", time_zone="America/Los_Angeles")
    client = factories.user(practice, "client", therapist=therapist, time_zone="Pacific/Auckland")
    return therapist, client


def test_weekly_series_keeps_local_wall_time_across_dst(pair):
    therapist, client = pair
    # US DST starts 8 March 2026: 10:00 in Los Angeles is 18:00 UTC before and 17:00 UTC after.
    made = service.schedule(
        therapist,
        client,
        local_date=date(2026, 3, 3),
        local_time=time(10, 0),
        duration=50,
        weeks=3,
        now=NOW,
    )
    assert [a.starts_at.hour for a in made] == [18, 17, 17]
    assert len({a.series_id for a in made}) == 1 and made[0].series_id
    for a in made:
        assert service.local_parts(a.starts_at, "America/Los_Angeles")[1] == time(10, 0)


def test_client_in_auckland_and_therapist_in_la_see_the_same_instant(pair):
    therapist, client = pair
    (appt,) = service.schedule(
        therapist,
        client,
        local_date=date(2026, 6, 15),
        local_time=time(16, 30),
        duration=50,
        now=NOW,
    )
    db.session.commit()
    stored = db.session.scalar(select(Appointment))
    assert stored.starts_at == datetime(2026, 6, 15, 23, 30, tzinfo=UTC)
    assert service.local_parts(stored.starts_at, therapist.time_zone) == (
        date(2026, 6, 15),
        time(16, 30),
    )
    assert service.local_parts(stored.starts_at, client.time_zone) == (
        date(2026, 6, 16),
        time(11, 30),
    )
    # The windows open and close at the right instants, whatever the zones.
    before = windows.window(stored, "before")
    after = windows.window(stored, "after")
    assert before.opens == datetime(2026, 6, 14, 23, 30, tzinfo=UTC)
    assert before.closes == after.opens == datetime(2026, 6, 16, 0, 20, tzinfo=UTC)
    assert after.closes == datetime(2026, 6, 19, 0, 20, tzinfo=UTC)


def test_move_this_and_following_splits_the_series(pair):
    therapist, client = pair
    made = service.schedule(
        therapist,
        client,
        local_date=date(2026, 4, 6),
        local_time=time(9, 0),
        duration=50,
        weeks=4,
        now=NOW,
    )
    old_series = made[0].series_id
    service.move(
        made[2],
        local_date=date(2026, 4, 21),
        local_time=time(11, 0),
        duration=60,
        scope="following",
        tz_name=therapist.time_zone,
        now=NOW,
    )
    local = [service.local_parts(a.starts_at, therapist.time_zone) for a in made]
    assert local[0] == (date(2026, 4, 6), time(9, 0))
    assert local[2] == (date(2026, 4, 21), time(11, 0))
    assert local[3] == (date(2026, 4, 28), time(11, 0))
    assert made[1].series_id == old_series and made[2].series_id == made[3].series_id != old_series
    assert made[3].duration_minutes == 60 and made[1].duration_minutes == 50


def test_move_only_this_leaves_the_rest(pair):
    therapist, client = pair
    made = service.schedule(
        therapist,
        client,
        local_date=date(2026, 4, 6),
        local_time=time(9, 0),
        duration=50,
        weeks=2,
        now=NOW,
    )
    service.move(
        made[0],
        local_date=date(2026, 4, 7),
        local_time=time(9, 0),
        duration=50,
        scope="this",
        tz_name=therapist.time_zone,
        now=NOW,
    )
    assert made[0].series_id is None
    assert service.local_parts(made[1].starts_at, therapist.time_zone)[0] == date(2026, 4, 13)


def test_cancel_following(pair):
    therapist, client = pair
    made = service.schedule(
        therapist,
        client,
        local_date=date(2026, 4, 6),
        local_time=time(9, 0),
        duration=50,
        weeks=3,
        now=NOW,
    )
    service.cancel(made[1], scope="following", now=NOW)
    assert [a.status for a in made] == ["scheduled", "cancelled", "cancelled"]


def test_refuses_strangers_and_bad_sizes(pair):
    therapist, _ = pair
    stranger = factories.user(therapist.practice, "client")
    with pytest.raises(service.ScheduleError):
        service.schedule(
            therapist,
            stranger,
            local_date=date(2026, 4, 6),
            local_time=time(9),
            duration=50,
            now=NOW,
        )
    _, client = pair
    for kw in ({"duration": 2}, {"duration": 50, "weeks": 53}):
        with pytest.raises(service.ScheduleError):
            service.schedule(
                therapist, client, local_date=date(2026, 4, 6), local_time=time(9), now=NOW, **kw
            )


def test_every_change_syncs_reminders_in_the_same_transaction(pair):
    from app.models import Reminder

    def reminders(appointment):
        rows = db.session.scalars(select(Reminder).where(Reminder.appointment_id == appointment.id))
        return {r.kind: (r.status, r.due_at) for r in rows}

    therapist, client = pair
    made = service.schedule(
        therapist,
        client,
        local_date=date(2026, 4, 6),
        local_time=time(9),
        duration=50,
        weeks=2,
        now=NOW,
    )
    first = reminders(made[0])
    assert first and {status for status, _ in first.values()} <= {"pending", "skipped"}
    service.move(
        made[0],
        local_date=date(2026, 4, 7),
        local_time=time(9),
        duration=50,
        tz_name=therapist.time_zone,
        now=NOW,
    )
    moved = reminders(made[0])
    assert any(moved[k][1] != first[k][1] for k in first)
    service.cancel(made[1], now=NOW)
    assert {status for status, _ in reminders(made[1]).values()} == {"cancelled"}
    db.session.rollback()  # nothing was committed: appointments and reminders go together
    assert db.session.scalar(select(Appointment)) is None
    assert db.session.scalar(select(Reminder)) is None


def test_dates_within_a_year_back_and_two_years_ahead(pair):
    """Far dates overflow in a time zone (9999-12-31 at UTC+14, 0001-01-01 at UTC-8): refused first."""
    therapist, client = pair
    kw = {"local_time": time(23, 30), "duration": 50, "now": NOW}
    for day in (date(2025, 2, 27), date(2028, 3, 3), date(9999, 12, 31), date(1, 1, 1)):
        with pytest.raises(service.ScheduleError):
            service.schedule(therapist, client, local_date=day, **kw)
    first, last = date(2025, 2, 28), date(2028, 3, 2)
    made = service.schedule(therapist, client, local_date=first, weeks=2, **kw)
    assert service.schedule(therapist, client, local_date=last, **kw)
    with pytest.raises(service.ScheduleError):
        service.move(
            made[0],
            local_date=date(9999, 12, 31),
            local_time=time(9),
            duration=50,
            tz_name=therapist.time_zone,
            now=NOW,
        )
