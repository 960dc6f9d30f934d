"""The weekly trend numbers, checked against values worked out by hand (stats.weekly is one statement
for the means, the count and the before-to-after change, and one for the response rate)."""

from datetime import UTC, datetime, timedelta

import flask_babel
import pytest
from flask_babel import _get_current_context, force_locale

from app.dashboard import stats
from app.extensions import db
from app.i18n import LANGUAGES, format_many, format_when
from tests import factories

from .helpers import NOW, appointment, check_in, team


def test_weekly_means_count_change_and_response_rate(ctx):
    p, t1, t2, c1, c2, _admin = team()
    c3 = factories.user(p, "client", therapist=t1)
    day = stats.week_starts(NOW, "UTC")[-2] + timedelta(hours=10)  # Monday of this week
    if day + timedelta(hours=6) > NOW:  # keep every row in the past: use last week
        day -= timedelta(weeks=1)
    a1 = appointment(t1, c1, day)
    a2 = appointment(t1, c3, day + timedelta(hours=2))
    a3 = appointment(t1, c1, day + timedelta(hours=4))  # no after-check-in: lowers the rate
    later = day + timedelta(hours=5)
    check_in(c1, t1, (5, 5, 5), at=day - timedelta(hours=1), phase="before", appt=a1)
    check_in(c1, t1, (8, 6, 7), at=later, appt=a1)  # change 21 - 15 = +6
    check_in(c3, t1, (4, 4, 4), at=later, phase="before", appt=a2, visibility="anonymous")
    check_in(c3, t1, (2, 4, 9), at=later, appt=a2)  # its before is anonymous: no change
    check_in(c1, t1, (0, 0, 0), at=later, appt=a3, phase="before")
    check_in(c1, t1, (1, 1, 1), at=later, visibility="anonymous")  # never in named trends
    check_in(c2, t2, (10, 10, 10), at=later)  # another therapist's
    db.session.commit()
    weeks = stats.weekly(t1.id, now=NOW, tz_name="UTC")
    w = next(w for w in weeks if w.start <= day < w.start + timedelta(weeks=1))
    assert (w.safe, w.heard, w.understood, w.after_count) == (5.0, 5.0, 8.0, 2)
    assert w.prepost == 6.0
    assert (w.appointments, w.answered, w.response_rate) == (3, 2, 67)
    assert sum(x.after_count for x in weeks) == 2


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Pacific/Auckland"])
def test_format_many_writes_what_format_when_writes(in_request, language, zone):
    """The week table's times come from i18n.format_many (patterns looked up once, equal days and
    clock times written once): the same text as format_when, value by value, across a DST change, in
    every language and zone one after the other (what one language wrote is kept for it alone)."""
    start = datetime(2026, 3, 27, 5, 45, tzinfo=UTC)  # Europe and the US change clocks around here
    values = [start + timedelta(minutes=95 * i) for i in range(200)]
    with force_locale(language):
        flask_babel.get_babel().timezone_selector = lambda: zone
        _get_current_context().babel_tzinfo = None
        assert str(flask_babel.get_timezone()) == zone
        for skeleton, clock in (("MMMEd", True), ("yMMMd", False), ("Hm", False)):
            expected = [format_when(v, skeleton, clock=clock) for v in values]
            assert format_many(values, skeleton, clock=clock) == expected
