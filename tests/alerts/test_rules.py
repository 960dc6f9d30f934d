"""One test per alert rule that fires and one that does not, at the edges of each threshold (DESIGN 3)."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import alerts
from app.alerts import rules
from app.extensions import db
from app.models import Alert
from tests.dashboard.helpers import NOW, appointment, check_in, team, weekly_history


def SCORES(safe, heard, understood):  # noqa: N802 - reads like the stored JSON it builds
    return {"safe": safe, "heard": heard, "understood": understood}


def test_low_item_fires_at_threshold():
    f = rules.low_item((9, 6, 9), low=6)
    assert f and f.facts == {"scores": SCORES(9, 6, 9), "items": ["heard"], "usual": None}


def test_low_item_names_every_low_item_and_the_usual_range():
    f = rules.low_item((3, 2, 7), low=6, usual=rules.usual_range([(8, 9, 9), (9, 8, 8)]))
    assert f.facts == {"scores": SCORES(3, 2, 7), "items": ["safe", "heard"], "usual": [8, 9]}


def test_low_item_quiet_just_above():
    assert rules.low_item((7, 7, 10), low=6) is None


def test_drop_from_previous_fires_at_two_points():
    f = rules.drop_from_previous((9, 7, 9), (9, 9, 9), drop=2)
    assert f.rule == "drop_previous"
    assert f.facts == {"scores": SCORES(9, 7, 9), "items": ["heard"], "previous": SCORES(9, 9, 9)}


def test_drop_from_previous_names_every_item_that_dropped():
    f = rules.drop_from_previous((6, 7, 9), (9, 9, 10), drop=2)
    assert f.facts["items"] == ["safe", "heard"]


def test_drop_from_previous_quiet_at_one_point_and_without_history():
    assert rules.drop_from_previous((8, 8, 8), (9, 9, 9), drop=2) is None
    assert rules.drop_from_previous((1, 1, 1), None, drop=2) is None


def test_below_mean_fires_three_below_with_three_earlier():
    f = rules.below_personal_mean((8, 8, 8), 27.0, 3, mean_drop=3)
    assert f.rule == "below_mean"
    assert f.facts == {"scores": SCORES(8, 8, 8), "mean": 27.0, "count": 3}


def test_below_mean_quiet_two_below_or_too_little_history():
    assert rules.below_personal_mean((8, 8, 9), 27.0, 3, mean_drop=3) is None
    assert rules.below_personal_mean((1, 1, 1), 27.0, 2, mean_drop=3) is None


def test_perfect_streak_crack_fires_on_first_nine():
    f = rules.perfect_streak_crack((10, 9, 10), [(10, 10, 10)] * 3)
    assert f.rule == "streak_crack"
    assert f.facts == {"scores": SCORES(10, 9, 10), "items": ["heard"], "streak": 3}


def test_perfect_streak_crack_quiet_when_streak_short_or_broken_or_still_perfect():
    assert rules.perfect_streak_crack((10, 9, 10), [(10, 10, 10)] * 2) is None
    assert (
        rules.perfect_streak_crack((10, 9, 10), [(10, 10, 10), (10, 10, 9), (10, 10, 10)]) is None
    )
    assert rules.perfect_streak_crack((10, 10, 10), [(10, 10, 10)] * 3) is None


def test_worse_than_before_fires_at_three_points():
    f = rules.worse_than_before((9, 9, 8), (9, 9, 10), prepost_drop=3)
    assert f is None  # 2 points: quiet
    f = rules.worse_than_before((9, 8, 8), (9, 9, 10), prepost_drop=3)
    assert f.rule == "worse_after"
    assert f.facts == {"scores": SCORES(9, 8, 8), "before": SCORES(9, 9, 10)}


def test_worse_than_before_quiet_without_before():
    assert rules.worse_than_before((1, 1, 1), None, prepost_drop=3) is None


def test_missing_after_fires_on_low_before_or_previous_alert():
    assert rules.missing_after((9, 6, 9), False, low=6).facts == {
        "reason": "low_before",
        "before": SCORES(9, 6, 9),
        "items": ["heard"],
    }
    assert rules.missing_after(None, True, low=6).facts == {"reason": "previous_alert"}


def test_missing_after_quiet_when_before_fine_and_no_previous_alert():
    assert rules.missing_after((7, 7, 7), False, low=6) is None
    assert rules.missing_after(None, False, low=6) is None


# Stored alerts, through the hook the check-in API calls --------------------------------------------


def _rules_for(check_in_row):
    return sorted(
        a.rule
        for a in db.session.scalars(select(Alert).where(Alert.check_in_id == check_in_row.id))
    )


def test_hook_stores_drop_with_words(ctx):
    _, t1, _, c1, *_ = team()
    weekly_history(c1, t1, [(9, 9, 9)], end=NOW - timedelta(weeks=1))
    row = check_in(c1, t1, (9, 7, 9), at=NOW)
    assert _rules_for(row) == ["drop_previous"]
    alert = db.session.scalar(select(Alert).where(Alert.check_in_id == row.id))
    assert alert.facts == {
        "scores": SCORES(9, 7, 9),
        "items": ["heard"],
        "previous": SCORES(9, 9, 9),
    }
    with ctx.test_request_context():
        assert alerts.describe(alert) == "felt less heard than last time (9 → 7)"


def test_hook_uses_practice_thresholds(ctx):
    _, t1, _, c1, *_ = team(low_threshold=8)
    row = check_in(c1, t1, (8, 9, 9), at=NOW)
    assert _rules_for(row) == ["low_item"]


def test_hook_streak_and_mean_use_named_history_only(ctx):
    _, t1, _, c1, *_ = team()
    weekly_history(c1, t1, [(10, 10, 10)] * 3, end=NOW - timedelta(weeks=1))
    # An anonymous 5/5/5 in between must neither break the streak nor lower the mean.
    check_in(c1, t1, (5, 5, 5), at=NOW - timedelta(days=2), visibility="anonymous")
    row = check_in(c1, t1, (10, 10, 9), at=NOW)
    assert _rules_for(row) == ["streak_crack"]


def test_hook_below_mean_and_worse_after(ctx):
    _, t1, _, c1, *_ = team()
    weekly_history(c1, t1, [(9, 9, 9)] * 3, end=NOW - timedelta(weeks=1))
    appt = appointment(t1, c1, NOW - timedelta(hours=1))
    check_in(c1, t1, (9, 9, 9), at=NOW - timedelta(hours=2), phase="before", appt=appt)
    row = check_in(c1, t1, (8, 8, 8), at=NOW, appt=appt)
    assert _rules_for(row) == ["below_mean", "worse_after"]


@pytest.mark.parametrize("visibility,phase", [("anonymous", "after"), ("named", "before")])
def test_hook_ignores_anonymous_and_before(ctx, visibility, phase):
    _, t1, _, c1, *_ = team()
    weekly_history(c1, t1, [(10, 10, 10)] * 3, end=NOW - timedelta(weeks=1))
    row = check_in(c1, t1, (0, 0, 0), at=NOW, visibility=visibility, phase=phase)
    assert _rules_for(row) == []
    assert db.session.scalar(select(Alert.id)) is None


# The periodic pass for missing after-check-ins, with a fixed clock -------------------------------


def test_scan_missing_after_low_before_fires_only_once_window_closed(ctx):
    _, t1, _, c1, *_ = team()
    appt = appointment(t1, c1, NOW)
    check_in(c1, t1, (6, 9, 9), at=NOW - timedelta(hours=1), phase="before", appt=appt)
    closes = NOW + timedelta(minutes=50, hours=72)
    assert alerts.scan_missing(now=closes - timedelta(seconds=1)) == []
    made = alerts.scan_missing(now=closes)
    assert [(a.appointment_id, a.rule) for a in made] == [(appt.id, "missing_after")]
    assert alerts.scan_missing(now=closes + timedelta(hours=1)) == []  # idempotent


def test_scan_missing_quiet_when_before_fine_or_after_given(ctx):
    _, t1, _, c1, *_ = team()
    fine = appointment(t1, c1, NOW)
    check_in(c1, t1, (7, 7, 7), at=NOW - timedelta(hours=1), phase="before", appt=fine)
    answered = appointment(t1, c1, NOW + timedelta(days=1))
    check_in(
        c1,
        t1,
        (2, 2, 2),
        at=NOW + timedelta(days=1) - timedelta(hours=1),
        phase="before",
        appt=answered,
    )
    check_in(
        c1, t1, (9, 9, 9), at=NOW + timedelta(days=1, hours=1), appt=answered, raise_alerts=False
    )
    assert alerts.scan_missing(now=NOW + timedelta(days=5)) == []


def test_scan_missing_after_previous_alert(ctx):
    _, t1, _, c1, *_ = team()
    first = appointment(t1, c1, NOW - timedelta(days=7))
    check_in(c1, t1, (3, 9, 9), at=NOW - timedelta(days=7, hours=-1), appt=first)  # low_item alert
    second = appointment(t1, c1, NOW)
    made = alerts.scan_missing(now=NOW + timedelta(days=4))
    assert [(a.appointment_id, a.facts) for a in made] == [
        (second.id, {"reason": "previous_alert"})
    ]


def test_scan_missing_ignores_cancelled_appointments(ctx):
    _, t1, _, c1, *_ = team()
    cancelled = appointment(t1, c1, NOW)
    cancelled.status = "cancelled"
    check_in(c1, t1, (1, 1, 1), at=NOW - timedelta(hours=1), phase="before", appt=cancelled)
    assert alerts.scan_missing(now=NOW + timedelta(days=4)) == []


def test_scan_missing_treats_an_anonymous_after_as_missing(ctx):
    """Whether a client answered anonymously must not change what the therapist sees (DESIGN 4)."""
    _, t1, _, c1, *_ = team()
    appt = appointment(t1, c1, NOW)
    check_in(c1, t1, (3, 9, 9), at=NOW - timedelta(hours=1), phase="before", appt=appt)
    check_in(c1, t1, (9, 9, 9), at=NOW + timedelta(hours=1), appt=appt, visibility="anonymous")
    made = alerts.scan_missing(now=NOW + timedelta(days=4))
    assert [(a.appointment_id, a.rule) for a in made] == [(appt.id, "missing_after")]


def test_flask_alerts_scan_command(ctx):
    _, t1, _, c1, *_ = team()
    appt = appointment(t1, c1, NOW - timedelta(days=4))
    check_in(c1, t1, (2, 9, 9), at=NOW - timedelta(days=4, hours=1), phase="before", appt=appt)
    db.session.commit()
    result = ctx.test_cli_runner().invoke(args=["alerts", "scan"])
    assert result.exit_code == 0 and "1 missing-check-in alert(s) added" in result.output
    db.session.expire_all()
    alert = db.session.scalar(select(Alert).where(Alert.appointment_id == appt.id))
    assert alert.rule == "missing_after"
    result = ctx.test_cli_runner().invoke(args=["alerts", "scan"])
    assert "0 missing-check-in alert(s) added" in result.output
