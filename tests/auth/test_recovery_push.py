"""The account's older devices get a generic push when a recovery link adds a passkey (issue 9.3, SECURITY 28)."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Credential, PushSubscription, utcnow
from tests import factories
from tests.reminders.helpers import TEST_HOSTS, vapid_private_raw
from tests.support.push_receiver import PushReceiver

from . import flows
from .softkey import SoftKey


@pytest.fixture
def papp(make_app):
    return make_app(
        VAPID_PRIVATE_KEY=vapid_private_raw(),
        PUSH_EXTRA_HOSTS=TEST_HOSTS,
        PUSH_TIMEOUT_SECONDS=2,
    )


def subscribe(owner, sub):
    """A push subscription made on one of `owner`'s devices before today."""
    db.session.add(
        PushSubscription(
            user_id=owner.id,
            endpoint=sub.endpoint,
            p256dh=sub.p256dh,
            auth=sub.auth,
            created_at=utcnow() - timedelta(days=1),
        )
    )


def test_security_28_recovery_pushes_a_generic_notice_to_older_devices(papp):
    with papp.app_context(), PushReceiver() as rx:
        practice = factories.practice()
        therapist = factories.user(practice, "therapist", display_name="Dr Winifred Quill")
        person = factories.user(
            practice, "client", therapist=therapist, display_name="Ottoline Brackenbury"
        )
        factories.credential(person)
        old_sub, other_user_sub = rx.new_subscription(), rx.new_subscription()
        subscribe(person, old_sub)
        subscribe(therapist, other_user_sub)
        db.session.commit()
        staff = papp.test_client()
        factories.sign_in(staff, therapist)
        page = staff.post(f"/invites/for/{person.id}").get_data(as_text=True)
        token = re.search(r"/invite/([A-Za-z0-9_-]{20,})", page).group(1)
        assert rx.messages == []
        _, res = flows.register(papp.test_client(), token, SoftKey())
        assert res.status_code == 200, res.data
        assert db.session.scalar(select(Credential).where(Credential.recovered_at.is_not(None)))
        assert [m.subscription_id for m in rx.messages] == [old_sub.id]
        text = rx.messages[0].payload.decode()
        assert rx.messages[0].json["url"] == "/account#recovery"
        for private in ("Ottoline", "Brackenbury", "Winifred", "Quill", "recovery link"):
            assert private not in text
        assert rx.errors == [] and rx.rejections == []


def test_security_28_adding_or_removing_a_passkey_notifies_the_accounts_devices(papp):
    with papp.app_context(), PushReceiver() as rx:
        admin = factories.user(factories.practice(), "admin", display_name="Ottoline Brackenbury")
        subscribe(admin, rx.new_subscription())
        first = factories.credential(admin)
        db.session.commit()
        web = papp.test_client()
        factories.sign_in(web, admin)
        opts = web.post("/api/account/passkeys/options", json={})
        credential = SoftKey().register(opts.get_json())
        assert (
            web.post("/api/account/passkeys/verify", json={"credential": credential}).status_code
            == 201
        )
        assert len(rx.messages) == 1
        assert web.post(f"/account/passkeys/{first.id}/remove").status_code == 302
        assert len(rx.messages) == 2
        assert all("Ottoline" not in m.payload.decode() for m in rx.messages)
