"""Invites say what they are for (issue 11.2): the practice's name, the role and the person."""

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Invite, Practice
from tests import factories

from .test_views import SETTINGS


@pytest.fixture
def admin(ctx):
    person = factories.user(factories.practice(name="My practice"), "admin", display_name="Ada")
    db.session.commit()
    return person


def practice_name(person) -> str:
    db.session.expire_all()
    return db.session.get(Practice, person.practice_id).name


def test_the_admin_names_the_practice_and_it_is_audited(app, admin, client):
    factories.sign_in(client, admin)
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'name="name"' in page and 'value="My practice"' in page
    res = client.post("/admin/settings", data={**SETTINGS, "name": "  Riverside   Therapy "})
    assert res.status_code == 302
    assert practice_name(admin) == "Riverside Therapy"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "update_settings"))
    assert event.actor_id == admin.id and "name" in event.detail.split(",")
    res = client.post("/invites", data={"role": "therapist", "display_name": "Theo"})
    token = re.search(r"/invite/([\w-]+)", res.get_data(as_text=True))[1]
    landing = app.test_client().get(f"/invite/{token}").get_data(as_text=True)
    assert "Join Riverside Therapy on Attune" in landing


@pytest.mark.parametrize(
    "bad", ["", "   ", "Rive\x00rside", "Rive\u202erside", "Tab\x07", "x" * 121]
)
def test_an_empty_or_hidden_character_name_is_refused_and_nothing_changes(admin, client, bad):
    factories.sign_in(client, admin)
    res = client.post("/admin/settings", data={**SETTINGS, "name": bad, "k_anonymity": "9"})
    assert res.status_code == 400
    if bad.isprintable():  # control characters are refused before the form (app/inputs.py)
        assert 'aria-invalid="true"' in res.get_data(as_text=True)
    assert practice_name(admin) == "My practice"
    assert db.session.get(Practice, admin.practice_id).k_anonymity == 5
    assert (
        db.session.scalar(select(AuditEvent).where(AuditEvent.action == "update_settings")) is None
    )


def test_a_form_that_does_not_send_the_name_keeps_it(admin, client):
    factories.sign_in(client, admin)
    assert client.post("/admin/settings", data=SETTINGS).status_code == 302
    assert practice_name(admin) == "My practice"


def test_the_admins_invite_form_preselects_therapist_and_the_ready_page_names_role_and_person(
    admin, client
):
    factories.sign_in(client, admin)
    form = client.get("/invites").get_data(as_text=True)
    selected = re.findall(r'<option selected value="(\w+)"|<option value="(\w+)" selected', form)
    assert [a or b for a, b in selected] == ["therapist"], form
    assert form.index('value="therapist"') < form.index('value="admin"')
    assert client.post("/invites", data={"display_name": "Theo"}).status_code == 400  # no role
    assert db.session.scalar(select(Invite)) is None
    ready = client.post("/invites", data={"role": "therapist", "display_name": "Theo"})
    text = ready.get_data(as_text=True)
    assert "For: Theo" in text and "Account type: Therapist" in text and "My practice" in text
    ready = client.post("/invites", data={"role": "admin", "display_name": "Ann"})
    assert "Account type: Practice admin" in ready.get_data(as_text=True)
    listing = client.get("/invites").get_data(as_text=True)
    assert "Theo · Therapist" in listing and "Ann · Practice admin" in listing
