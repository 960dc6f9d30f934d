"""The check-in that checks its session inside its own statements (issue 12) decides nothing it should
not: whatever it does not cover falls back, rolled back, to the usual way.

On PostgreSQL an unscheduled check-in is one statement: the session, its user, the care link, the
thresholds and the alert history are read, checked and inserted from in one `WITH`. On SQLite it is
that read, then the insert. These tests attack that shortcut: another role's session, another
account's queue item, alerts that must share the check-in's transaction, replays, the rate limit
(checked before any lookup), and a session the statement cannot vouch for.
"""

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app.alerts import service as alert_service
from app.checkins.views import SUBMIT_LIMIT
from app.extensions import db
from app.models import Alert, CheckIn, UserSession, utcnow
from app.web_session import TOUCH_EVERY
from tests import factories
from tests.checkins.helpers import body, people
from tests.checkins.test_statement_budget import describe, traffic

LIMIT = int(SUBMIT_LIMIT.split("/")[0])


def postgres(app) -> bool:
    with app.app_context():
        return db.engine.dialect.name == "postgresql"


def count(app, model=CheckIn) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(model.id)))


def signed_in_client(app, client):
    with app.app_context():
        _practice, therapist, person = people()
        factories.sign_in(client, person)
        return therapist.id, person.id


def test_an_unscheduled_check_in_is_one_statement_on_postgresql_two_on_sqlite(app, client):
    signed_in_client(app, client)
    assert client.post("/api/check-ins", json=body()).status_code == 201  # warm
    with traffic(app) as seen:
        res = client.post("/api/check-ins", json=body())
    assert res.status_code == 201, res.get_json()
    assert len(seen.statements) == (1 if postgres(app) else 2), describe(seen)
    assert len(seen.commits) == 1, describe(seen)
    assert count(app) == 2


def test_its_alerts_are_written_in_the_same_transaction(app, client):
    therapist_id, person_id = signed_in_client(app, client)
    with traffic(app) as seen:
        res = client.post("/api/check-ins", json=body(safe=1, heard=2, understood=3))
    assert res.status_code == 201, res.get_json()
    (transaction,) = seen.commits
    assert any("INSERT INTO alert" in s for s in transaction), describe(seen)
    with app.app_context():
        alert = db.session.scalar(select(Alert))
        assert (alert.rule, alert.check_in_id) == ("low_item", res.get_json()["id"])
        assert (alert.therapist_id, alert.client_id) == (therapist_id, person_id)


def test_a_therapists_session_stores_nothing(app, client):
    with app.app_context():
        _practice, therapist, _person = people()
        factories.sign_in(client, therapist)
    res = client.post("/api/check-ins", json=body())
    assert res.status_code == 403
    assert count(app) == 0


def test_another_accounts_queue_item_is_rolled_back_not_stored(app, client):
    """The owner tag is known only once the statement found the user: a mismatch is refused after the
    insert, so the rollback must undo it."""
    bobs_phone = app.test_client()
    with app.app_context():
        _, _, alice = people()
        _, _, bob = people()
        factories.sign_in(client, alice)
        factories.sign_in(bobs_phone, bob)
    alices = client.get("/api/check-ins/owner").get_json()["owner"]
    client = bobs_phone
    res = client.post("/api/check-ins", json=body(owner=alices))
    assert res.status_code == 409 and res.get_json()["field"] == "owner"
    assert count(app) == 0
    assert client.post("/api/check-ins", json=body()).status_code == 201  # bob's own still goes


def test_a_session_revoked_by_another_device_stores_nothing(app, client):
    signed_in_client(app, client)
    assert client.post("/api/check-ins", json=body()).status_code == 201
    with app.app_context():
        db.session.scalar(select(UserSession)).revoked_at = utcnow()
        db.session.commit()
    assert client.post("/api/check-ins", json=body()).status_code == 401
    assert count(app) == 1


@pytest.mark.parametrize("answers", [{"phase": "before"}, {"visibility": "anonymous"}])
def test_check_ins_the_rules_never_read_are_stored_without_the_history(app, client, answers):
    signed_in_client(app, client)
    with traffic(app) as seen:
        res = client.post("/api/check-ins", json=body(safe=1, **answers))
    assert res.status_code == 201, res.get_json()
    assert count(app, Alert) == 0
    text = describe(seen).lower()
    assert "row_number" not in text, text  # the history's window functions were not run


def test_the_limit_holds_on_the_one_statement_path(make_app):
    """Counted per signed-in device before any lookup: the 61st valid check-in in a minute is refused
    and not stored."""
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    signed_in_client(app, client)
    codes = [client.post("/api/check-ins", json=body()).status_code for _ in range(LIMIT + 1)]
    assert codes == [201] * LIMIT + [429]
    assert count(app) == LIMIT


def test_a_replay_returns_the_stored_check_in_and_other_answers_are_refused(app, client):
    signed_in_client(app, client)
    first = body()
    stored = client.post("/api/check-ins", json=first)
    assert stored.status_code == 201
    again = client.post("/api/check-ins", json=first)
    assert again.status_code == 200 and again.get_json() == stored.get_json()
    changed = client.post("/api/check-ins", json={**first, "safe": 1})
    assert changed.status_code == 409
    assert count(app) == 1 and count(app, Alert) == 0


@pytest.mark.parametrize("resent_after", [timedelta(0), TOUCH_EVERY * 2], ids=["soon", "touch-due"])
def test_alerts_lost_after_the_check_in_committed_are_written_by_its_replay(
    app, client, monkeypatch, resent_after
):
    """On PostgreSQL the one statement commits the check-in by itself and its alerts follow: when
    writing them fails (or the process dies), the phone was not answered 2xx, sends the check-in again,
    and the replay writes the alerts, once. On SQLite the failure undoes both and the resend stores
    them together. Either way: one check-in, its alert once. A resend whose session is due a touch
    takes the usual way, which writes them too."""
    signed_in_client(app, client)
    real = alert_service._insert_new
    failures = []

    def failing_once(dialect):
        if not failures:
            failures.append(dialect)
            raise RuntimeError("the database went away between the check-in and its alerts")
        return real(dialect)

    monkeypatch.setattr(alert_service, "_insert_new", failing_once)
    low = body(safe=1)
    first = client.post("/api/check-ins", json=low)
    assert first.status_code == 500 and failures
    assert count(app) == (1 if postgres(app) else 0)  # PostgreSQL: stored, not acknowledged
    assert count(app, Alert) == 0
    with time_machine.travel(utcnow() + resent_after, tick=True):
        again = client.post("/api/check-ins", json=low)
        assert again.status_code == (200 if postgres(app) else 201), again.get_json()
        assert count(app, Alert) == 1  # written by this resend, whichever way it took
        third = client.post("/api/check-ins", json=low)
    assert third.status_code == 200
    assert count(app) == 1
    with app.app_context():
        rules = db.session.scalars(select(Alert.rule)).all()
        assert rules == ["low_item"]


def test_an_owner_tag_this_process_never_made_takes_the_usual_way(app, client):
    """The statement names the tag's user only for tags this process made; another is checked by the
    usual way, which refuses a wrong one and stores nothing."""
    signed_in_client(app, client)
    res = client.post("/api/check-ins", json=body(owner="AAAAAAAAAAAAAAAAAAAAAAAA"))
    assert res.status_code == 409 and res.get_json()["field"] == "owner"
    assert count(app) == 0
    mine = client.get("/api/check-ins/owner").get_json()["owner"]
    with traffic(app) as seen:
        res = client.post("/api/check-ins", json=body(owner=mine))
    assert res.status_code == 201, res.get_json()
    assert len(seen.statements) == (1 if postgres(app) else 2), describe(seen)


def test_a_scheduled_check_in_is_a_read_and_an_insert_and_checks_the_appointment(app, client):
    """The appointment is read with the session; the fast path stores only the client's own, scheduled,
    open appointment's check-in, and leaves every other case to the usual way's answer."""
    with app.app_context():
        _practice, therapist, person = people()
        _, _, other = people()
        factories.sign_in(client, person)
        mine = factories.appointment(therapist, person, utcnow() - timedelta(minutes=80))
        theirs = factories.appointment(therapist, other, utcnow() - timedelta(minutes=55))
        cancelled = factories.appointment(therapist, person, utcnow() - timedelta(days=1))
        cancelled.status = "cancelled"
        db.session.commit()
        ids = mine.id, theirs.id, cancelled.id
    with traffic(app) as seen:
        res = client.post("/api/check-ins", json=body(appointment_id=ids[0], phase="after"))
    assert res.status_code == 201, res.get_json()
    assert len(seen.statements) == 2, describe(seen)
    assert client.post("/api/check-ins", json=body(appointment_id=ids[1])).status_code == 403
    assert client.post("/api/check-ins", json=body(appointment_id=ids[2])).status_code == 422
    late = body(appointment_id=ids[0], phase="before")
    assert client.post("/api/check-ins", json=late).status_code == 422  # its session has ended
    assert client.post("/api/check-ins", json=body(appointment_id=2**31 - 1)).status_code == 403
    assert count(app) == 1
