"""A pooled PostgreSQL connection that died while idle (a restart, a killed backend, an idle cut) never
fails the next request or the next reminder pass, without a ping on every checkout (issue 12).

The pool pings only connections idle longer than DATABASE_PING_IDLE_SECONDS (app/extensions.py); these
tests set it small, kill the pooled connection's backend, wait past it, and expect success.
"""

import time

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db, ping_when_idle
from app.models import CheckIn, utcnow
from app.reminders.dispatch import policy_from, run_once
from tests import factories
from tests.checkins.helpers import body, people
from tests.conftest import base_config, empty_tables, migrated
from tests.support.databases import postgres_base_url

IDLE = 0.2  # seconds, the test's threshold


@pytest.fixture
def pg_app(pg_schema_url, tmp_path):
    migrated(pg_schema_url, str(tmp_path))
    app = create_app({**base_config(pg_schema_url, ""), "DATABASE_PING_IDLE_SECONDS": IDLE})
    with app.app_context():
        empty_tables()
    yield app
    with app.app_context():
        db.session.remove()
        empty_tables()
        db.engine.dispose()


def _pooled_backend(app) -> int:
    """The backend pid of the one connection the app's pool holds (used, then returned)."""
    with app.app_context():
        db.engine.dispose()  # one connection in the pool from here on: the next checkout gets it
        pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        db.session.remove()
    return pid


def _kill(pid: int) -> None:
    """Terminate a backend from outside the app (what a database restart does to every one)."""
    engine = sa.create_engine(postgres_base_url())
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    engine.dispose()
    time.sleep(IDLE * 2)  # the backend is gone and the connection idle past the threshold


@pytest.mark.postgres
def test_a_check_in_after_the_pooled_connection_died_while_idle_succeeds(pg_app):
    http = pg_app.test_client()
    with pg_app.app_context():
        _, _, client = people()
        factories.sign_in(http, client)
        db.session.remove()
    dead = _pooled_backend(pg_app)
    _kill(dead)
    sent = body()
    response = http.post("/api/check-ins", json=sent)
    assert response.status_code == 201, response.get_data(as_text=True)
    with pg_app.app_context():
        assert db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar() != dead
        assert db.session.query(CheckIn).filter_by(idempotency_key=sent["idempotency_key"]).count()


@pytest.mark.postgres
def test_a_reminder_pass_after_the_pooled_connection_died_while_idle_succeeds(pg_app):
    dead = _pooled_backend(pg_app)
    _kill(dead)
    with pg_app.app_context():
        report = run_once(None, now=utcnow(), policy=policy_from(pg_app.config), limit=10)
        assert report.claimed == 0  # nothing due: the claim statement ran on a live connection
        db.session.remove()


class Pings:
    """A stand-in dialect and pool record: counts pings, can fail them."""

    def __init__(self, fail=False):
        self.count = 0
        self.fail = fail

    def do_ping(self, _dbapi_connection):
        self.count += 1
        if self.fail:
            raise OSError("server closed the connection unexpectedly")
        return True


class Record:
    def __init__(self):
        self.info = {}


def _listeners(engine_dialect, idle):
    """The checkin and checkout listeners `ping_when_idle` registers, on a fake engine."""
    registered = {}

    class Engine:
        dialect = engine_dialect

    def listen(_target, name, fn):
        registered[name] = fn

    ping_when_idle(Engine, idle, listen=listen)
    return registered["checkin"], registered["checkout"]


def test_a_connection_used_within_the_threshold_is_not_pinged():
    dialect = Pings()
    checkin, checkout = _listeners(dialect, idle=60)
    record = Record()
    checkout(object(), record, None)  # a fresh connection: nothing to test
    checkin(object(), record)
    checkout(object(), record, None)  # back within a second: no round trip
    assert dialect.count == 0


def test_a_connection_idle_past_the_threshold_is_pinged_and_a_failed_ping_asks_for_another():
    dialect = Pings(fail=True)
    checkin, checkout = _listeners(dialect, idle=0.01)
    record = Record()
    checkin(object(), record)
    time.sleep(0.05)
    with pytest.raises(sa.exc.DisconnectionError):  # the pool then connects afresh
        checkout(object(), record, None)
    assert dialect.count == 1
    checkin(None, None)  # a connection detached or invalidated at checkin: nothing to record
