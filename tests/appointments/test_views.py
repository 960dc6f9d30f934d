"""Therapist appointment pages: schedule, edit this-and-following, cancel; access; viewers' local times."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Appointment, utcnow
from tests import factories


def setup_people():
    practice = factories.practice()
    therapist = factories.user(practice, "therapist", time_zone="America/Los_Angeles")
    client = factories.user(
        practice, "client", therapist=therapist, time_zone="Pacific/Auckland", display_name="Kiri"
    )
    return therapist, client


def test_schedule_series_edit_following_and_cancel(ctx, client):
    therapist, me = setup_people()
    factories.sign_in(client, therapist)
    day = (utcnow() + timedelta(days=10)).date()
    res = client.post(
        "/appointments",
        data={
            "client_id": me.id,
            "date": day.isoformat(),
            "time": "09:30",
            "duration": 50,
            "weeks": 3,
        },
    )
    assert res.status_code == 302
    rows = list(db.session.scalars(select(Appointment).order_by(Appointment.starts_at)))
    assert len(rows) == 3 and len({r.series_id for r in rows}) == 1
    page = client.get("/appointments").get_data(as_text=True)
    assert "9:30\u202fAM" in page and "Kiri" in page
    assert client.get(f"/appointments/{rows[1].id}/edit").status_code == 200
    res = client.post(
        f"/appointments/{rows[1].id}/edit",
        data={
            "date": (day + timedelta(days=8)).isoformat(),
            "time": "10:00",
            "duration": 45,
            "scope": "following",
        },
    )
    assert res.status_code == 302
    db.session.expire_all()
    assert [r.duration_minutes for r in rows] == [50, 45, 45]
    res = client.post(f"/appointments/{rows[2].id}/cancel", data={"scope": "this"})
    assert res.status_code == 302
    db.session.expire_all()
    assert [r.status for r in rows] == ["scheduled", "scheduled", "cancelled"]


def test_bad_input_is_422_and_changes_nothing(ctx, client):
    therapist, me = setup_people()
    factories.sign_in(client, therapist)
    res = client.post(
        "/appointments",
        data={
            "client_id": me.id,
            "date": "not-a-date",
            "time": "09:30",
            "duration": 50,
            "weeks": 1,
        },
    )
    assert res.status_code == 422
    res = client.post(
        "/appointments",
        data={
            "client_id": me.id,
            "date": "2030-01-01",
            "time": "09:30",
            "duration": 50,
            "weeks": 99,
        },
    )
    assert res.status_code == 422
    assert db.session.scalar(select(Appointment)) is None


def test_other_therapists_appointments_are_404_and_clients_are_403(ctx, client):
    therapist, me = setup_people()
    other = factories.user(therapist.practice, "therapist")
    appt = Appointment(
        therapist_id=therapist.id,
        client_id=me.id,
        starts_at=utcnow() + timedelta(days=1),
        duration_minutes=50,
    )
    db.session.add(appt)
    db.session.commit()
    factories.sign_in(client, other)
    assert client.get(f"/appointments/{appt.id}/edit").status_code == 404
    assert client.post(f"/appointments/{appt.id}/cancel", data={"scope": "this"}).status_code == 404
    factories.sign_in(client, me)
    assert client.get("/appointments").status_code == 403


def test_auckland_client_and_la_therapist_see_their_own_local_times(make_app):
    app = make_app()
    starts = datetime(2030, 6, 15, 23, 30, tzinfo=UTC)  # 16:30 in LA, 11:30 next day in Auckland
    with app.app_context():
        therapist, me = setup_people()
        db.session.add(
            Appointment(
                therapist_id=therapist.id, client_id=me.id, starts_at=starts, duration_minutes=50
            )
        )
        db.session.commit()
        t_client, c_client = app.test_client(), app.test_client()
        factories.sign_in(t_client, therapist)
        factories.sign_in(c_client, me)
        db.session.remove()
    # Outside the test's app context, so each request formats in its own viewer's zone.
    therapist_page = t_client.get("/appointments").get_data(as_text=True)
    client_page = c_client.get("/home").get_data(as_text=True)
    assert "Sat, Jun 15, 2030, 4:30\u202fPM" in therapist_page
    assert "Sun, June 16, 11:30\u202fAM" in client_page
    assert 'datetime="2030-06-15T23:30:00+00:00"' in therapist_page
    assert 'datetime="2030-06-15T23:30:00+00:00"' in client_page
