"""Alerts say everything that fired and the baseline it was judged against (issue 11 item 3)."""

import ast
import pathlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import alerts
from app.extensions import db
from app.models import Alert
from tests.dashboard.helpers import NOW, check_in, team, weekly_history

ALERTS_DIR = pathlib.Path(alerts.__file__).parent


def S(safe, heard, understood):  # noqa: N802 - reads like the stored JSON it builds
    return {"safe": safe, "heard": heard, "understood": understood}


@pytest.mark.parametrize(
    "rule,facts,words",
    [
        (
            "low_item",
            {"scores": S(3, 2, 2), "items": ["safe", "heard", "understood"], "usual": [8, 9]},
            "felt 3/10 safe, 2/10 heard, 2/10 understood (usually 8-9)",
        ),
        (
            "low_item",
            {"scores": S(3, 9, 5), "items": ["safe", "understood"], "usual": [9, 9]},
            "felt 3/10 safe, 5/10 understood (usually 9)",
        ),
        ("low_item", {"scores": S(9, 6, 9), "items": ["heard"], "usual": None}, "felt 6/10 heard"),
        (
            "drop_previous",
            {"scores": S(9, 7, 9), "items": ["heard"], "previous": S(9, 9, 9)},
            "felt less heard than last time (9 → 7)",
        ),
        (
            "drop_previous",
            {"scores": S(6, 7, 9), "items": ["safe", "heard"], "previous": S(9, 9, 10)},
            "felt less safe, heard than last time (safe 9 → 6, heard 9 → 7)",
        ),
        (
            "below_mean",
            {"scores": S(8, 8, 8), "mean": 26.7, "count": 4},
            "rated this session well below their usual (total 24/30, usually 26.7)",
        ),
        (
            "below_mean",
            {"scores": S(8, 8, 8), "mean": 27.0, "count": 3},
            "rated this session well below their usual (total 24/30, usually 27)",
        ),
        (
            "streak_crack",
            {"scores": S(10, 9, 8), "items": ["heard", "understood"], "streak": 3},
            "first rating below 10 after 3 perfect check-ins (9/10 heard, 8/10 understood)",
        ),
        (
            "worse_after",
            {"scores": S(9, 8, 8), "before": S(9, 9, 10)},
            "felt worse after the session than before it (total 28 → 25)",
        ),
        (
            "missing_after",
            {"reason": "low_before", "before": S(3, 9, 5), "items": ["safe", "understood"]},
            "no named after-session check-in, and the before-check-in was low"
            " (3/10 safe, 5/10 understood)",
        ),
        (
            "missing_after",
            {"reason": "previous_alert"},
            "no named after-session check-in, after an alert at the previous session",
        ),
    ],
)
def test_describe_names_every_item_and_the_baseline(app, rule, facts, words):
    with app.test_request_context():
        assert alerts.describe(Alert(rule=rule, facts=facts)) == words


def test_a_bad_session_says_everything_that_fired(ctx):
    """The issue's example, through the check-in hook and the stored JSON, on either database."""
    _, t1, _, c1, *_ = team()
    weekly_history(c1, t1, [(9, 9, 8), (8, 9, 9), (9, 8, 9)], end=NOW - timedelta(weeks=1))
    row = check_in(c1, t1, (3, 2, 2), at=NOW)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.scalars(
        select(Alert).where(Alert.check_in_id == row.id).order_by(Alert.rule)
    ).all()
    with ctx.test_request_context():
        assert {a.rule: alerts.describe(a) for a in stored} == {
            "below_mean": "rated this session well below their usual (total 7/30, usually 26)",
            "drop_previous": "felt less safe, heard, understood than last time"
            " (safe 9 → 3, heard 8 → 2, understood 9 → 2)",
            "low_item": "felt 3/10 safe, 2/10 heard, 2/10 understood (usually 8-9)",
        }


def test_every_alert_message_is_a_literal_for_the_catalogue():
    """gettext gets literal text with named placeholders only, never a string built at run time."""
    for path in ALERTS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("_", "gettext"):
                first = node.args[0] if node.args else None
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                    f"{path.name}:{node.lineno}"
                )
                assert "%s" not in first.value and "{" not in first.value, (
                    f"{path.name}:{node.lineno}"
                )
