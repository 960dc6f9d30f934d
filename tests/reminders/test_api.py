"""Subscriptions API, reminder settings form and the therapist-facing status (issue 5, Build 1-2)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import PushSubscription, Reminder, User
from app.reminders import subscriptions
from app.reminders.keys import current, key_id
from app.reminders.status import reminder_status
from tests import factories

from .helpers import appointment, device

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # what the app-wide text check refuses


def strings(value):
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


API = "/api/push/subscriptions"


@pytest.fixture
def web(rapp, people):
    client = rapp.test_client()
    factories.sign_in(client, people[2])
    return client


def count() -> int:
    db.session.commit()
    return db.session.scalar(select(func.count(PushSubscription.id)))


def test_public_key_is_served_and_stable(rapp, rctx):
    first = rapp.test_client().get("/api/push/key").get_json()
    assert first == {"key": current(rapp).public_b64, "key_id": key_id(first["key"])}
    assert len(first["key"]) == 87  # 65-byte uncompressed P-256 point, base64url
    assert rapp.test_client().get("/api/push/key").get_json() == first


def test_subscribe_upserts_by_endpoint_and_replaces_a_changed_one(web, receiver, people):
    old, new = receiver.new_subscription(), receiver.new_subscription()
    assert web.post(API, json=old.as_dict()).status_code == 201
    assert web.post(API, json=old.as_dict()).status_code == 201  # every app open: still one row
    assert count() == 1
    body = {**new.as_dict(), "replaces": old.endpoint}
    response = web.post(API, json=body)
    assert response.status_code == 201 and response.get_json()["stale"] is False
    assert list(db.session.scalars(select(PushSubscription.endpoint))) == [new.endpoint]
    row = db.session.scalar(select(PushSubscription))
    assert row.user_id == people[2].id and row.p256dh == new.p256dh
    assert row.vapid_key_id == current(web.application).key_id


def test_a_device_changing_hands_moves_to_the_new_user(rapp, web, receiver, people):
    sub = receiver.new_subscription()
    web.post(API, json=sub.as_dict())
    other = factories.user(people[0], "client", therapist=people[1])
    db.session.commit()
    second = rapp.test_client()
    factories.sign_in(second, other)
    assert second.post(API, json=sub.as_dict()).status_code == 201
    assert count() == 1
    assert db.session.scalar(select(PushSubscription.user_id)) == other.id


def test_knowing_an_endpoint_without_its_secret_cannot_take_a_device_over(
    rapp, web, receiver, people
):
    sub = receiver.new_subscription()
    web.post(API, json=sub.as_dict())
    thief = factories.user(people[0], "client", therapist=people[1])
    db.session.commit()
    second = rapp.test_client()
    factories.sign_in(second, thief)
    forged = {**sub.as_dict(), "keys": receiver.new_subscription().as_dict()["keys"]}
    response = second.post(API, json=forged)
    assert response.status_code == 409 and "error" in response.get_json()
    assert count() == 1
    row = db.session.scalar(select(PushSubscription))
    assert row.user_id == people[2].id and row.auth == sub.auth


def test_subscription_made_with_an_old_key_is_flagged_stale(web, receiver):
    body = {**receiver.new_subscription().as_dict(), "key": "B" + "A" * 86}
    response = web.post(API, json=body)
    assert response.status_code == 201 and response.get_json()["stale"] is True


@pytest.mark.parametrize("body", [None, [], "x", 3])
def test_a_body_that_is_not_an_object_gets_400(web, body):
    response = web.post(API, json=body) if body is not None else web.post(API, data="{")
    assert response.status_code == 400 and "error" in response.get_json()
    assert count() == 0


FCM = "https://fcm.googleapis.com/fcm/send/abc123"


@pytest.mark.parametrize(
    "change, why",
    [
        ({"keys": None}, "endpoint and keys"),
        ({"endpoint": "ftp://push.example/abc"}, "https"),
        ({"endpoint": 42}, "1000 characters"),
        ({"endpoint": "https://" + "a" * 1000}, "1000 characters"),
        ({"keys": {"p256dh": "not b64!", "auth": "A" * 22}}, "base64url"),
        ({"keys": {"p256dh": "A" * 87, "auth": "A" * 22}}, "P-256"),
        ({"keys": {"p256dh": ["B" + "A" * 86], "auth": "A" * 22}}, "base64url"),
        ({"keys": {"p256dh": 1, "auth": 2}}, "base64url"),
        ("auth:" + "A" * 21, "base64url"),
        ("auth:" + "A" * 23, "base64url"),
        ("auth:" + "A" * 21 + "\x00", "base64url"),
        ("auth:" + "A" * 21 + "\ud800", "base64url"),
        ({"key": ["B" + "A" * 86]}, "server key"),
        ({"key": "B\x00"}, "server key"),
        ({"surprise": 1}, "surprise"),
        ("keys.extra", "keys.extra"),
        ({"replaces": "https://fcm.googleapis.com/\x00"}, "old endpoint"),
        ({"replaces": ["x"]}, "old endpoint"),
        ({"expirationTime": "soon"}, "expirationTime"),
        # Not a push service: the server must never be made to call these (SSRF).
        ({"endpoint": "https://[::1]:7450/x"}, "IP address"),
        ({"endpoint": "https://127.0.0.2/x"}, "IP address"),
        ({"endpoint": "https://169.254.169.254/latest/meta-data"}, "IP address"),
        ({"endpoint": "https://2130706433/x"}, "IP address"),
        ({"endpoint": "https://0x7f000001/x"}, "IP address"),
        ({"endpoint": "https://0177.0.0.1/x"}, "IP address"),
        ({"endpoint": "https://127.1/x"}, "IP address"),
        ({"endpoint": "https://[::ffff:127.0.0.1]/x"}, "IP address"),
        ({"endpoint": "https://user:pw@fcm.googleapis.com/x"}, "password"),
        ({"endpoint": "https://fcm.googleapis.com@evil.example/x"}, "password"),
        ({"endpoint": "https://fcm.googleapis.com:8443/x"}, "port"),
        ({"endpoint": "https://fcm.googleapis.com:99999/x"}, "port"),
        ({"endpoint": "http://fcm.googleapis.com/fcm/send/x"}, "https"),
        ({"endpoint": "https://fcm.googleapis.com.evil.example/x"}, "known push service"),
        ({"endpoint": "https://evil.example/fcm.googleapis.com/"}, "known push service"),
        ({"endpoint": "https://a.b.push.apple.com/x"}, "known push service"),
        ({"endpoint": "https://localhost/x"}, "known push service"),
        ({"endpoint": "https://fcm.googleapis.com\\@evil.example/x"}, "ASCII"),
        ({"endpoint": "https://fcm.googleapis.com/x\x00"}, "ASCII"),
        ({"endpoint": "https://fcm.googleapis.com/\ud800"}, "ASCII"),
        ({"endpoint": "https://fcm.googleapis.com/x y"}, "ASCII"),
    ],
)
def test_bad_subscriptions_get_422_naming_the_problem(web, receiver, change, why):
    body = {**receiver.new_subscription().as_dict(), "endpoint": FCM}
    if isinstance(change, dict):
        body.update(change)
    elif change == "keys.extra":
        body["keys"] = {**body["keys"], "extra": "x"}
    else:
        body["keys"] = {**body["keys"], "auth": change.split(":", 1)[1]}
    response = web.post(API, json=body)
    if any(UNSTORABLE.search(text) for text in strings(body)):
        # NUL and lone surrogates never reach the parser: the app-wide text check refuses them first.
        assert response.status_code == 400, body
        assert "control or invisible characters" in response.get_json()["error"]
    else:
        assert response.status_code == 422, body
        assert why in response.get_json()["error"]
    assert count() == 0


@pytest.mark.parametrize(
    "endpoint",
    [
        FCM,
        "https://fcm.googleapis.com/wp/abc:def",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
        "https://web.push.apple.com/QGx2z",
        "https://wns2-db5p.notify.windows.com/w/?token=BQYAAA%2b",
        "https://fcm.googleapis.com:443/fcm/send/x",
    ],
)
def test_the_browsers_push_services_are_accepted(web, receiver, endpoint):
    body = {**receiver.new_subscription().as_dict(), "endpoint": endpoint}
    assert web.post(API, json=body).status_code == 201
    assert count() == 1


def test_the_operators_extra_host_is_accepted_on_its_port_only(make_app, people, receiver):
    app = make_app(VAPID_PRIVATE_KEY="", PUSH_EXTRA_HOSTS=receiver.origin.split("//")[1])
    web = app.test_client()
    with app.app_context():
        factories.sign_in(web, db.session.get(User, people[2].id))
    sub = receiver.new_subscription().as_dict()
    assert web.post(API, json=sub).status_code == 201  # plain http, an IP: the operator said so
    other_port = {**sub, "endpoint": sub["endpoint"].replace(receiver.origin, "http://127.0.0.1:1")}
    response = web.post(API, json=other_port)
    assert response.status_code == 422 and "IP address" in response.get_json()["error"]
    assert count() == 1


def test_http_endpoints_are_refused_unless_configured(make_app, people, receiver):
    strict = make_app(VAPID_PRIVATE_KEY="")
    web = strict.test_client()
    with strict.app_context():
        factories.sign_in(web, db.session.get(User, people[2].id))
    assert web.post(API, json=receiver.new_subscription().as_dict()).status_code == 422


def test_unsubscribe_removes_only_your_own(rapp, web, receiver, people):
    mine, theirs = receiver.new_subscription(), receiver.new_subscription()
    web.post(API, json=mine.as_dict())
    other = factories.user(people[0], "client", therapist=people[1])
    device(other, theirs)
    assert web.delete(API, json={"endpoint": theirs.endpoint}).get_json()["removed"] == 0
    assert web.delete(API, json={"endpoint": mine.endpoint}).get_json()["removed"] == 1
    assert web.delete(API, json={}).status_code == 400
    assert list(db.session.scalars(select(PushSubscription.endpoint))) == [theirs.endpoint]


def test_only_signed_in_clients_may_subscribe(rapp, people, receiver):
    anonymous = rapp.test_client()
    assert anonymous.post(API, json=receiver.new_subscription().as_dict()).status_code == 401
    staff = rapp.test_client()
    factories.sign_in(staff, people[1])
    assert staff.post(API, json=receiver.new_subscription().as_dict()).status_code == 403
    assert staff.post("/account/reminders", data={}).status_code == 403
    assert count() == 0


def test_writes_need_a_csrf_token(make_app, people, receiver):
    strict = make_app(VAPID_PRIVATE_KEY="", PUSH_EXTRA_HOSTS=["127.0.0.1:*"], WTF_CSRF_ENABLED=True)
    web = strict.test_client()
    with strict.app_context():
        factories.sign_in(web, db.session.get(User, people[2].id))
    assert web.post(API, json=receiver.new_subscription().as_dict()).status_code == 400
    assert web.post("/account/reminders", data={"remind_before": "y"}).status_code == 400
    assert count() == 0


def test_settings_form_saves_and_replans(rapp, web, people):
    _, therapist, client = people
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    a = appointment(client, therapist, start.replace(hour=12, minute=0, second=0))
    page = web.get("/account")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="reminders"' in html and "Turn on reminders on this device" in html
    assert "Home Screen" in html  # the iOS explanation is there for the script to show

    response = web.post(
        "/account/reminders",
        data={
            "remind_before": "y",
            "remind_after": "y",
            "quiet": "y",
            "quiet_start": "22:30",
            "quiet_end": "07:15",
        },
    )
    assert response.status_code == 302 and response.location.endswith("#reminders")
    db.session.commit()
    user = db.session.get(User, client.id)
    assert (user.remind_before, user.remind_after, user.remind_nudge) == (True, True, False)
    assert (user.quiet_start_minute, user.quiet_end_minute) == (22 * 60 + 30, 7 * 60 + 15)
    kinds = {
        r.kind: r.status
        for r in db.session.scalars(select(Reminder).where(Reminder.appointment_id == a.id))
    }
    assert kinds == {"before": "pending", "after": "pending", "nudge": "skipped"}
    assert 'value="22:30"' in web.get("/account").get_data(as_text=True)


def test_settings_form_rejects_bad_times_with_a_message(web, people):
    response = web.post(
        "/account/reminders", data={"quiet": "y", "quiet_start": "25:99", "quiet_end": "07:00"}
    )
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    response = web.post(
        "/account/reminders", data={"quiet": "y", "quiet_start": "07:00", "quiet_end": "07:00"}
    )
    assert response.status_code == 400
    db.session.commit()
    assert db.session.get(User, people[2].id).quiet_start_minute is None


def test_quiet_hours_off_is_stored_and_shown(web, people):
    web.post("/account/reminders", data={"remind_before": "y"})
    db.session.commit()
    user = db.session.get(User, people[2].id)
    assert user.quiet_start_minute == user.quiet_end_minute == 0
    html = web.get("/account").get_data(as_text=True)
    assert 'id="quiet" name="quiet" type="checkbox" value="y">' in html


def test_reminder_status_for_the_therapist(rctx, people, receiver, run_at):
    _, therapist, client = people
    assert reminder_status(client) == {"push_on": False, "kinds_on": 3}
    start = datetime(2026, 3, 10, 14, tzinfo=UTC)
    appointment(client, therapist, start, now=start - timedelta(days=1))
    phone, old_phone = receiver.new_subscription(), receiver.new_subscription()
    device(client, phone)
    device(client, old_phone)
    receiver.gone(old_phone)
    run_at(start - timedelta(hours=1))
    assert db.session.scalar(select(func.count(PushSubscription.id))) == 1  # 410: retired
    # Neither a delivery time nor a device count: a skipped reminder (check-in done, even
    # anonymously) would leave the dead phone unfound, so both would tell who answered (DESIGN 4).
    assert reminder_status(client) == {"push_on": True, "kinds_on": 3}
    subscriptions.remove(client, old_phone.endpoint)  # gone already: the choice still counts
    assert reminder_status(client) == {"push_on": False, "kinds_on": 3}
    device(client, phone)  # the app's refresh on open is not a choice
    assert reminder_status(client)["push_on"] is False
