"""Invites: shown once, stored as a hash, single use, expiring, bound to a role and a therapist."""

import re
from datetime import timedelta

from sqlalchemy import select

from app.auth import invites
from app.extensions import db
from app.models import CareLink, Invite, User, utcnow
from tests import factories

from .flows import make_invite, register
from .softkey import SoftKey


def created_link(res) -> str:
    html = res.get_data(as_text=True)
    return re.search(r'id="invite-link"[^>]*value="([^"]+)"', html).group(1)


def test_used_invite_cannot_be_used_again(ctx, client):
    token = make_invite("admin")
    _, res = register(client, token, SoftKey())
    assert res.status_code == 200
    client.post("/signout")
    page = client.get(f"/invite/{token}")
    assert page.status_code == 410
    assert "already been used" in page.get_data(as_text=True)
    opts, res = register(client, token, SoftKey())
    assert opts.status_code == 410 and res is None
    assert len(db.session.scalars(select(User)).all()) == 1


def test_expired_invite_is_refused(ctx, client):
    token = make_invite("admin", now=utcnow() - timedelta(days=8))
    page = client.get(f"/invite/{token}")
    assert page.status_code == 410
    assert "expired" in page.get_data(as_text=True)
    opts, _ = register(client, token, SoftKey())
    assert opts.status_code == 410
    assert "expired" in opts.get_json()["error"]


def test_invite_that_expires_between_options_and_verify_is_refused(ctx, client):
    token = make_invite("admin", now=utcnow() - timedelta(days=7) + timedelta(seconds=2))
    key = SoftKey()
    opts = client.post(f"/api/invite/{token}/options", json={"display_name": "A"})
    assert opts.status_code == 200
    invite = db.session.scalar(select(Invite))
    invite.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    body = {"display_name": "A", "credential": key.register(opts.get_json())}
    assert client.post(f"/api/invite/{token}/verify", json=body).status_code == 410
    assert db.session.scalar(select(User)) is None


def test_unknown_and_revoked_invites_are_refused(ctx, client):
    assert client.get("/invite/not-a-real-token").status_code == 410
    token = make_invite("admin")
    invite = db.session.scalar(select(Invite))
    invite.revoked_at = utcnow()
    db.session.commit()
    assert client.get(f"/invite/{token}").status_code == 410


def test_only_the_hash_of_the_token_is_stored(ctx):
    practice = factories.practice()
    invite, token = invites.create(practice=practice, role="admin", now=utcnow())
    db.session.commit()
    assert invite.token_hash == invites.hash_token(token) != token
    row = db.session.execute(select(Invite.__table__)).one()
    assert token not in [str(v) for v in row]
    assert invite.expires_at - invite.created_at == timedelta(days=7)


def test_admin_invites_therapist_who_invites_client_bound_to_them(app, ctx, client):
    practice = factories.practice(name="Riverside")
    admin = factories.user(practice, "admin")
    factories.sign_in(client, admin)
    form = client.get("/invites").get_data(as_text=True)
    assert 'value="therapist"' in form
    res = client.post("/invites", data={"role": "therapist", "display_name": "Theo"})
    assert res.status_code == 200
    link = created_link(res)
    assert link.startswith(app.config["ORIGIN"] + "/invite/")
    assert invites.qr_svg(link) in res.get_data(as_text=True)  # the QR code encodes this very link
    assert "<svg" in res.get_data(as_text=True)
    token = link.rsplit("/", 1)[1]

    therapist_client = app.test_client()
    landing = therapist_client.get(f"/invite/{token}").get_data(as_text=True)
    assert "Join Riverside on Attune" in landing
    register(therapist_client, token, SoftKey(), name="Theo")
    therapist = db.session.scalar(select(User).where(User.role == "therapist"))
    assert therapist.practice_id == practice.id

    res = therapist_client.post("/invites", data={"role": "client", "display_name": ""})
    assert res.status_code == 200
    client_token = created_link(res).rsplit("/", 1)[1]
    person = app.test_client()
    assert "Theo invited you to Attune" in person.get(f"/invite/{client_token}").get_data(
        as_text=True
    )
    _, done = register(person, client_token, SoftKey(), name="Kim")
    assert done.status_code == 200
    kim = db.session.scalar(select(User).where(User.role == "client"))
    link_row = db.session.scalar(select(CareLink).where(CareLink.client_id == kim.id))
    assert link_row.therapist_id == therapist.id


def test_roles_bound_who_may_invite_whom(app, ctx):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist")
    person = factories.user(practice, "client", therapist=therapist)
    t_client, c_client = app.test_client(), app.test_client()
    factories.sign_in(t_client, therapist)
    factories.sign_in(c_client, person)
    before = db.session.scalars(select(Invite)).all()
    assert t_client.post("/invites", data={"role": "therapist"}).status_code == 400
    assert t_client.post("/invites", data={"role": "admin"}).status_code == 400
    assert c_client.get("/invites").status_code == 403
    assert c_client.post("/invites", data={"role": "client"}).status_code == 403
    assert db.session.scalars(select(Invite)).all() == before


def test_invites_can_be_cancelled_by_their_creator_only(app, ctx):
    practice = factories.practice()
    t1, t2 = factories.user(practice, "therapist"), factories.user(practice, "therapist")
    invite, _ = invites.create(practice=practice, role="client", now=utcnow(), created_by=t1)
    db.session.commit()
    c1, c2 = app.test_client(), app.test_client()
    factories.sign_in(c1, t1)
    factories.sign_in(c2, t2)
    assert c2.post(f"/invites/{invite.id}/revoke").status_code == 404
    assert c1.post(f"/invites/{invite.id}/revoke").status_code == 302
    db.session.expire_all()
    assert db.session.get(Invite, invite.id).revoked_at is not None
