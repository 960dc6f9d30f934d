"""Revocable sessions: sign-out, timeouts by role, sign out everywhere, deactivation (SECURITY.md 7, 8, 10)."""

from datetime import UTC, datetime, timedelta

import time_machine

from app import web_session
from app.auth import sessions
from app.extensions import db
from tests import factories

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def role_of(client):
    res = client.get("/api/session")
    return res.get_json().get("role") if res.status_code == 200 else None


def test_revoked_cookie_is_refused_after_sign_out(app, ctx, client):
    therapist = factories.user(factories.practice(), "therapist")
    factories.sign_in(client, therapist)
    saved = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert role_of(client) == "therapist"
    res = client.post("/signout")
    assert res.status_code == 302
    assert "Clear-Site-Data" in res.headers
    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], saved)
    assert role_of(replay) is None
    assert replay.get("/account").status_code == 302


def test_therapist_idle_timeout_is_30_minutes(ctx, client):
    therapist = factories.user(factories.practice(), "therapist")
    with time_machine.travel(START, tick=False) as clock:
        factories.sign_in(client, therapist)
        clock.shift(timedelta(minutes=29))
        assert role_of(client) == "therapist"  # activity moves the idle window
        clock.shift(timedelta(minutes=29))
        assert role_of(client) == "therapist"
        clock.shift(timedelta(minutes=31))
        assert role_of(client) is None
        clock.shift(timedelta(minutes=1))
        assert role_of(client) is None  # a timed-out session stays dead


def test_client_idle_timeout_is_30_days(ctx, client):
    practice = factories.practice()
    person = factories.user(practice, "client", therapist=factories.user(practice, "therapist"))
    with time_machine.travel(START, tick=False) as clock:
        factories.sign_in(client, person)
        clock.shift(timedelta(days=29))
        assert role_of(client) == "client"
        clock.shift(timedelta(days=30, minutes=1))
        assert role_of(client) is None


def test_absolute_timeout_for_staff_is_12_hours_even_when_active(ctx):
    admin = factories.user(factories.practice(), "admin")
    token = sessions.start(admin, now=START)
    db.session.commit()
    now = START
    while now < START + timedelta(hours=11, minutes=50):
        now += timedelta(minutes=20)
        assert web_session.resume(token, now=now) is not None
    assert web_session.resume(token, now=START + timedelta(hours=12, minutes=1)) is None


def test_resume_rules_directly(ctx):
    therapist = factories.user(factories.practice(), "therapist")
    token = sessions.start(therapist, now=START)
    db.session.commit()
    assert web_session.resume(token, now=START + timedelta(minutes=30)) is not None
    assert web_session.resume(token, now=START + timedelta(minutes=61)) is None
    assert web_session.resume("not-a-token", now=START) is None


def test_sign_out_everywhere_ends_every_session_of_that_user_only(app, ctx):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist")
    other = factories.user(practice, "therapist")
    phone, laptop, colleague = app.test_client(), app.test_client(), app.test_client()
    factories.sign_in(phone, therapist)
    factories.sign_in(laptop, therapist)
    factories.sign_in(colleague, other)
    res = phone.post("/account/sessions/revoke-all")
    assert res.status_code == 302
    assert role_of(phone) is None
    assert role_of(laptop) is None
    assert role_of(colleague) == "therapist"


def test_deactivated_users_sessions_are_refused(app, ctx):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist")
    phone, laptop = app.test_client(), app.test_client()
    factories.sign_in(phone, therapist)
    factories.sign_in(laptop, therapist)
    therapist.active = False
    db.session.commit()
    assert role_of(phone) is None
    assert role_of(laptop) is None
    assert phone.get("/invites").status_code == 302
