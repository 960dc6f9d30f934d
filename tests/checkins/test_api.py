"""POST /api/check-ins: 201, replay 200, 409, 4xx naming the field, 403, window rules, one transaction."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CheckIn, utcnow
from tests import factories
from tests.checkins.helpers import appointment, body, people


def count() -> int:
    return db.session.scalar(select(func.count(CheckIn.id)))


@pytest.fixture
def setup(ctx, client):
    practice, therapist, me = people()
    now = utcnow()
    appt = appointment(therapist, me, now - timedelta(hours=2))
    factories.sign_in(client, me)
    return therapist, me, appt


def test_stores_then_replays_then_conflicts(setup, client):
    therapist, me, appt = setup
    data = body(appointment_id=appt.id, comment="Thanks")
    first = client.post("/api/check-ins", json=data)
    assert first.status_code == 201, first.json
    row = db.session.scalar(select(CheckIn))
    assert (row.appointment_id, row.therapist_id, row.client_id) == (appt.id, therapist.id, me.id)
    assert (row.safe, row.heard, row.understood, row.comment) == (8, 9, 7, "Thanks")
    replay = client.post("/api/check-ins", json=data)
    assert replay.status_code == 200 and replay.json == first.json
    changed = client.post("/api/check-ins", json={**data, "safe": 2})
    assert changed.status_code == 409
    assert count() == 1


def test_unscheduled_goes_to_the_care_link_therapist(setup, client):
    therapist, me, _ = setup
    res = client.post("/api/check-ins", json=body(phase="before"))
    assert res.status_code == 201
    assert db.session.scalar(select(CheckIn.therapist_id)) == therapist.id
    assert res.json["appointment_id"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"safe": 11}, "safe"),
        ({"heard": -1}, "heard"),
        ({"understood": "7"}, "understood"),
        ({"safe": True}, "safe"),
        ({"safe": 7.5}, "safe"),
        ({"phase": "during"}, "phase"),
        ({"visibility": "public"}, "visibility"),
        ({"comment": "x" * 1001}, "comment"),
        ({"comment": "nul\x00"}, "comment"),
        ({"idempotency_key": "short"}, "idempotency_key"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"created_at": "2026-01-01T10:00:00"}, "created_at"),
        ({"appointment_id": "12"}, "appointment_id"),
    ],
)
def test_bad_fields_are_named_and_nothing_is_stored(setup, client, change, field):
    res = client.post("/api/check-ins", json=body(**change))
    assert res.status_code in (400, 422)
    assert res.json["field"] == field and res.json["error"]
    assert count() == 0


def test_not_json_is_400(setup, client):
    res = client.post("/api/check-ins", data="{nope", content_type="application/json")
    assert res.status_code == 400 and "error" in res.json
    res = client.post("/api/check-ins", data="[" * 50000, content_type="application/json")
    assert res.status_code == 400


def test_someone_elses_appointment_is_403(setup, client):
    therapist, me, _ = setup
    other = factories.user(factories.practice(), "client", therapist=therapist)
    theirs = appointment(therapist, other, utcnow() - timedelta(hours=1))
    res = client.post("/api/check-ins", json=body(appointment_id=theirs.id))
    assert res.status_code == 403
    assert count() == 0


def test_before_after_the_session_ended_is_422(setup, client):
    _, _, appt = setup
    res = client.post("/api/check-ins", json=body(appointment_id=appt.id, phase="before"))
    assert res.status_code == 422 and "ended" in res.json["error"]


def test_second_check_in_for_same_phase_is_409(setup, client):
    _, _, appt = setup
    assert client.post("/api/check-ins", json=body(appointment_id=appt.id)).status_code == 201
    again = client.post("/api/check-ins", json=body(appointment_id=appt.id))
    assert again.status_code == 409
    assert count() == 1


def test_signed_out_is_401_and_therapist_is_403(ctx, client):
    assert client.post("/api/check-ins", json=body()).status_code == 401
    practice, therapist, _ = people()
    factories.sign_in(client, therapist)
    assert client.post("/api/check-ins", json=body()).status_code == 403


def test_csrf_header_is_required(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        _, _, me = people()
        factories.sign_in(client, me)
        res = client.post("/api/check-ins", json=body(phase="before"))
        assert res.status_code == 400
        token = client.get("/api/session").json["csrf_token"]
        res = client.post(
            "/api/check-ins", json=body(phase="before"), headers={"X-CSRFToken": token}
        )
        assert res.status_code == 201


def test_rate_limited_per_user(make_app):
    app = make_app(RATELIMIT_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        _, _, me = people()
        factories.sign_in(client, me)
        codes = [client.post("/api/check-ins", json={}).status_code for _ in range(61)]
    assert codes[:60] == [422] * 60 and codes[60] == 429
