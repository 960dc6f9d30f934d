"""The same check-in replayed 20 times at once against PostgreSQL: exactly one row, no 5xx."""

import threading
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from app.extensions import db
from app.models import CheckIn, utcnow
from tests import factories
from tests.checkins.helpers import appointment, body, people


@pytest.fixture
def pg_server(pg_app):
    server = make_server("127.0.0.1", 0, pg_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_twenty_concurrent_replays_store_one_row(pg_app, pg_server):
    with pg_app.app_context():
        _, therapist, me = people()
        appt = appointment(therapist, me, utcnow() - timedelta(hours=2))
        db.session.commit()
        cookie_client = pg_app.test_client()
        factories.sign_in(cookie_client, me)
        cookie = cookie_client.get_cookie(pg_app.config["SESSION_COOKIE_NAME"]).value
        data = body(appointment_id=appt.id)
    barrier = threading.Barrier(20)
    codes = []

    def replay():
        with requests.Session() as s:
            s.cookies.set(pg_app.config["SESSION_COOKIE_NAME"], cookie)
            barrier.wait(timeout=10)
            codes.append(s.post(f"{pg_server}/api/check-ins", json=data, timeout=30).status_code)

    threads = [threading.Thread(target=replay) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(codes) == 20
    assert sorted(set(codes)) in ([200, 201], [201]), codes
    assert codes.count(201) == 1
    with pg_app.app_context():
        assert db.session.scalar(select(func.count(CheckIn.id))) == 1
