"""When a check-in is due (DESIGN 1, Client 4): pure rules over appointment times and a given `now`.

The before-check-in opens 24 h before the start and closes at the end; the after-check-in opens at the end
and closes 72 h later. Submissions are judged by the phone's time, with a little grace for slow hands and
skewed clocks, so a check-in filled in on time but sent later from the offline outbox still counts.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l

BEFORE_OPENS = timedelta(hours=24)
AFTER_CLOSES = timedelta(hours=72)
GRACE = timedelta(hours=6)
BEFORE_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class Window:
    phase: str
    opens: datetime
    closes: datetime

    def contains(self, moment: datetime) -> bool:
        return self.opens <= moment < self.closes


def ends_at(appointment) -> datetime:
    return appointment.starts_at + timedelta(minutes=appointment.duration_minutes)


def window(appointment, phase: str) -> Window:
    """The window in which `phase`'s check-in for `appointment` is due."""
    end = ends_at(appointment)
    if phase == "before":
        return Window("before", appointment.starts_at - BEFORE_OPENS, end)
    return Window("after", end, end + AFTER_CLOSES)


def accepts(appointment, phase: str, created_at: datetime) -> str | None:
    """None when a check-in made at `created_at` is acceptable, else the reason (shown to the client).

    Lenient: an early "after" (the session ended a few minutes early) and a late one up to a grace period
    are accepted; a "before" check-in made after the session ended is refused.
    """
    win = window(appointment, phase)
    if phase == "before":
        if created_at >= win.closes + BEFORE_GRACE:
            return _l("This session has ended, so its before-session check-in is closed.")
        if created_at < win.opens - GRACE:
            return _l("This session's before-session check-in is not open yet.")
        return None
    if created_at < win.opens - timedelta(minutes=30):
        return _l("This session has not ended yet, so its after-session check-in is not open.")
    if created_at >= win.closes + GRACE:
        return _l("This session's after-session check-in has closed.")
    return None


def due_now(appointments, done: set[tuple[int, str]], *, now: datetime):
    """The (appointment, phase) whose check-in is open now and not yet done.

    When two are open (an after-check-in still open and the next session's before-check-in), the one that
    opened most recently is the current business: it is what the client just did or is about to do.
    """
    open_now = [
        (window(a, phase).opens, a, phase)
        for a in appointments
        if a.status == "scheduled"
        for phase in ("before", "after")
        if (a.id, phase) not in done and window(a, phase).contains(now)
    ]
    if not open_now:
        return None
    _, appointment, phase = max(open_now, key=lambda t: t[0])
    return appointment, phase


def next_appointment(appointments, *, now: datetime):
    """The first scheduled appointment that has not ended yet."""
    upcoming = [a for a in appointments if a.status == "scheduled" and ends_at(a) > now]
    return min(upcoming, key=lambda a: a.starts_at, default=None)
