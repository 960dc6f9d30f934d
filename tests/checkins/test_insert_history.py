"""On PostgreSQL the insert and the alert rules' history read are one statement (issue 12: one round
trip less per named after-check-in); the rules see the same answers either way, on both databases."""

import secrets
from datetime import timedelta

from sqlalchemy import select

from app.checkins import service
from app.extensions import db
from app.models import Alert
from tests.checkins.test_statement_budget import post, signed_in, traffic
from tests.dashboard.helpers import NOW, appointment, check_in, team, weekly_history


def submit(client, scores, *, at=NOW, appt=None, key=None):
    body = {
        "idempotency_key": key or secrets.token_hex(8),
        "appointment_id": appt.id if appt else None,
        "phase": "after",
        "safe": scores[0],
        "heard": scores[1],
        "understood": scores[2],
        "visibility": "named",
        "created_at": at.isoformat(),
    }
    row, created = service.submit(client, service.parse(body, now=NOW), now=NOW)
    db.session.flush()
    return row, created


def rules_for(row_id) -> list[str]:
    return sorted(db.session.scalars(select(Alert.rule).where(Alert.check_in_id == row_id)))


def test_a_drop_from_the_previous_answer_is_found_through_submit(ctx):
    _, t1, _, c1, *_ = team()
    weekly_history(c1, t1, [(9, 9, 9)], end=NOW - timedelta(weeks=1))
    row, created = submit(c1, (9, 7, 9))
    assert created and rules_for(row.id) == ["drop_previous"]


def test_the_streak_and_mean_read_named_earlier_answers_only_through_submit(ctx):
    _, t1, _, c1, *_ = team()
    weekly_history(c1, t1, [(10, 10, 10)] * 3, end=NOW - timedelta(weeks=1))
    check_in(c1, t1, (5, 5, 5), at=NOW - timedelta(days=2), visibility="anonymous")
    later = NOW + timedelta(minutes=5)  # a named answer after this one is not 'earlier'
    check_in(c1, t1, (0, 0, 0), at=later, raise_alerts=False)
    row, _ = submit(c1, (10, 10, 9))
    assert rules_for(row.id) == ["streak_crack"]


def test_below_the_mean_and_worse_than_before_through_submit(ctx):
    _, t1, _, c1, *_ = team()
    weekly_history(c1, t1, [(9, 9, 9)] * 3, end=NOW - timedelta(weeks=1))
    appt = appointment(t1, c1, NOW - timedelta(hours=1))
    check_in(c1, t1, (9, 9, 9), at=NOW - timedelta(hours=2), phase="before", appt=appt)
    row, _ = submit(c1, (8, 8, 8), appt=appt)
    assert rules_for(row.id) == ["below_mean", "worse_after"]


def test_a_first_answer_and_a_replay_raise_nothing_new(ctx):
    _, t1, _, c1, *_ = team(low_threshold=8)
    row, _ = submit(c1, (7, 9, 9), key="replayed-key")
    assert rules_for(row.id) == ["low_item"]
    again, created = submit(c1, (7, 9, 9), key="replayed-key")
    assert (again.id, created) == (row.id, False)
    assert rules_for(row.id) == ["low_item"]


def test_the_session_and_history_reads_are_one_statement_and_ride_on_the_insert_on_postgresql(
    app, client
):
    """PostgreSQL: session check, insert and history are one statement; SQLite: the session and the
    history in one read, then the insert."""
    signed_in(app, client)
    post(client)  # warm
    with traffic(app) as seen:
        res = post(client, safe=9, heard=9, understood=9)
    assert res.status_code == 201, res.get_json()
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
    assert len(seen.statements) == (1 if postgres else 2), seen.statements
    first = seen.statements[0].lower()
    assert "user_session" in first and "row_number" in first, first
    if not postgres:
        assert seen.statements[1].lstrip().upper().startswith("INSERT"), seen.statements
