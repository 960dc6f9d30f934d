"""SECURITY 42, issues 21.1, 21.2 and 20.3: time alone never unlocks what was recorded before a staff-made
recovery; a held session cannot tell an anonymously answered session from an unanswered one; the recovery
passkey's name is fixed; the practice's hold cannot be shortened just before a recovery.
"""

import json
import re
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from app.auth import recovery
from app.extensions import db
from app.models import (
    AuditEvent,
    Credential,
    Practice,
    PushSubscription,
    User,
    UserSession,
    utcnow,
)
from tests import factories
from tests.conftest import empty_tables
from tests.dashboard.test_views import SETTINGS

from . import flows, held
from .softkey import SoftKey

START = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def texts(web, paths) -> str:
    out = []
    for path in paths:
        res = web.get(path) if isinstance(path, str) else web.post(path[1])
        assert res.status_code < 500, (path, res.status_code)
        out.append(res.get_data(as_text=True))
    return "\n".join(out)


def test_security_42_four_days_after_a_staff_made_recovery_nothing_earlier_shows(ctx):
    with time_machine.travel(START, tick=False) as clock:
        world = held.build(utcnow())
        client_key = held.recover(ctx, world, "client")
        therapist_key = held.recover(ctx, world, "therapist")
        clock.shift(timedelta(days=4))
        phone = ctx.test_client()
        assert flows.sign_in(phone, client_key).status_code == 200
        export = phone.get("/account/export")
        assert export.status_code == 200 and json.loads(export.data)["check_ins"] == []
        seen = texts(phone, ["/home", "/my-check-ins", "/account/export", "/account"])
        assert held.NAMED_NOTE not in seen and held.ANON_NOTE not in seen
        laptop = ctx.test_client()
        assert flows.sign_in(laptop, therapist_key).status_code == 200
        client_page = f"/clients/{world.ids['client_id']}"
        paths = ["/dashboard", "/appointments", client_page, ("POST", "/export/check-ins.csv")]
        seen = texts(laptop, paths)
        for marker in (held.NAMED_NOTE, held.CLIENT_NAME, held.OTHER_CLIENT):
            assert marker not in seen
        # Still locked a month on: no amount of time unlocks it.
        clock.shift(timedelta(days=30))
        assert flows.sign_in(phone, client_key).status_code == 200
        assert json.loads(phone.get("/account/export").data)["check_ins"] == []


CSRF = re.compile(r'(name="csrf-token" content="|name="csrf_token" value="|"csrf_token":\s*")[^"]+')


def held_pages(app, answered: bool) -> dict:
    """Every page and API answer the held client gets in a world where its session of yesterday was
    answered anonymously, or not at all; ids and times are the same in both worlds."""
    with time_machine.travel(START, tick=False) as clock:
        world = held.build(utcnow())
        person = world.users["client"]
        past = world.ids["appointment_id"]  # yesterday's: a named before, an anonymous after
        if not answered:
            db.session.execute(
                db.text("DELETE FROM check_in WHERE visibility = 'anonymous'")
            )  # the same world, its anonymous after-check-in never sent
            db.session.commit()
        held.recover(app, world, "client")
        clock.shift(timedelta(minutes=5))
        web = held.held_client(app, world, "client", now=utcnow())
        answers = {}
        for rule in app.url_map.iter_rules():
            if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static":
                res = web.get(rule.rule)
                answers[rule.rule] = (res.status_code, CSRF.sub(r"\1", res.get_data(as_text=True)))
        for path in (f"/check-in?appointment={past}&phase=after", "/api/check-ins/owner"):
            res = web.get(path)
            answers[path] = (res.status_code, CSRF.sub(r"\1", res.get_data(as_text=True)))
        for phase in ("after", "before"):
            body = {
                "idempotency_key": f"probe-{phase}-0001",
                "appointment_id": past,
                "phase": phase,
                "safe": 9,
                "heard": 9,
                "understood": 9,
                "visibility": "anonymous",
                "created_at": utcnow().isoformat(),
            }
            res = web.post("/api/check-ins", json=body)
            answers[f"POST {phase}"] = (res.status_code, res.get_data(as_text=True))
        assert person.id == world.ids["client_id"]
    db.session.remove()
    empty_tables()
    return answers


def test_security_42_a_held_session_cannot_tell_anonymous_from_unanswered(ctx):
    """Issue 20.3: every page the held client opens, and a probe check-in, answer the same whether the
    client answered yesterday's session anonymously or not at all."""
    answered, unanswered = held_pages(ctx, True), held_pages(ctx, False)
    assert answered.keys() == unanswered.keys() and "/home" in answered
    differ = [path for path in answered if answered[path] != unanswered[path]]
    assert not differ, {p: (answered[p][0], unanswered[p][0]) for p in differ}
    assert answered["POST after"][0] == 403  # refused, not "already sent" and not stored


def recovery_nickname(ctx, locale: str | None, chosen: str) -> str:
    with time_machine.travel(START, tick=False):
        practice = factories.practice()
        therapist = factories.user(practice, "therapist")
        person = factories.user(
            practice, "client", therapist=therapist, locale=locale, time_zone="Europe/Berlin"
        )
        factories.credential(person, nickname="Robin's phone")
        db.session.commit()
        staff = ctx.test_client()
        factories.sign_in(staff, therapist)
        token = held.link_token(staff.post(f"/invites/for/{person.id}").get_data(as_text=True))
        fresh = ctx.test_client()
        opts = fresh.post(f"/api/invite/{token}/options", json={"display_name": "x"})
        credential = SoftKey().register(opts.get_json())
        res = fresh.post(
            f"/api/invite/{token}/verify", json={"credential": credential, "nickname": chosen}
        )
        assert res.status_code == 200, res.data
        db.session.expire_all()
        return db.session.scalar(
            select(Credential.nickname).where(Credential.recovered_at.is_not(None))
        )


def test_security_42_the_recovery_passkey_gets_a_fixed_dated_name(ctx):
    chosen = "Old phone (lost - remove me)"
    assert recovery_nickname(ctx, None, chosen) == "Added through a recovery link, Dec 7"
    db.session.remove()
    empty_tables()
    german = recovery_nickname(ctx, "de", chosen)
    assert german == "Über einen Wiederherstellungslink hinzugefügt, 7. Dez."


def test_security_42_a_held_session_renames_no_passkey(ctx):
    world = held.build(utcnow())
    held.recover(ctx, world, "client")
    web = held.held_client(ctx, world, "client", now=utcnow())
    old, mine = world.ids["credential"]["client"], world.recovered["client"]
    for credential_id in (old, mine):
        res = web.post(f"/account/passkeys/{credential_id}/rename", data={"nickname": "Lost"})
        assert res.status_code == 403
    db.session.expire_all()
    names = {c.id: c.nickname for c in db.session.get(User, world.ids["client_id"]).credentials}
    assert names[old] == held.CLIENT_OLD_PASSKEY and names[mine].startswith("Added through")
    # The client's own older device still renames its passkeys.
    phone = ctx.test_client()
    factories.sign_in(phone, db.session.get(User, world.ids["client_id"]))
    assert (
        phone.post(f"/account/passkeys/{old}/rename", data={"nickname": "Mine"}).status_code == 302
    )


def test_security_42_held_client_changes_nothing_the_review_reproduced(ctx):
    """Issue 21.1's list: sign out every device, turn off reminders, delete a push subscription."""
    world = held.build(utcnow())
    held.recover(ctx, world, "client")
    web = held.held_client(ctx, world, "client", now=utcnow())
    assert web.post("/account/sessions/revoke-all").status_code == 403
    assert web.post("/account/reminders", data={"quiet": "y"}).status_code == 403
    res = web.delete("/api/push/subscriptions", json={"endpoint": held.ENDPOINT})
    assert res.status_code == 403 and "error" in res.get_json()
    db.session.expire_all()
    person = db.session.get(User, world.ids["client_id"])
    assert person.remind_before and person.quiet_start_minute is None
    live = [s for s in db.session.scalars(select(UserSession)) if s.revoked_at is None]
    assert any(s.user_agent == held.OLD_AGENT and s.user_id == person.id for s in live)
    assert db.session.scalar(select(PushSubscription.id)) is not None


def test_security_42_held_therapist_sees_no_names_and_reading_appointments_is_audited(ctx):
    world = held.build(utcnow())
    held.recover(ctx, world, "therapist")
    web = held.held_client(ctx, world, "therapist", now=utcnow())
    client_page = f"/clients/{world.ids['client_id']}"
    for path in ("/appointments", client_page, "/dashboard", "/"):
        res = web.get(path, follow_redirects=True)
        text = res.get_data(as_text=True)
        assert res.status_code == 403 and held.CLIENT_NAME not in text, path
    laptop = ctx.test_client()
    factories.sign_in(laptop, db.session.get(User, world.users["therapist"].id))
    assert held.CLIENT_NAME in laptop.get("/appointments").get_data(as_text=True)
    reads = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "view_appointments")
    ).all()
    assert [(r.actor_id, r.target_id) for r in reads] == [(world.users["therapist"].id,) * 2]


def test_security_42_the_hold_cannot_go_below_72_hours_nor_shrink_just_before_a_recovery(ctx):
    with time_machine.travel(START, tick=False) as clock:
        world = held.build(utcnow())
        admin = ctx.test_client()
        factories.sign_in(admin, world.users["admin"])
        for low in ("1", "71"):
            res = admin.post("/admin/settings", data={**SETTINGS, "recovery_hold_hours": low})
            assert res.status_code == 400
        assert admin.post("/admin/settings", data={**SETTINGS, "recovery_hold_hours": "720"})
        clock.shift(timedelta(days=2))  # 720 h is in force now
        factories.sign_in(admin, world.users["admin"])
        res = admin.post("/admin/settings", data={**SETTINGS, "recovery_hold_hours": "72"})
        assert res.status_code == 302
        held.recover(ctx, world, "client")  # right after lowering it: the old hold applies
        row = db.session.get(Credential, world.recovered["client"])
        assert row.hold_until == utcnow() + timedelta(hours=720)
        clock.shift(timedelta(hours=25))  # a recovery started 24 h after the change gets 72 h
        held.recover(ctx, world, "therapist")
        row = db.session.get(Credential, world.recovered["therapist"])
        assert row.hold_until == utcnow() + timedelta(hours=72)


def test_hold_hours_in_force_follow_a_change_only_after_24_hours():
    changed = START
    practice = Practice(
        recovery_hold_hours=100,
        recovery_hold_previous_hours=300,
        recovery_hold_changed_at=changed,
    )
    assert recovery.hold_hours(practice, at=changed) == 300
    assert recovery.hold_hours(practice, at=changed + timedelta(hours=23, minutes=59)) == 300
    assert recovery.hold_hours(practice, at=changed + timedelta(hours=24)) == 100
    practice.recovery_hold_hours, practice.recovery_hold_changed_at = 10, None
    assert recovery.hold_hours(practice, at=changed) == 72  # never below 72, whatever is stored
