"""Export and erasure with two users: no leakage, an audit row, and nothing left after deletion."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Appointment,
    AuditEvent,
    CareLink,
    CheckIn,
    Credential,
    PushSubscription,
    User,
    UserSession,
    utcnow,
)
from tests import factories
from tests.checkins.helpers import appointment, body


@pytest.fixture
def two(ctx, client):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist")
    alice = factories.user(practice, "client", therapist=therapist, display_name="Alice")
    bob = factories.user(practice, "client", therapist=therapist, display_name="Bob")
    for who in (alice, bob):
        factories.credential(who, nickname=f"{who.display_name}'s phone")
        db.session.add(
            PushSubscription(
                user_id=who.id, endpoint=f"https://push.invalid/{who.id}", p256dh="k", auth="a"
            )
        )
        appt = appointment(therapist, who, utcnow() - timedelta(hours=2))
        factories.sign_in(client, who)
        res = client.post(
            "/api/check-ins",
            json=body(appointment_id=appt.id, comment=f"secret of {who.display_name}"),
        )
        assert res.status_code == 201
    db.session.commit()
    return therapist, alice, bob


def test_export_has_all_my_data_and_none_of_theirs(two, client):
    therapist, alice, bob = two
    factories.sign_in(client, alice)
    res = client.get("/account/export")
    assert res.status_code == 200 and "attachment" in res.headers["Content-Disposition"]
    assert res.headers["Cache-Control"] == "no-store"
    data = json.loads(res.data)
    text = res.get_data(as_text=True)
    assert data["profile"]["display_name"] == "Alice"
    assert [c["comment"] for c in data["check_ins"]] == ["secret of Alice"]
    assert len(data["passkeys"]) == 1 and len(data["push_subscriptions"]) == 1
    assert len(data["appointments"]) == 1 and data["sessions"]
    assert "Bob" not in text and "public_key" not in text and "token_hash" not in text
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export_own_data"))
    assert audit.actor_id == alice.id and audit.target_id == alice.id


def test_delete_needs_two_steps_then_erases_everything_and_signs_out(two, client):
    therapist, alice, bob = two
    factories.sign_in(client, alice)
    first = client.post("/account/delete")
    assert first.status_code == 200 and "confirm-delete" in first.get_data(as_text=True)
    assert db.session.get(User, alice.id) is not None
    res = client.post("/account/delete", data={"confirm": "yes"})
    # The HTTP cache only: on a shared phone the storage holds other people's unsent check-ins (issue 21.3).
    assert res.status_code == 302 and res.headers["Clear-Site-Data"] == '"cache"'
    db.session.expire_all()
    uid = alice.id
    for model, col in [
        (CheckIn, CheckIn.client_id),
        (Credential, Credential.user_id),
        (UserSession, UserSession.user_id),
        (PushSubscription, PushSubscription.user_id),
        (Appointment, Appointment.client_id),
        (CareLink, CareLink.client_id),
        (User, User.id),
    ]:
        assert db.session.scalar(select(func.count()).select_from(model).where(col == uid)) == 0, (
            model
        )
    # Bob's data is untouched; the deleted session no longer works.
    assert db.session.scalar(select(func.count(CheckIn.id)).where(CheckIn.client_id == bob.id)) == 1
    assert (
        db.session.scalar(select(func.count(Credential.id)).where(Credential.user_id == bob.id))
        == 1
    )
    assert client.get("/home").status_code == 302
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "delete_account"))


def test_therapists_cannot_delete_through_this_route(two, client):
    therapist, _, _ = two
    factories.sign_in(client, therapist)
    assert client.post("/account/delete", data={"confirm": "yes"}).status_code == 403


def test_account_page_includes_my_data_section(two, client):
    _, alice, _ = two
    factories.sign_in(client, alice)
    html = client.get("/account").get_data(as_text=True)
    assert 'id="my-data"' in html and "/account/export" in html and 'id="delete-account"' in html
