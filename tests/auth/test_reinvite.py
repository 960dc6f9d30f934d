"""A therapist gives a client who lost their phone a link that adds a passkey to the same account."""

import re

from app.extensions import db
from app.models import Credential, Invite, User
from tests import factories

from . import flows
from .softkey import SoftKey


def _link_token(html: str) -> str:
    return re.search(r"/invite/([A-Za-z0-9_-]{20,})", html).group(1)


def test_therapist_reinvites_own_client_and_the_new_passkey_joins_the_same_account(ctx):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist")
    client_user = factories.user(practice, "client", therapist=therapist, display_name="Robin")
    factories.credential(client_user, nickname="Old phone")
    db.session.commit()
    staff = ctx.test_client()
    factories.sign_in(staff, therapist)

    page = staff.post(f"/invites/for/{client_user.id}")
    assert page.status_code == 200
    assert "existing account" in page.get_data(as_text=True)
    token = _link_token(page.get_data(as_text=True))
    invite = db.session.scalar(db.select(Invite).where(Invite.user_id == client_user.id))
    assert invite is not None and invite.role == "client"

    phone = ctx.test_client()
    _, res = flows.register(phone, token, SoftKey(), name="ignored")
    assert res.status_code == 200, res.data
    db.session.expire_all()
    assert db.session.query(User).filter_by(role="client").count() == 1
    names = sorted(c.nickname for c in db.session.get(User, client_user.id).credentials)
    assert len(names) == 2 and "Old phone" in names
    assert flows.signed_in_role(phone) == "client"


def test_reinvite_is_refused_for_someone_elses_client_and_for_clients(ctx):
    practice = factories.practice()
    mine = factories.user(practice, "therapist")
    other = factories.user(practice, "therapist")
    their_client = factories.user(practice, "client", therapist=other)
    db.session.commit()
    web = ctx.test_client()
    factories.sign_in(web, mine)
    assert web.post(f"/invites/for/{their_client.id}").status_code == 404
    as_client = ctx.test_client()
    factories.sign_in(as_client, their_client)
    assert as_client.post(f"/invites/for/{their_client.id}").status_code == 403
    assert db.session.query(Invite).count() == 0
    assert db.session.query(Credential).count() == 0
