"""Every practice setting in one place: its default and its allowed range (DESIGN 2, 3, 4).

The model's column defaults and CHECK constraints, the alert `Thresholds`, the reminder `Timing`, the admin's
settings form and the list of names the admin may change are all built from `PRACTICE`, so a default or a
bound is written once and the database and the form can never disagree.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from .windows import AFTER_CLOSES, BEFORE_OPENS

HOUR = 60  # minutes
DAY = 24 * HOUR
# SECURITY 39: an anonymous total needs at least this many distinct clients, whatever a practice chooses.
K_MIN = 5
DEFAULT_LOCALE = "en"


@dataclass(frozen=True)
class Setting:
    """A whole-number practice setting; `minute_of_day` ones are shown as a time of day."""

    name: str
    default: int
    lo: int
    hi: int
    label: LazyString
    minute_of_day: bool = False

    @property
    def check(self) -> str:
        """The SQL CHECK that holds the column inside the range the form allows."""
        return f"{self.name} BETWEEN {self.lo} AND {self.hi}"


PRACTICE = (
    # Alert thresholds (DESIGN 3).
    Setting("low_threshold", 6, 0, 10, _l("Low item: alert at or below")),
    Setting("drop_threshold", 2, 1, 10, _l("Drop from last time: alert at this many points")),
    Setting(
        "mean_drop_threshold", 3, 1, 30, _l("Below their usual total: alert at this many points")
    ),
    Setting(
        "prepost_drop_threshold",
        3,
        1,
        30,
        _l("Worse after than before: alert at this many points"),
    ),
    # Anonymity threshold k (DESIGN 4).
    Setting("k_anonymity", 5, K_MIN, 50, _l("Anonymity: smallest group of distinct clients (k)")),
    # Reminder timing (DESIGN 2): a before reminder goes out no earlier than its window opens, a nudge
    # before the after window closes.
    Setting(
        "before_reminder_minutes",
        60,
        5,
        int(BEFORE_OPENS.total_seconds()) // 60,
        _l("Before-session reminder (minutes before)"),
    ),
    Setting("after_reminder_minutes", 10, 0, DAY, _l("After-session reminder (minutes after)")),
    Setting(
        "nudge_hours",
        20,
        1,
        int(AFTER_CLOSES.total_seconds()) // 3600 - 1,
        _l("Nudge if still missing (hours after)"),
    ),
    # Quiet hours, in minutes after local midnight.
    Setting("quiet_start_minute", 21 * HOUR, 0, DAY - 1, _l("Quiet hours start"), True),
    Setting("quiet_end_minute", 8 * HOUR, 0, DAY - 1, _l("Quiet hours end"), True),
    # Recovery hold (DESIGN 4b): how long a passkey added through a staff member's recovery link may not
    # change the account (what was recorded before stays hidden from it whatever this says).
    Setting("recovery_hold_hours", 72, 72, 30 * 24, _l("Recovery hold (hours)")),
)
BY_NAME = {s.name: s for s in PRACTICE}
# What the admin's settings page may change: the numbers above and the practice's language.
ADMIN_SETTINGS = (*BY_NAME, "locale")


def default(name: str) -> int:
    return BY_NAME[name].default


# A change of the recovery hold applies only to recoveries started this long after it, so an admin cannot
# shorten the hold just before making a recovery link (issue 21.2).
HOLD_CHANGE_DELAY = timedelta(hours=24)


def hold_hours(
    hours: int, previous: int | None, changed_at: datetime | None, *, at: datetime
) -> int:
    """The recovery hold in force at `at`: the value set before the last change until a day after it,
    then the current one; never below the setting's floor, whatever is stored."""
    if changed_at is not None and previous is not None and at < changed_at + HOLD_CHANGE_DELAY:
        hours = previous
    return max(BY_NAME["recovery_hold_hours"].lo, hours or default("recovery_hold_hours"))
