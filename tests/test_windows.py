"""Check-in windows with fixed clocks: before opens 24 h ahead and closes at the end; after runs 72 h."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from app import windows

START = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def appt(id=1, start=START, minutes=50, status="scheduled"):
    return SimpleNamespace(id=id, starts_at=start, duration_minutes=minutes, status=status)


END = START + timedelta(minutes=50)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (START - timedelta(hours=24, seconds=1), None),
        (START - timedelta(hours=24), "before"),
        (START + timedelta(minutes=49), "before"),
        (END, "after"),
        (END + timedelta(hours=72) - timedelta(seconds=1), "after"),
        (END + timedelta(hours=72), None),
    ],
)
def test_due_now_opens_and_closes_at_the_right_instants(now, expected):
    due = windows.due_now([appt()], set(), now=now)
    assert (due[1] if due else None) == expected


def test_done_phase_is_not_due_again():
    assert windows.due_now([appt()], {(1, "after")}, now=END + timedelta(hours=1)) is None


def test_cancelled_appointment_is_never_due():
    assert windows.due_now([appt(status="cancelled")], set(), now=START) is None


def test_just_ended_sessions_after_beats_tomorrows_before():
    today = appt(1)
    tomorrow = appt(2, start=START + timedelta(hours=20))
    appointment, phase = windows.due_now([today, tomorrow], set(), now=END + timedelta(minutes=5))
    assert (appointment.id, phase) == (1, "after")


def test_accepts_is_lenient_but_refuses_a_before_after_the_end():
    a = appt()
    assert windows.accepts(a, "before", START) is None
    assert windows.accepts(a, "before", END + timedelta(hours=1)) is not None
    assert windows.accepts(a, "after", END + timedelta(hours=73)) is None  # grace
    assert windows.accepts(a, "after", END + timedelta(hours=80)) is not None
    assert windows.accepts(a, "after", START) is not None


def test_next_appointment_skips_ended_and_cancelled():
    past = appt(1, start=START - timedelta(days=7))
    cancelled = appt(2, start=START + timedelta(days=1), status="cancelled")
    later = appt(3, start=START + timedelta(days=7))
    assert (
        windows.next_appointment([past, cancelled, later], now=START + timedelta(hours=2)) is later
    )


def test_next_sessions_before_beats_an_old_after_still_open():
    old = appt(1, start=START - timedelta(hours=48))
    soon = appt(2, start=START + timedelta(hours=2))
    appointment, phase = windows.due_now([old, soon], set(), now=START)
    assert (appointment.id, phase) == (2, "before")
