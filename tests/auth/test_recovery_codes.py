"""Recovery codes (SECURITY 29 and 42, issue 21.2): the person's own way back in, and the one proof besides
an older passkey that unlocks a device a staff member's recovery link added. Single use, stored only as an
Argon2 hash, rate-limited, audited; a code made on a locked device unlocks no more than that device saw."""

import json
import re
from datetime import timedelta

import time_machine
from sqlalchemy import select

from app.auth import codes
from app.extensions import db
from app.models import AuditEvent, Credential, RecoveryCode, User, utcnow
from tests import factories

from . import flows, held
from .softkey import SoftKey

CODE = re.compile(r'id="the-code"[^>]*>([0-9A-Z-]{29})<')


def make_code(web) -> str:
    page = web.post("/account/recovery-code")
    assert page.status_code == 200, page.status_code
    return CODE.search(page.get_data(as_text=True)).group(1)


def recover(web, code: str, key: SoftKey):
    """The lost-device ceremony: options asked with the code, then the new passkey."""
    opts = web.post("/api/recover/options", json={"code": code})
    if opts.status_code != 200:
        return opts
    return web.post("/api/recover/verify", json={"credential": key.register(opts.get_json())})


def actions() -> list[str]:
    return db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()


def phone_of(ctx, world):
    """The client's own old phone: a session bound to their original passkey."""
    web = ctx.test_client()
    person = db.session.get(User, world.ids["client_id"])
    factories.sign_in(web, person)
    return web


def test_security_29_a_code_is_an_argon2_hash_works_once_and_needs_no_one(ctx):
    world = held.build(utcnow())
    code = make_code(phone_of(ctx, world))
    row = db.session.scalar(select(RecoveryCode))
    secret = code.replace("-", "")[codes.LOOKUP_LENGTH :]
    assert row.secret_hash.startswith("$argon2id$") and secret not in row.secret_hash
    assert code.replace("-", "")[: codes.LOOKUP_LENGTH] == row.lookup
    fresh = ctx.test_client()
    res = recover(fresh, code.lower().replace("-", " "), SoftKey())  # typed loosely: still the code
    assert res.status_code == 200, res.data
    # No staff link, so no hold and no lock: everything recorded before shows.
    assert held.NAMED_NOTE in fresh.get("/my-check-ins").get_data(as_text=True)
    assert fresh.post("/account/language", data={"locale": "de"}).status_code == 302
    made = db.session.scalar(select(Credential).order_by(Credential.id.desc()))
    assert made.sees_from is None and made.hold_until is None
    assert made.nickname.startswith("Added with a recovery code")
    again = recover(ctx.test_client(), code, SoftKey())
    assert again.status_code == 400 and again.get_json()["field"] == "code"
    assert db.session.scalar(select(RecoveryCode.used_at)) is not None
    assert {"recovery_code_made", "recovery_code_used", "passkey_added"} <= set(actions())


def test_security_29_guessing_codes_is_rate_limited_and_a_wrong_guess_is_audited(make_app):
    app = make_app(RATELIMIT_ENABLED=True)
    with app.app_context():
        world = held.build(utcnow())
        code = make_code(phone_of(app, world))
        lookup = code[:9]  # the public part of a real code, then a wrong secret
        web = app.test_client()
        answers = [
            web.post("/api/recover/options", json={"code": f"{lookup}AAAA-AAAA-AAAA-AAAA"})
            for _ in range(7)
        ]
        codes_seen = [a.status_code for a in answers]
        assert codes_seen[0] == 400 and codes_seen[-1] == 429, codes_seen
        assert actions().count("recovery_code_failed") == codes_seen.count(400)
        # The right code is also refused while the limit holds: guessing cannot go on.
        assert web.post("/api/recover/options", json={"code": code}).status_code == 429


def test_security_42_the_persons_code_unlocks_a_device_a_staff_link_added(ctx):
    world = held.build(utcnow())
    code = make_code(phone_of(ctx, world))
    held.recover(ctx, world, "client")
    device = held.held_client(ctx, world, "client", now=utcnow())
    assert held.NAMED_NOTE not in device.get("/my-check-ins").get_data(as_text=True)
    wrong = device.post("/account/hold/unlock", data={"code": "0000-0000-0000-0000-0000-0000"})
    assert wrong.status_code == 400 and held.NAMED_NOTE not in wrong.get_data(as_text=True)
    assert device.post("/account/hold/unlock", data={"code": code}).status_code == 302
    assert held.NAMED_NOTE in device.get("/my-check-ins").get_data(as_text=True)
    assert device.post("/account/language", data={"locale": "de"}).status_code == 302  # no hold
    assert "recovery_code_unlocked" in actions()
    # Single use: another device a link adds cannot unlock with it again.
    held.recover(ctx, world, "client")
    other = held.held_client(ctx, world, "client", now=utcnow())
    assert other.post("/account/hold/unlock", data={"code": code}).status_code == 400
    assert held.NAMED_NOTE not in other.get("/my-check-ins").get_data(as_text=True)


def test_security_42_a_code_made_on_a_locked_device_unlocks_no_more_than_it_saw(ctx):
    with time_machine.travel(utcnow(), tick=False) as clock:
        world = held.build(utcnow())
        key = held.recover(ctx, world, "client")
        clock.shift(timedelta(hours=73))  # the hold is over: it may manage the account
        device = ctx.test_client()
        assert flows.sign_in(device, key).status_code == 200
        code = make_code(device)
        assert db.session.scalar(select(RecoveryCode.sees_from)) is not None
        fresh = ctx.test_client()
        assert recover(fresh, code, SoftKey()).status_code == 200
        assert held.NAMED_NOTE not in fresh.get("/my-check-ins").get_data(as_text=True)
        assert json.loads(fresh.get("/account/export").data)["check_ins"] == []


def test_making_a_code_needs_a_recent_sign_in_and_replaces_the_one_before(ctx):
    world = held.build(utcnow())
    phone = phone_of(ctx, world)
    first = make_code(phone)
    second = make_code(phone)
    assert first != second
    assert recover(ctx.test_client(), first, SoftKey()).status_code == 400
    with time_machine.travel(utcnow() + timedelta(minutes=11), tick=False):
        res = phone.post("/account/recovery-code")
        assert res.status_code == 302 and "reauth=1" in res.location
    assert db.session.scalar(select(RecoveryCode).where(RecoveryCode.revoked_at.is_(None)))


def test_a_deactivated_account_cannot_come_back_with_its_code(ctx):
    world = held.build(utcnow())
    code = make_code(phone_of(ctx, world))
    person = db.session.get(User, world.ids["client_id"])
    person.active = False
    db.session.commit()
    assert recover(ctx.test_client(), code, SoftKey()).status_code == 400


def test_the_code_is_offered_once_on_home_after_the_first_check_in(ctx):
    practice = factories.practice()
    therapist = factories.user(practice, "therapist")
    person = factories.user(practice, "client", therapist=therapist)
    db.session.commit()
    web = ctx.test_client()
    factories.sign_in(web, person)
    offer = "Save a recovery code"
    assert offer not in web.get("/home").get_data(as_text=True)  # nothing recorded yet
    held.check_in(
        person, therapist, None, phase="before", comment="", visibility="named", at=utcnow()
    )
    db.session.commit()
    assert offer in web.get("/home").get_data(as_text=True)
    assert offer not in web.get("/my-check-ins").get_data(as_text=True)  # on home only
    assert web.post("/account/recovery-code/later", data={"next": "/home"}).status_code == 302
    assert offer not in web.get("/home").get_data(as_text=True)
    assert "Recovery code" in web.get("/account").get_data(as_text=True)  # Settings keeps it


def test_codes_are_read_as_people_type_them():
    code = "K7Q2M9XA3FJD8WPZT6HNQ4RC"
    assert codes.normalized("k7q2-m9xa 3fjd-8wpz-t6hn-q4rc") == code
    assert codes.normalized("K7Q2-M9XA-3FJD-8WPZ-T6HN-Q4RO") == code[:-1] + "0"
    assert codes.normalized(code[:-1]) is None and codes.normalized(None) is None
    assert codes.normalized(code[:-1] + "U") is None and codes.written(code).count("-") == 5
