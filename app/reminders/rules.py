"""When each reminder is due (DESIGN 2): plain functions over an appointment, settings and `now`.

Defaults come from the practice (`Timing`'s own from `settings.PRACTICE`); a client can turn each kind off
and set their own quiet hours. Quiet hours delay a reminder to their end, and a reminder that would then miss
its deadline is skipped.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from .. import settings
from ..i18n import zone
from ..windows import AFTER_CLOSES, ends_at

KINDS = ("before", "after", "nudge")
PHASE_OF = {"before": "before", "after": "after", "nudge": "after"}


@dataclass(frozen=True)
class Timing:
    """The reminder settings in force for one client."""

    before_minutes: int = settings.default("before_reminder_minutes")
    after_minutes: int = settings.default("after_reminder_minutes")
    nudge_hours: int = settings.default("nudge_hours")
    quiet_start: int = settings.default("quiet_start_minute")  # minutes after local midnight
    quiet_end: int = settings.default("quiet_end_minute")
    time_zone: str = "UTC"
    enabled: frozenset = frozenset(KINDS)


def timing_for(user) -> Timing:
    """Merge the practice defaults with the client's own overrides."""
    practice = user.practice
    enabled = {k for k in KINDS if getattr(user, f"remind_{k}") is not False}
    return Timing(
        before_minutes=practice.before_reminder_minutes,
        after_minutes=practice.after_reminder_minutes,
        nudge_hours=practice.nudge_hours,
        quiet_start=_pick(user.quiet_start_minute, practice.quiet_start_minute),
        quiet_end=_pick(user.quiet_end_minute, practice.quiet_end_minute),
        time_zone=user.time_zone or "UTC",
        enabled=frozenset(enabled),
    )


def _pick(own: int | None, default: int) -> int:
    return default if own is None else own


def planned_at(appointment, kind: str, timing: Timing) -> datetime:
    """The moment `kind` would go out if quiet hours did not exist."""
    if kind == "before":
        return appointment.starts_at - timedelta(minutes=timing.before_minutes)
    if kind == "after":
        return ends_at(appointment) + timedelta(minutes=timing.after_minutes)
    return ends_at(appointment) + timedelta(hours=timing.nudge_hours)


def send_deadline(appointment, kind: str) -> datetime:
    """After this a reminder is pointless: the session started (before) or the check-in closed."""
    if kind == "before":
        return appointment.starts_at
    return ends_at(appointment) + AFTER_CLOSES


def expires_at(appointment, kind: str) -> datetime:
    """When the check-in window closes: the push's TTL runs until then."""
    if kind == "before":
        return ends_at(appointment)
    return ends_at(appointment) + AFTER_CLOSES


def quiet_end_after(moment: datetime, timing: Timing) -> datetime | None:
    """The end of the quiet period containing `moment`, or None when `moment` is not in quiet hours."""
    start, end = timing.quiet_start % 1440, timing.quiet_end % 1440
    if start == end:
        return None
    tz = zone(timing.time_zone)
    local = moment.astimezone(tz)
    minute = local.hour * 60 + local.minute
    overnight = start > end
    inside = (minute >= start or minute < end) if overnight else (start <= minute < end)
    if not inside:
        return None
    day = local.date()
    if overnight and minute >= start:
        day += timedelta(days=1)
    wall = datetime.combine(day, time(end // 60, end % 60))
    return _resolve(wall, tz).astimezone(moment.tzinfo)


def _resolve(wall: datetime, tz) -> datetime:
    """Attach `tz` to a wall-clock time; a time skipped by a DST jump moves forward, not back."""
    aware = wall.replace(tzinfo=tz)
    roundtrip = aware.astimezone(tz).replace(tzinfo=None)
    return aware if roundtrip == wall else wall.replace(tzinfo=tz, fold=1)


def due_at(appointment, kind: str, timing: Timing) -> datetime | None:
    """When to send `kind` for `appointment`, or None when it must not be sent at all."""
    if kind not in timing.enabled or appointment.status != "scheduled":
        return None
    moment = planned_at(appointment, kind, timing)
    moment = quiet_end_after(moment, timing) or moment
    return moment if moment < send_deadline(appointment, kind) else None
