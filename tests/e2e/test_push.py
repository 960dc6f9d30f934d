"""Web Push in a real Chromium: the service worker shows what the server sent and opens the check-in;
the page re-sends its subscription on every app open (issue 5, Build 2 and 6)."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.auth import sessions
from app.extensions import db
from app.models import PushSubscription, utcnow
from app.reminders.dispatch import policy_from, run_once
from app.reminders.keys import current
from app.reminders.sender import Sender
from tests import factories
from tests.reminders.helpers import TEST_HOSTS, appointment, device, leaks, remember
from tests.support.push_receiver import PushReceiver

pytestmark = pytest.mark.timeout(120)

FAKE_SUBSCRIPTION = """
(() => {
  const fake = JSON.parse(sessionStorage.getItem("fake-subscription") || "null");
  if (!fake || !window.PushManager) return;
  PushManager.prototype.getSubscription = async function () {
    return {
      endpoint: fake.endpoint,
      options: { applicationServerKey: null, userVisibleOnly: true },
      toJSON: () => ({ endpoint: fake.endpoint, expirationTime: null, keys: fake.keys }),
      unsubscribe: async () => true,
    };
  };
})();
"""


def sign_in(context, server, user) -> None:
    """Give the browser a real session cookie for `user` (the passkey flow has its own tests)."""
    app = server.app
    token = sessions.start(user, now=utcnow())
    db.session.commit()
    value = app.session_interface.get_signing_serializer(app).dumps(
        {"sid": token, "_permanent": True}
    )
    context.add_cookies(
        [{"name": app.config["SESSION_COOKIE_NAME"], "value": value, "url": server.url}]
    )


@pytest.fixture
def client_user(live_server):
    with live_server.app.app_context():
        practice = factories.practice()
        therapist = factories.user(practice, "therapist", display_name="Dr Winifred Quill")
        client = factories.user(practice, "client", therapist=therapist, display_name="Ottoline B")
        db.session.commit()
        yield live_server.app, therapist, client


def poll(page, script: str, timeout: float = 10) -> None:
    """Wait until `script` (a function) is truthy in the page; evaluate, because the CSP bans eval."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(script):
        assert time.monotonic() < deadline, f"timed out waiting for {script}"
        page.wait_for_timeout(50)


def wait_for_worker(page) -> None:
    poll(page, "() => navigator.serviceWorker.controller !== null", timeout=15)


def registration_id(cdp, page) -> str:
    found = {}
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: found.update({r["scopeURL"]: r["registrationId"] for r in e["registrations"]}),
    )
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    while not found and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert found, "no service worker registration reported"
    return next(iter(found.values()))


def server_payload(app, client, therapist) -> tuple[bytes, int]:
    """Let the real dispatcher push to a real receiver, and take the decrypted bytes it got."""
    start = datetime(2026, 3, 10, 14, tzinfo=UTC)  # outside quiet hours, whatever the clock says
    appt = appointment(client, therapist, start, now=start - timedelta(days=1))
    with PushReceiver() as rx:
        device(client, rx.new_subscription())
        sender = Sender(current(app), timeout=5, allowed=TEST_HOSTS)
        run_once(sender, now=start + timedelta(minutes=60), policy=policy_from(app.config))
        sender.close()
    [message] = rx.messages
    assert leaks(message, ["Ottoline", "Winifred", "Quill"]) == []
    remember(rx.messages)
    return message.payload, appt.id


def test_push_shows_the_notification_and_a_click_opens_the_check_in(
    browser, live_server, client_user
):
    app, therapist, client = client_user
    with app.app_context():
        payload, appt_id = server_payload(
            app, db.session.merge(client), db.session.merge(therapist)
        )
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(15000)
    try:
        context.grant_permissions(["notifications"], origin=live_server.url)
        page = context.new_page()
        page.goto(live_server.url + "/offline")
        wait_for_worker(page)
        cdp = context.new_cdp_session(page)
        reg = registration_id(cdp, page)
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": live_server.url, "registrationId": reg, "data": payload.decode()},
        )
        poll(
            page,
            "() => navigator.serviceWorker.ready.then(r => r.getNotifications())"
            ".then(n => n.length > 0)",
        )
        shown = page.evaluate(
            """navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n =>
                 ({title: n.title, body: n.body, tag: n.tag, url: n.data.url})))"""
        )
        target = f"/check-in?appointment={appt_id}&phase=after"
        assert shown == [
            {
                "title": "Attune",
                "body": "Time for a quick check-in",
                "tag": f"checkin-{appt_id}-after",
                "url": target,
            }
        ]
        # A resend of the same reminder replaces the notification instead of stacking a second one.
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": live_server.url, "registrationId": reg, "data": payload.decode()},
        )
        page.wait_for_timeout(300)
        count = page.evaluate(
            "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(n => n.length)"
        )
        assert count == 1

        [worker] = context.service_workers
        worker.evaluate(
            """async () => {
                 const [n] = await self.registration.getNotifications();
                 self.dispatchEvent(new NotificationEvent("notificationclick", {notification: n}));
               }"""
        )
        page.wait_for_url(f"**{target}", timeout=10000)
        assert page.url == live_server.url + target
    finally:
        context.close()


def test_app_open_upserts_the_current_subscription(browser, live_server, client_user):
    app, _, client = client_user
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(15000)
    try:
        context.grant_permissions(["notifications"], origin=live_server.url)
        context.add_init_script(FAKE_SUBSCRIPTION)
        with app.app_context():
            sign_in(context, live_server, db.session.merge(client))
        rx = PushReceiver()  # only for well-formed keys; nothing is sent here
        first, second = rx.new_subscription(), rx.new_subscription()
        rx.close()
        page = context.new_page()
        page.goto(live_server.url + "/offline")
        wait_for_worker(page)  # let the worker's precache finish before the first app open
        for sub in (first, second):
            fake = {
                **sub.as_dict(),
                "endpoint": sub.endpoint.replace(rx.origin, "https://fcm.googleapis.com"),
            }
            page.evaluate("s => sessionStorage.setItem('fake-subscription', s)", json.dumps(fake))
            page.goto(live_server.url + "/")  # an app open
            assert wait_for_rows(app, [fake["endpoint"]]), rows(app)
        with app.app_context():
            row = db.session.scalar(select(PushSubscription))
            assert row.user_id == client.id and row.p256dh == second.p256dh
    finally:
        context.close()


def rows(app) -> list[str]:
    with app.app_context():
        found = list(db.session.scalars(select(PushSubscription.endpoint)))
        db.session.remove()
        return found


def wait_for_rows(app, expected, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rows(app) == expected:
            return True
        time.sleep(0.1)
    return False


def test_settings_explain_reminders_and_pass_axe_at_360px(browser, live_server, client_user):
    from tests.e2e.conftest import run_axe

    app, _, client = client_user
    context = browser.new_context(
        viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(15000)
    try:
        with app.app_context():
            sign_in(context, live_server, db.session.merge(client))
        page = context.new_page()
        page.goto(live_server.url + "/account#reminders")
        button = page.locator("#push-on")
        button.wait_for(state="visible", timeout=10000)
        box = button.bounding_box()
        assert box["height"] >= 44 and box["x"] + box["width"] <= 360
        assert page.locator("#push-state").inner_text() == "Reminders are off for this device."
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert run_axe(page) == []
    finally:
        context.close()


def test_on_ios_the_browser_tab_is_told_to_install_first(browser, live_server, client_user):
    app, _, client = client_user
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    )
    context = browser.new_context(user_agent=iphone, viewport={"width": 390, "height": 844})
    context.set_default_timeout(15000)
    try:
        with app.app_context():
            sign_in(context, live_server, db.session.merge(client))
        page = context.new_page()
        page.goto(live_server.url + "/account")
        page.locator("#push-ios").wait_for(state="visible", timeout=10000)
        assert page.locator("#push-on").is_hidden()
        assert "Home Screen" in page.locator("#push-ios").inner_text()
    finally:
        context.close()


FAKE_PUSH_MANAGER = """
(() => {
  if (!window.PushManager) return;
  const stored = () => JSON.parse(sessionStorage.getItem("fake-subscription") || "null");
  const wrap = (fake) => fake && {
    endpoint: fake.endpoint,
    options: { applicationServerKey: Uint8Array.from(atob(fake.serverKey), (c) => c.charCodeAt(0)).buffer },
    toJSON: () => ({ endpoint: fake.endpoint, expirationTime: null, keys: fake.keys }),
    unsubscribe: async () => { sessionStorage.removeItem("fake-subscription"); return true; },
  };
  PushManager.prototype.getSubscription = async function () { return wrap(stored()); };
  PushManager.prototype.subscribe = async function (options) {
    window.__subscribeCalls = (window.__subscribeCalls || 0) + 1;
    const next = JSON.parse(sessionStorage.getItem("next-subscription"));
    let raw = "";
    new Uint8Array(options.applicationServerKey).forEach((b) => { raw += String.fromCharCode(b); });
    next.serverKey = btoa(raw);
    sessionStorage.setItem("fake-subscription", JSON.stringify(next));
    return wrap(next);
  };
})();
"""


def test_reminders_turn_on_only_from_a_tap_and_off_again(browser, live_server, client_user):
    app, _, client = client_user
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(15000)
    try:
        context.grant_permissions(["notifications"], origin=live_server.url)
        context.add_init_script(FAKE_PUSH_MANAGER)
        with app.app_context():
            sign_in(context, live_server, db.session.merge(client))
        rx = PushReceiver()
        sub = rx.new_subscription()
        rx.close()
        fake = {**sub.as_dict(), "endpoint": "https://fcm.googleapis.com/fcm/send/abc123"}
        page = context.new_page()
        page.goto(live_server.url + "/offline")
        wait_for_worker(page)
        page.evaluate("s => sessionStorage.setItem('next-subscription', s)", json.dumps(fake))
        page.goto(live_server.url + "/account#reminders")
        page.locator("#push-on").wait_for(state="visible")
        assert page.evaluate("() => window.__subscribeCalls || 0") == 0  # nothing without a tap
        assert rows(app) == []

        page.locator("#push-on").click()
        page.locator("#push-off").wait_for(state="visible")
        assert page.locator("#push-state").inner_text() == "Reminders are on for this device."
        assert page.evaluate("() => window.__subscribeCalls") == 1
        assert wait_for_rows(app, [fake["endpoint"]])
        with app.app_context():
            row = db.session.scalar(select(PushSubscription))
            assert row.vapid_key_id == current(app).key_id  # subscribed with the server's key

        page.locator("#push-off").click()
        page.locator("#push-on").wait_for(state="visible")
        assert page.locator("#push-state").inner_text() == "Reminders are off for this device."
        assert wait_for_rows(app, [])
    finally:
        context.close()
