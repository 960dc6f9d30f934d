"""The check-in fast path stays fast: one write transaction and a few statements per POST (issue 12).

A check-in should cost close to one durable insert. These tests count what one `POST /api/check-ins`
sends to the database, so an extra query, a second commit or a reload after commit fails here rather
than only in a benchmark nobody ran.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import time_machine
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import Alert, CheckIn, UserSession, utcnow
from app.web_session import TOUCH_EVERY
from tests import factories
from tests.checkins.helpers import body, people

# A new check-in on the fast path (app/checkins/fast_path.py): the session, care link or appointment,
# thresholds and alert history in one read, then the insert (PostgreSQL: one statement for an
# unscheduled one). Alerts add one INSERT. A replay adds the read of the stored row.
MAX_STATEMENTS = 2
# The usual way, for a session due a touch: session, insert, history, stored-row read and the touch.
MAX_USUAL_STATEMENTS = 5
WRITES = ("INSERT", "UPDATE", "DELETE")


def writes(statement: str) -> bool:
    """INSERT, UPDATE or DELETE, also inside a WITH (PostgreSQL's insert that reads the history)."""
    text = statement.lstrip().upper()
    return text.startswith(WRITES) or (
        text.startswith("WITH") and any(f"({w} " in text for w in WRITES)
    )


@dataclass
class Traffic:
    statements: list[str] = field(default_factory=list)
    commits: list[list[str]] = field(default_factory=list)  # the statements each COMMIT ended
    open: list[str] = field(default_factory=list)

    def write_transactions(self) -> int:
        return sum(any(writes(s) for s in t) for t in self.commits)

    def after_last_commit(self) -> list[str]:
        return self.open


@contextmanager
def traffic(app):
    """Record every statement the app's engine runs, grouped by the transaction that COMMIT ended."""
    seen = Traffic()

    def before(conn, cursor, statement, *args):
        seen.statements.append(statement)
        seen.open.append(statement)

    def commit(conn):
        seen.commits.append(seen.open)
        seen.open = []

    def rollback(conn):
        seen.open = []

    with app.app_context():
        engine = db.engine
    hooks = [("before_cursor_execute", before), ("commit", commit), ("rollback", rollback)]
    for name, fn in hooks:
        event.listen(engine, name, fn)
    try:
        yield seen
    finally:
        for name, fn in hooks:
            event.remove(engine, name, fn)


def signed_in(app, client, *, last_seen_ago=timedelta(0), appointment=False):
    """A client with a therapist, signed in on `client`; optionally an open appointment and its
    before-check-in (so the alert rules read the 'before' answers)."""
    with app.app_context():
        _practice, therapist, person = people()
        token = factories.sign_in(client, person)
        row = db.session.scalar(select(UserSession).where(UserSession.user_id == person.id))
        row.last_seen_at = utcnow() - last_seen_ago
        appointment_id = None
        if appointment:
            appt = factories.appointment(therapist, person, utcnow() - timedelta(minutes=55))
            db.session.flush()
            appointment_id = appt.id
        db.session.commit()
        return token, appointment_id


def post(client, **overrides):
    return client.post("/api/check-ins", json=body(**overrides))


def describe(seen: Traffic) -> str:
    return "\n".join(seen.statements)


def test_a_check_in_is_one_write_transaction_and_a_few_statements(app, client):
    signed_in(app, client)
    post(client)  # warm: first-request work (caches, pool) is not per-request cost
    with traffic(app) as seen:
        res = post(client)
    assert res.status_code == 201, res.get_json()
    assert len(seen.statements) <= MAX_STATEMENTS, describe(seen)
    assert seen.write_transactions() == 1, describe(seen)
    assert len(seen.commits) == 1, describe(seen)
    assert seen.after_last_commit() == [], "nothing is reloaded after commit:\n" + describe(seen)


def test_a_stale_last_seen_is_touched_in_the_check_ins_transaction(app, client):
    token, _ = signed_in(app, client, last_seen_ago=TOUCH_EVERY + timedelta(minutes=1))
    with traffic(app) as seen:
        res = post(client)
    assert res.status_code == 201, res.get_json()
    assert seen.write_transactions() == 1, describe(seen)
    assert len(seen.commits) == 1, describe(seen)
    assert len(seen.statements) <= MAX_USUAL_STATEMENTS, describe(seen)
    with app.app_context():
        row = db.session.scalar(select(UserSession))
        assert utcnow() - row.last_seen_at < timedelta(minutes=1)


def test_an_after_check_in_with_its_before_answers_stays_in_budget(app, client):
    _token, appointment_id = signed_in(app, client, appointment=True)
    before = post(client, appointment_id=appointment_id, phase="before", safe=9, heard=9)
    assert before.status_code == 201, before.get_json()
    with traffic(app) as seen:
        res = post(client, appointment_id=appointment_id, phase="after", safe=2, heard=2)
    assert res.status_code == 201, res.get_json()
    with app.app_context():
        rules = db.session.scalars(select(Alert.rule).where(Alert.check_in_id == res.json["id"]))
        assert "worse_after" in set(rules)
        alerts = db.session.scalar(select(func.count(Alert.id)))
    assert len(seen.statements) <= MAX_STATEMENTS + 1, describe(seen)  # all its alerts: one INSERT
    assert alerts >= 1
    assert seen.write_transactions() == 1, describe(seen)
    assert seen.after_last_commit() == [], describe(seen)


def test_a_replay_stores_nothing_and_stays_in_budget(app, client):
    signed_in(app, client)
    first = body()
    assert client.post("/api/check-ins", json=first).status_code == 201
    with traffic(app) as seen:
        res = client.post("/api/check-ins", json=first)
    assert res.status_code == 200
    assert len(seen.commits) <= 1, describe(seen)
    assert len(seen.statements) <= MAX_STATEMENTS + 1, describe(seen)  # + the stored row
    with app.app_context():
        assert len(db.session.scalars(select(CheckIn)).all()) == 1


def test_a_refused_check_in_still_counts_as_activity(app, client):
    """The last-seen time rides on the check-in's commit; a request that does not commit saves it alone,
    so idle timeouts still count every request."""
    start = utcnow().replace(microsecond=0)
    with time_machine.travel(start, tick=False) as clock:
        signed_in(app, client)
        clock.shift(timedelta(days=29))
        res = post(client, safe=11)
        assert res.status_code == 422
        clock.shift(timedelta(days=29))
        assert client.get("/api/session").get_json().get("role") == "client"
        with app.app_context():
            row = db.session.scalar(select(UserSession))
            assert row.revoked_at is None
            assert row.last_seen_at == utcnow()


@contextmanager
def attached():
    """Every object the ORM session starts tracking while this is open."""
    seen = []

    def attach(_session, instance):
        seen.append(type(instance).__name__)

    event.listen(db.session, "after_attach", attach)
    try:
        yield seen
    finally:
        event.remove(db.session, "after_attach", attach)


def test_a_new_check_in_builds_no_orm_object_but_its_alerts_are_stored(app, client):
    """Building and tracking a CheckIn object cost about a tenth of a check-in's CPU (issue 12): the
    insert is one Core statement, so nothing needs one; nor do its alerts, inserted on the same
    connection (app/checkins/fast_path.py)."""
    _token, appointment_id = signed_in(app, client, appointment=True)
    before = post(client, appointment_id=appointment_id, phase="before", safe=9, heard=9)
    assert before.status_code == 201, before.get_json()
    with attached() as quiet:
        res = post(client, appointment_id=None, phase="after")
    assert res.status_code == 201, res.get_json()
    assert quiet == [], quiet
    with attached() as alarmed:
        res = post(client, appointment_id=appointment_id, phase="after", safe=2, heard=2)
    assert res.status_code == 201, res.get_json()
    assert alarmed == [], alarmed
    with app.app_context():
        stored = db.session.get(CheckIn, res.json["id"])
        assert (stored.safe, stored.phase, stored.appointment_id) == (2, "after", appointment_id)
        assert {a.check_in_id for a in db.session.scalars(select(Alert))} == {stored.id}
