"""Passkey ceremonies through the real API and py_webauthn (SECURITY.md 6, 17, 21-27)."""

import logging
import threading
from datetime import timedelta

import time_machine
from sqlalchemy import func, select
from webauthn import base64url_to_bytes

from app.extensions import db
from app.models import Credential, User, UserSession, utcnow

from .flows import make_invite, register, sign_in, signed_in_role
from .softkey import SoftKey


def cookie(app, client):
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value


def put_cookie(app, client, value):
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], value)


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_register_from_invite_then_sign_in_with_nothing_typed(ctx, client):
    key = SoftKey()
    opts, res = register(client, make_invite("admin"), key, name="Ada")
    assert res.status_code == 200, res.data
    assert res.get_json()["redirect"].startswith("/")
    options = opts.get_json()
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    user = db.session.scalar(select(User))
    assert (user.role, user.display_name, user.time_zone) == ("admin", "Ada", "Europe/Berlin")
    assert len(user.webauthn_user_id) == 64 and b"Ada" not in user.webauthn_user_id
    assert base64url_to_bytes(options["user"]["id"]) == user.webauthn_user_id
    assert signed_in_role(client) == "admin"

    client.post("/signout")
    assert signed_in_role(client) is None
    res = sign_in(client, key)
    assert res.status_code == 200, res.data
    assert signed_in_role(client) == "admin"
    db.session.expire_all()
    assert db.session.scalar(select(Credential.sign_count)) == 1


def test_user_verification_off_is_refused(ctx, client):
    lazy = SoftKey(user_verified=False)
    _, res = register(client, make_invite("therapist"), lazy)
    assert res.status_code == 400
    assert "passkey" in res.get_json()["error"]
    assert count(User) == 0 and count(Credential) == 0

    key = SoftKey()
    _, res = register(client, make_invite("therapist"), key)
    assert res.status_code == 200
    client.post("/signout")
    key.user_verified = False
    res = sign_in(client, key)
    assert res.status_code == 400
    assert signed_in_role(client) is None


def test_replayed_registration_is_refused(app, ctx, client):
    key = SoftKey()
    token = make_invite("admin")
    details = {"display_name": "Ada", "time_zone": "UTC"}
    opts = client.post(f"/api/invite/{token}/options", json=details).get_json()
    before = cookie(app, client)
    body = {**details, "credential": key.register(opts)}
    assert client.post(f"/api/invite/{token}/verify", json=body).status_code == 200

    replay = app.test_client()
    put_cookie(app, replay, before)
    res = replay.post(f"/api/invite/{token}/verify", json=body)
    assert res.status_code in (400, 410)
    assert count(User) == 1 and count(Credential) == 1 and count(UserSession) == 1


def test_replayed_registration_on_a_fresh_invite_is_refused(app, ctx, client):
    """Same cookie, a new invite: the stored challenge was used up, so the old response fails."""
    key = SoftKey()
    token = make_invite("admin")
    opts = client.post(f"/api/invite/{token}/options", json={"display_name": "A"}).get_json()
    before = cookie(app, client)
    body = {"display_name": "A", "credential": key.register(opts)}
    other = make_invite("admin")
    client.post(f"/api/invite/{token}/verify", json=body)
    put_cookie(app, client, before)
    assert client.post(f"/api/invite/{other}/verify", json=body).status_code == 400
    assert count(User) == 1


def test_replayed_sign_in_response_is_refused(app, ctx, client):
    key = SoftKey()
    register(client, make_invite("admin"), key)
    client.post("/signout")
    opts = client.post("/api/auth/signin/options", json={}).get_json()
    before = cookie(app, client)
    body = {"credential": key.sign(opts)}
    assert client.post("/api/auth/signin/verify", json=body).status_code == 200
    sessions_after_first = count(UserSession)

    attacker = app.test_client()
    put_cookie(app, attacker, before)
    res = attacker.post("/api/auth/signin/verify", json=body)
    assert res.status_code == 400
    assert signed_in_role(attacker) is None
    assert count(UserSession) == sessions_after_first


def test_credential_of_b_cannot_sign_in_as_a(ctx, client):
    key_a, key_b = SoftKey(), SoftKey()
    register(client, make_invite("admin"), key_a, name="A")
    client.post("/signout")
    register(client, make_invite("therapist"), key_b, name="B")
    client.post("/signout")
    res = sign_in(client, key_b, user_handle=key_a.user_handle)
    assert res.status_code == 400
    assert signed_in_role(client) is None
    assert sign_in(client, key_b).status_code == 200
    assert signed_in_role(client) == "therapist"


def test_missing_user_handle_and_unknown_credential_are_refused(ctx, client):
    key = SoftKey()
    register(client, make_invite("admin"), key)
    client.post("/signout")
    opts = client.post("/api/auth/signin/options", json={}).get_json()
    credential = key.sign(opts)
    credential["response"]["userHandle"] = None
    assert (
        client.post("/api/auth/signin/verify", json={"credential": credential}).status_code == 400
    )
    stranger = SoftKey()
    stranger.user_handle = key.user_handle
    assert sign_in(client, stranger).status_code == 400
    assert signed_in_role(client) is None


def test_sign_count_zero_stays_valid_and_regression_is_refused(ctx, client):
    key = SoftKey()
    register(client, make_invite("admin"), key)
    client.post("/signout")
    assert sign_in(client, key, count_step=0).status_code == 200  # counters that stay 0 are fine
    client.post("/signout")
    assert sign_in(client, key, count_step=5).status_code == 200
    client.post("/signout")
    key.sign_count = 2
    assert sign_in(client, key).status_code == 400  # 3 after 5: a cloned authenticator
    assert signed_in_role(client) is None


def test_challenge_expires_after_five_minutes(ctx, client):
    key = SoftKey()
    token = make_invite("admin")
    with time_machine.travel(utcnow(), tick=False) as clock:
        opts = client.post(f"/api/invite/{token}/options", json={"display_name": "A"}).get_json()
        clock.shift(timedelta(minutes=5, seconds=5))
        body = {"display_name": "A", "credential": key.register(opts)}
        res = client.post(f"/api/invite/{token}/verify", json=body)
    assert res.status_code == 400
    assert "too long" in res.get_json()["error"]
    assert count(User) == 0


def test_same_credential_cannot_register_twice(ctx, client):
    key = SoftKey()
    register(client, make_invite("admin"), key)
    client.post("/signout")
    other = SoftKey(credential_id=key.credential_id)
    _, res = register(client, make_invite("therapist"), other)
    assert res.status_code == 400
    assert "already registered" in res.get_json()["error"]
    assert count(Credential) == 1 and count(User) == 1


def test_wrong_origin_is_refused(ctx, client):
    key = SoftKey(origin="https://evil.example")
    _, res = register(client, make_invite("admin"), key)
    assert res.status_code == 400
    assert count(User) == 0


def test_new_session_at_sign_in_makes_the_pre_sign_in_cookie_useless(app, ctx, client):
    key = SoftKey()
    register(client, make_invite("admin"), key)
    client.post("/signout")
    opts = client.post("/api/auth/signin/options", json={}).get_json()
    pre = cookie(app, client)
    client.post("/api/auth/signin/verify", json={"credential": key.sign(opts)})
    post = cookie(app, client)
    assert pre != post
    old = app.test_client()
    put_cookie(app, old, pre)
    assert old.get("/api/session").status_code == 401


def test_auth_events_are_logged(ctx, client, caplog):
    caplog.set_level(logging.INFO, logger="attune")
    key = SoftKey()
    register(client, make_invite("admin"), key, name="Private Name")
    user_id = db.session.scalar(select(User.id))
    client.post("/signout")
    key.user_verified = False
    sign_in(client, key)
    key.user_verified = True
    sign_in(client, key)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("attune")]
    assert any(m.startswith("registered") and f"user={user_id}" in m for m in messages)
    assert any(m.startswith("signed out") and f"user={user_id}" in m for m in messages)
    assert any("refused" in m for m in messages)
    assert any(m.startswith("signed in") and f"user={user_id}" in m for m in messages)
    assert not any("Private Name" in m for m in messages)


def race(app, cookie_value, path, body, n=4):
    """Send the same request from `n` clients holding the same cookie, all at once."""
    barrier = threading.Barrier(n)
    codes = []

    def send():
        client = app.test_client()
        put_cookie(app, client, cookie_value)
        barrier.wait(timeout=10)
        codes.append(client.post(path, json=body).status_code)

    threads = [threading.Thread(target=send) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return sorted(codes)


def test_concurrent_replays_of_one_sign_in_give_exactly_one_session(app):
    """Single use holds under concurrency too (on PostgreSQL when ATTUNE_TEST_DB=postgres)."""
    key = SoftKey()
    client = app.test_client()
    with app.app_context():
        register(client, make_invite("admin"), key)
    client.post("/signout")
    opts = client.post("/api/auth/signin/options", json={}).get_json()
    body = {"credential": key.sign(opts)}
    codes = race(app, cookie(app, client), "/api/auth/signin/verify", body)
    assert codes == [200, 400, 400, 400]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 2


def test_concurrent_registrations_from_one_invite_give_one_account(app):
    key = SoftKey()
    client = app.test_client()
    with app.app_context():
        token = make_invite("admin")
    opts = client.post(f"/api/invite/{token}/options", json={"display_name": "A"}).get_json()
    body = {"display_name": "A", "credential": key.register(opts)}
    codes = race(app, cookie(app, client), f"/api/invite/{token}/verify", body)
    assert codes.count(200) == 1 and all(c in (400, 410) for c in codes if c != 200)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
        assert db.session.scalar(select(func.count()).select_from(Credential)) == 1


GARBAGE = [
    None,
    [],
    "text",
    {"credential": None},
    {"credential": "x"},
    {"credential": {}},
    {"credential": {"rawId": "!!!", "response": {}}},
    {"credential": {"rawId": "AAAA", "response": {"userHandle": "%%%"}}},
    {"credential": {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": []}},
]


def test_malformed_ceremony_bodies_get_a_clear_4xx_never_a_500(ctx, client):
    key = SoftKey()
    token = make_invite("admin")
    register(client, make_invite("therapist"), key)
    for body in GARBAGE:
        client.post(f"/api/invite/{token}/options", json={"display_name": "A"})
        res = client.post(f"/api/invite/{token}/verify", json=body)
        assert 400 <= res.status_code < 500 and "error" in res.get_json(), body
        client.post("/api/auth/signin/options", json={})
        res = client.post("/api/auth/signin/verify", json=body)
        assert 400 <= res.status_code < 500 and "error" in res.get_json(), body
        client.post("/api/account/passkeys/options", json={})
        res = client.post("/api/account/passkeys/verify", json=body)
        assert 400 <= res.status_code < 500 and "error" in res.get_json(), body
    res = client.post("/api/auth/signin/verify", data=b"{not json", content_type="application/json")
    assert res.status_code == 400
    res = client.post("/api/auth/signin/verify", json={"pad": "x" * 70_000})
    assert res.status_code == 413
    assert count(User) == 1 and count(Credential) == 1
