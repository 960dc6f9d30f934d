"""Account passkeys: add a second one, rename, remove; recent authentication; the last-passkey warning."""

from datetime import timedelta

import time_machine
from sqlalchemy import func, select

from app.extensions import db
from app.models import Credential, utcnow
from tests import factories

from .flows import make_invite, register, sign_in
from .softkey import SoftKey


def credentials():
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Credential))


def test_removing_the_last_passkey_needs_a_clear_warning(ctx, client):
    admin = factories.user(factories.practice(), "admin")
    only = factories.credential(admin, nickname="Work phone")
    factories.sign_in(client, admin)
    res = client.post(f"/account/passkeys/{only.id}/remove")
    assert res.status_code == 409
    page = res.get_data(as_text=True)
    assert "Remove your last passkey?" in page
    assert "“Work phone” is your only passkey" in page
    assert "cannot sign in again" in page
    assert credentials() == 1
    res = client.post(f"/account/passkeys/{only.id}/remove", data={"confirm_last": "yes"})
    assert res.status_code == 302
    assert credentials() == 0


def test_removing_one_of_two_passkeys_needs_no_warning(ctx, client):
    admin = factories.user(factories.practice(), "admin")
    first = factories.credential(admin)
    factories.credential(admin)
    factories.sign_in(client, admin)
    assert client.post(f"/account/passkeys/{first.id}/remove").status_code == 302
    assert credentials() == 1


def test_adding_and_removing_need_recent_authentication(ctx, client):
    key = SoftKey()
    with time_machine.travel(utcnow(), tick=False) as clock:
        register(client, make_invite("therapist"), key)
        own = db.session.scalar(select(Credential))
        clock.shift(timedelta(minutes=11))
        res = client.post("/api/account/passkeys/options", json={})
        assert res.status_code == 403 and res.get_json()["reauth"] is True
        res = client.post(f"/account/passkeys/{own.id}/remove", data={"confirm_last": "yes"})
        assert res.status_code == 403
        assert credentials() == 1
        assert "confirm it is you" in client.get("/account").get_data(as_text=True)

        opts = client.post("/api/auth/signin/options", json={}).get_json()
        body = {"credential": key.sign(opts), "reauth": True}
        assert client.post("/api/auth/signin/verify", json=body).status_code == 200
        res = client.post("/api/account/passkeys/options", json={})
        assert res.status_code == 200


def test_second_passkey_is_added_with_exclude_credentials(ctx, client):
    first = SoftKey()
    register(client, make_invite("admin"), first)
    opts = client.post("/api/account/passkeys/options", json={})
    assert opts.status_code == 200
    options = opts.get_json()
    assert [c["id"] for c in options["excludeCredentials"]] == [first.register_id]
    assert options["authenticatorSelection"]["userVerification"] == "required"
    second = SoftKey()
    credential = second.register(options)
    res = client.post("/api/account/passkeys/verify", json={"credential": credential})
    assert res.status_code == 201
    assert credentials() == 2
    client.post("/signout")
    assert sign_in(client, second).status_code == 200
    client.post("/signout")
    assert sign_in(client, first).status_code == 200


def test_rename_own_passkey_only(ctx, client):
    practice = factories.practice()
    admin = factories.user(practice, "admin")
    mine = factories.credential(admin)
    theirs = factories.credential(factories.user(practice, "therapist"))
    factories.sign_in(client, admin)
    res = client.post(f"/account/passkeys/{mine.id}/rename", data={"nickname": "Pixel"})
    assert res.status_code == 302
    assert (
        client.post(f"/account/passkeys/{theirs.id}/rename", data={"nickname": "x"}).status_code
        == 404
    )
    assert (
        client.post(f"/account/passkeys/{mine.id}/rename", data={"nickname": ""}).status_code == 400
    )
    db.session.expire_all()
    assert db.session.get(Credential, mine.id).nickname == "Pixel"
    assert db.session.get(Credential, theirs.id).nickname == "Test phone"
