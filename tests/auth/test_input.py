"""Bad input to the auth routes is a clear 4xx naming the field, and nothing changes (issue 9.6, 10)."""

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Credential, Invite, User
from tests import factories

from . import flows
from .softkey import SoftKey

BAD_TEXT = ["a\x00b", "\ud800", "x\udfffy", "bell\x07", "esc\x1b[31m", "rtl\u202eevil", "del\x7f"]


def count(model):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def therapist(ctx, client):
    person = factories.user(factories.practice(), "therapist")
    db.session.commit()
    factories.sign_in(client, person)
    return person


@pytest.mark.parametrize("role", ["", "nobody", "admin"])
def test_invite_role_outside_the_list_is_refused(therapist, client, role):
    assert client.post("/invites", data={"role": role}).status_code == 400
    assert count(Invite) == 0


def test_invite_role_given_twice_is_refused(ctx, client):
    admin = factories.user(factories.practice(), "admin")
    db.session.commit()
    factories.sign_in(client, admin)
    res = client.post("/invites", data={"role": ["therapist", "admin"]})
    assert res.status_code == 400
    assert count(Invite) == 0


@pytest.mark.parametrize("name", [n for n in BAD_TEXT if "\ud800" not in n and "\udfff" not in n])
def test_invite_display_name_refuses_control_characters(therapist, client, name):
    res = client.post("/invites", data={"role": "client", "display_name": name})
    assert res.status_code == 400
    assert "control or invisible characters" in res.get_data(as_text=True)
    assert count(Invite) == 0


@pytest.mark.parametrize("name", BAD_TEXT + [["list"], {"a": 1}, 12])
def test_sign_up_name_and_nickname_refuse_bad_text(ctx, client, name):
    token = flows.make_invite("admin")
    res = client.post(f"/api/invite/{token}/options", json={"display_name": name})
    assert res.status_code == 400 and res.get_json()["field"] == "display_name"
    opts = client.post(f"/api/invite/{token}/options", json={"display_name": "Ada"})
    credential = SoftKey().register(opts.get_json())
    res = client.post(
        f"/api/invite/{token}/verify", json={"credential": credential, "nickname": name}
    )
    assert res.status_code == 400 and res.get_json()["field"] == "nickname"
    assert count(User) == 0 and count(Credential) == 0


def test_passkey_rename_refuses_control_characters(ctx, client):
    admin = factories.user(factories.practice(), "admin")
    mine = factories.credential(admin, nickname="Phone")
    db.session.commit()
    factories.sign_in(client, admin)
    for bad in ("a\x00b", "tab\x0bx", "\u202eevil"):
        res = client.post(f"/account/passkeys/{mine.id}/rename", data={"nickname": bad})
        assert res.status_code == 400
    db.session.expire_all()
    assert db.session.get(Credential, mine.id).nickname == "Phone"


@pytest.mark.parametrize(
    "zone",
    [
        "localtime",
        "../../etc/passwd",
        "/etc/localtime",
        "",
        None,
        ["UTC"],
        "Mars/Base",
        "posixrules",
    ],
)
def test_time_zone_only_from_the_iana_list(ctx, client, zone):
    admin = factories.user(factories.practice(), "admin")
    db.session.commit()
    factories.sign_in(client, admin)
    res = client.post("/api/account/time-zone", json={"time_zone": zone})
    assert res.status_code == 422 and res.get_json()["field"] == "time_zone"
    db.session.expire_all()
    assert db.session.get(User, admin.id).time_zone == "UTC"
    assert (
        client.post("/api/account/time-zone", json={"time_zone": "Europe/Paris"}).status_code == 200
    )


def test_sign_up_with_localtime_zone_stores_utc(ctx, client):
    token = flows.make_invite("admin")
    details = {"display_name": "Ada", "time_zone": "localtime"}
    opts = client.post(f"/api/invite/{token}/options", json=details)
    credential = SoftKey().register(opts.get_json())
    res = client.post(f"/api/invite/{token}/verify", json={**details, "credential": credential})
    assert res.status_code == 200
    assert db.session.scalar(select(User.time_zone)) == "UTC"


def test_credential_id_over_1023_bytes_is_refused(ctx, client):
    token = flows.make_invite("admin")
    key = SoftKey(credential_id=b"\x01" * 1024)
    _, res = flows.register(client, token, key)
    assert res.status_code == 400
    assert "1,023 bytes" in res.get_json()["error"]
    assert count(Credential) == 0 and count(User) == 0
    ok = SoftKey(credential_id=b"\x02" * 1023)
    _, res = flows.register(client, flows.make_invite("admin"), ok)
    assert res.status_code == 200, res.data
