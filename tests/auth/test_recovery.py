"""Recovery that cannot become a takeover (issue 9.3; SECURITY.md 28 and 29; DESIGN 4b).

The attacker is the therapist (or admin) who makes the re-invite: they must not be able to redeem it in their
own browser, a fresh browser that redeems it sees nothing recorded before the recovery until the hold ends or
an older passkey confirms, the client's old device is told, and everything is in the practice's audit log.
"""

import json
import re
import secrets
from datetime import timedelta

import time_machine
from sqlalchemy import select

from app.dashboard import admin
from app.extensions import db
from app.models import AuditEvent, CheckIn, Credential, Invite, UserSession, utcnow
from tests import factories

from . import flows
from .softkey import SoftKey

OLD_NOTE = "before-recovery-note-" + secrets.token_hex(4)


def _token(html: str) -> str:
    return re.search(r"/invite/([A-Za-z0-9_-]{20,})", html).group(1)


def _check_in(person, therapist, *, comment, at):
    row = CheckIn(
        client_id=person.id,
        therapist_id=therapist.id,
        phase="after",
        safe=3,
        heard=4,
        understood=5,
        comment=comment,
        visibility="named",
        idempotency_key=secrets.token_hex(8),
        body_hash="x" * 64,
        created_at=at,
        received_at=at,
    )
    db.session.add(row)
    db.session.commit()
    return row


def _world(ctx, app_client):
    """A practice with an admin, a therapist and their client, who registered a passkey on an old phone
    (through the real invite ceremony) and has a named check-in with a note from last week."""
    practice = factories.practice()
    admin_user = factories.user(practice, "admin")
    therapist = factories.user(practice, "therapist")
    db.session.commit()
    old_key = SoftKey()
    token = flows.make_invite(
        "client", practice=practice, created_by=therapist, therapist=therapist
    )
    _, res = flows.register(app_client, token, old_key, name="Robin")
    assert res.status_code == 200, res.data
    person = db.session.scalar(select(Credential)).user
    _check_in(person, therapist, comment=OLD_NOTE, at=utcnow() - timedelta(days=7))
    return practice, admin_user, therapist, person, old_key


def _reinvite(ctx, staff_user):
    staff = ctx.test_client()
    factories.sign_in(staff, staff_user)
    return staff


def _recover(ctx, therapist, person):
    """The therapist makes a re-invite; a fresh browser redeems it with a new passkey."""
    staff = _reinvite(ctx, therapist)
    page = staff.post(f"/invites/for/{person.id}")
    assert page.status_code == 200
    fresh = ctx.test_client()
    new_key = SoftKey()
    _, res = flows.register(fresh, _token(page.get_data(as_text=True)), new_key)
    assert res.status_code == 200, res.data
    return staff, fresh, new_key


def _export(web) -> dict:
    res = web.get("/account/export")
    assert res.status_code == 200
    return json.loads(res.get_data(as_text=True))


def test_security_29_creator_cannot_redeem_their_own_reinvite_in_their_signed_in_browser(ctx):
    old_phone = ctx.test_client()
    _practice, _admin, therapist, person, _old = _world(ctx, old_phone)
    staff = _reinvite(ctx, therapist)
    token = _token(staff.post(f"/invites/for/{person.id}").get_data(as_text=True))
    assert staff.get(f"/invite/{token}").status_code == 403
    opts, res = flows.register(staff, token, SoftKey())
    assert opts.status_code == 403 and res is None
    assert "own device" in opts.get_json()["error"]
    db.session.expire_all()
    assert len(person.credentials) == 1
    reinvite = select(Invite).where(Invite.user_id == person.id).order_by(Invite.id.desc())
    assert db.session.scalars(reinvite).first().used_at is None


def test_security_29_recovery_session_sees_no_history_or_export_from_before(ctx):
    old_phone = ctx.test_client()
    _practice, _admin, therapist, person, _old = _world(ctx, old_phone)
    _staff, fresh, _new = _recover(ctx, therapist, person)
    assert flows.signed_in_role(fresh) == "client"
    assert OLD_NOTE not in fresh.get("/my-check-ins").get_data(as_text=True)
    data = _export(fresh)
    assert data["check_ins"] == [] and OLD_NOTE not in json.dumps(data)
    # The old phone still sees everything.
    assert OLD_NOTE in old_phone.get("/my-check-ins").get_data(as_text=True)
    assert OLD_NOTE in json.dumps(_export(old_phone))
    # A client can still check in during the hold, and sees that new check-in.
    body = {"idempotency_key": "during-hold-1", "phase": "before", "safe": 7, "heard": 7}
    body["created_at"] = utcnow().isoformat()
    res = fresh.post("/api/check-ins", json={**body, "understood": 7, "comment": "new note"})
    assert res.status_code == 201, res.data
    assert "new note" in fresh.get("/my-check-ins").get_data(as_text=True)
    assert [c["comment"] for c in _export(fresh)["check_ins"]] == ["new note"]


def test_security_29_held_session_cannot_erase_the_account(ctx):
    old_phone = ctx.test_client()
    _practice, _admin, therapist, person, _old = _world(ctx, old_phone)
    _staff, fresh, _new = _recover(ctx, therapist, person)
    assert fresh.post("/account/delete", data={"confirm": "yes"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(type(person), person.id) is not None


def test_security_42_after_the_hold_the_account_is_manageable_but_the_past_stays_locked(ctx):
    old_phone = ctx.test_client()
    _practice, _admin, therapist, person, _old = _world(ctx, old_phone)
    with time_machine.travel(utcnow(), tick=False) as clock:
        _staff, _fresh, new_key = _recover(ctx, therapist, person)
        clock.shift(timedelta(hours=71))
        later = ctx.test_client()
        assert flows.sign_in(later, new_key).status_code == 200
        assert later.post("/account/language", data={"locale": "de"}).status_code == 403
        clock.shift(timedelta(hours=2))  # the practice's 72 hours are over
        assert later.post("/account/language", data={"locale": "de"}).status_code == 302
        assert OLD_NOTE not in later.get("/my-check-ins").get_data(as_text=True)
        assert OLD_NOTE not in later.get("/account/export").get_data(as_text=True)


def test_security_28_old_device_sees_the_banner_and_its_passkey_lifts_the_hold(ctx):
    old_phone = ctx.test_client()
    _practice, _admin, therapist, person, old_key = _world(ctx, old_phone)
    _staff, fresh, _new = _recover(ctx, therapist, person)
    banner = "through a recovery link. Not you? Remove it."
    assert banner in old_phone.get("/home").get_data(as_text=True)
    assert banner not in fresh.get("/home").get_data(as_text=True)
    # The recovered device cannot confirm itself.
    assert fresh.post("/account/recovery/confirm").status_code == 403
    # The old passkey, freshly confirmed, lifts the hold.
    opts = old_phone.post("/api/auth/signin/options", json={}).get_json()
    body = {"credential": old_key.sign(opts), "reauth": True}
    assert old_phone.post("/api/auth/signin/verify", json=body).status_code == 200
    assert old_phone.post("/account/recovery/confirm").status_code == 302
    assert OLD_NOTE in fresh.get("/my-check-ins").get_data(as_text=True)
    assert banner not in old_phone.get("/home").get_data(as_text=True)
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "recovery_confirmed" in actions


def test_security_28_not_you_remove_it_signs_the_recovered_device_out(ctx):
    old_phone = ctx.test_client()
    _practice, _admin, therapist, person, old_key = _world(ctx, old_phone)
    _staff, fresh, _new = _recover(ctx, therapist, person)
    recovered = db.session.scalar(select(Credential).where(Credential.recovered_at.is_not(None)))
    # Removing needs a fresh confirmation with the old passkey.
    with time_machine.travel(utcnow() + timedelta(minutes=11), tick=False):
        res = old_phone.post(f"/account/passkeys/{recovered.id}/remove")
        assert res.status_code == 403
    assert old_phone.post(f"/account/passkeys/{recovered.id}/remove").status_code == 302
    assert flows.signed_in_role(fresh) is None
    db.session.expire_all()
    assert [c.nickname for c in person.credentials] == ["My device"]
    assert "passkey_removed" in db.session.scalars(select(AuditEvent.action)).all()
    assert old_key  # the old passkey still signs in
    assert flows.sign_in(ctx.test_client(), old_key).status_code == 200


def test_security_28_held_session_cannot_remove_older_passkeys_or_escape_with_a_new_one(ctx):
    old_phone = ctx.test_client()
    _practice, _admin, therapist, person, _old = _world(ctx, old_phone)
    with time_machine.travel(utcnow(), tick=False) as clock:
        _staff, fresh, new_key = _recover(ctx, therapist, person)
        older = db.session.scalar(select(Credential).where(Credential.recovered_at.is_(None)))
        res = fresh.post(f"/account/passkeys/{older.id}/remove", data={"confirm_last": "yes"})
        assert res.status_code == 403
        assert fresh.post("/api/account/passkeys/options", json={}).status_code == 403
        # After the hold a passkey may be added, and it is locked as the session that added it.
        clock.shift(timedelta(hours=73))
        assert flows.sign_in(fresh, new_key).status_code == 200
        opts = fresh.post("/api/account/passkeys/options", json={})
        assert opts.status_code == 200
        third = SoftKey()
        res = fresh.post(
            "/api/account/passkeys/verify", json={"credential": third.register(opts.get_json())}
        )
        assert res.status_code == 201
        other = ctx.test_client()
        assert flows.sign_in(other, third).status_code == 200
        assert OLD_NOTE not in other.get("/my-check-ins").get_data(as_text=True)
    db.session.expire_all()
    assert len(db.session.get(type(person), person.id).credentials) == 3


def test_security_29_every_step_is_in_the_practice_audit_log(ctx):
    old_phone = ctx.test_client()
    _practice, admin_user, therapist, person, _old = _world(ctx, old_phone)
    _recover(ctx, therapist, person)
    rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    actions = [r.action for r in rows]
    for action in ("reinvite", "recovery_signup", "passkey_added"):
        assert action in actions
    assert all(r.practice_id == admin_user.practice_id for r in rows)
    web = ctx.test_client()
    factories.sign_in(web, admin_user)
    page = web.get("/admin/audit").get_data(as_text=True)
    assert "signed up through a recovery link" in page
    assert "made a recovery link" in page


def test_recovered_therapist_sees_no_named_data_from_before(ctx):
    practice = factories.practice()
    admin_user = factories.user(practice, "admin")
    therapist = factories.user(practice, "therapist")
    factories.credential(therapist, nickname="Work laptop")
    person = factories.user(practice, "client", therapist=therapist)
    _check_in(person, therapist, comment=OLD_NOTE, at=utcnow() - timedelta(days=3))
    staff = _reinvite(ctx, admin_user)
    page = staff.post(f"/invites/for/{therapist.id}")
    fresh = ctx.test_client()
    _, res = flows.register(fresh, _token(page.get_data(as_text=True)), SoftKey())
    assert res.status_code == 200, res.data
    assert OLD_NOTE not in fresh.get(f"/clients/{person.id}").get_data(as_text=True)
    assert OLD_NOTE not in fresh.get("/dashboard").get_data(as_text=True)
    res = fresh.post("/export/check-ins.csv")
    assert OLD_NOTE not in res.get_data(as_text=True)
    # The therapist's own older session still sees it.
    laptop = ctx.test_client()
    factories.sign_in(laptop, therapist)
    assert OLD_NOTE in laptop.get(f"/clients/{person.id}").get_data(as_text=True)


def test_deactivating_a_user_revokes_every_invite_they_issued(ctx):
    practice = factories.practice()
    admin_user = factories.user(practice, "admin")
    therapist = factories.user(practice, "therapist")
    db.session.commit()
    token = flows.make_invite(
        "client", practice=practice, created_by=therapist, therapist=therapist
    )
    admin.deactivate(therapist, by=admin_user, now=utcnow())
    db.session.commit()
    assert ctx.test_client().get(f"/invite/{token}").status_code == 410
    assert db.session.scalar(select(Invite)).revoked_at is not None


def test_recovery_session_is_bound_to_its_passkey(ctx):
    old_phone = ctx.test_client()
    _practice, _admin, therapist, person, _old = _world(ctx, old_phone)
    _recover(ctx, therapist, person)
    recovered = db.session.scalar(select(Credential).where(Credential.recovered_at.is_not(None)))
    row = db.session.scalar(select(UserSession).where(UserSession.credential_id == recovered.id))
    assert row is not None and recovered.hold_until > utcnow() + timedelta(hours=71)


def test_security_29_a_recovery_link_is_single_use(ctx):
    old_phone = ctx.test_client()
    _practice, _admin, therapist, person, _old = _world(ctx, old_phone)
    staff = _reinvite(ctx, therapist)
    token = _token(staff.post(f"/invites/for/{person.id}").get_data(as_text=True))
    _, res = flows.register(ctx.test_client(), token, SoftKey())
    assert res.status_code == 200
    again = ctx.test_client()
    assert again.get(f"/invite/{token}").status_code == 410
    opts, res = flows.register(again, token, SoftKey())
    assert opts.status_code == 410 and res is None
    db.session.expire_all()
    assert len(person.credentials) == 2


def test_security_29_guessing_recovery_links_is_rate_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True)
    web = app.test_client()
    codes = [
        web.get(f"/invite/guess-{n:04d}-{secrets.token_hex(8)}").status_code for n in range(25)
    ]
    assert codes[0] == 410 and codes[-1] == 429


def test_security_28_a_second_passkey_needs_a_recent_sign_in_to_add_or_remove(ctx):
    old_phone = ctx.test_client()
    _practice, _admin, _therapist, person, _old = _world(ctx, old_phone)
    with time_machine.travel(utcnow(), tick=False) as clock:
        opts = old_phone.post("/api/account/passkeys/options", json={})  # signed in just now
        second = SoftKey()
        body = {"credential": second.register(opts.get_json())}
        assert old_phone.post("/api/account/passkeys/verify", json=body).status_code == 201
        added = db.session.scalar(select(Credential).order_by(Credential.id.desc()))
        clock.shift(timedelta(minutes=11))
        assert old_phone.post("/api/account/passkeys/options", json={}).status_code == 403
        assert old_phone.post(f"/account/passkeys/{added.id}/remove").status_code == 403
    db.session.expire_all()
    assert len(db.session.get(type(person), person.id).credentials) == 2
    assert flows.sign_in(ctx.test_client(), second).status_code == 200
