"""Offline and exactly once (issue 3 point 4): context offline, server stopped and restarted, app closed
and reopened, a refused item explained, and the outbox emptied at sign-out after a warning."""

import threading
import time

from sqlalchemy import select
from werkzeug.serving import make_server

from app.extensions import db
from app.models import Appointment, CheckIn
from tests.e2e.test_checkin import browser_sign_in, make_client_with_appointment, move_sliders

SAVED = "Saved on this phone: it will be sent when you are back online."
OUTBOX_COUNT = """() => new Promise((resolve, reject) => {
  const req = indexedDB.open("attune", 1);
  req.onupgradeneeded = () => req.result.createObjectStore("outbox", { keyPath: "key" });
  req.onerror = () => reject(req.error);
  req.onsuccess = () => {
    const db = req.result;
    const count = db.transaction("outbox").objectStore("outbox").count();
    count.onsuccess = () => { db.close(); resolve(count.result); };
  };
})"""


def restart(server) -> None:
    """Start the stopped live server again on the same port with the same app."""
    server.server = make_server("127.0.0.1", server.port, server.app, threaded=True)
    server.thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    server.thread.start()


def row_count(server) -> int:
    with server.app.app_context():
        n = len(list(db.session.scalars(select(CheckIn))))
        db.session.remove()
        return n


def wait_for_rows(server, n: int, timeout: float = 25.0) -> None:
    deadline = time.monotonic() + timeout
    while row_count(server) < n:
        assert time.monotonic() < deadline, f"no row after {timeout}s"
        time.sleep(0.25)
    time.sleep(0.5)  # any duplicate would arrive now
    assert row_count(server) == n


def installed_app(context, server):
    """Sign in and open the app once online, so the service worker installs and precaches the shell."""
    client_id, appt_id = make_client_with_appointment(server)
    browser_sign_in(context, server, client_id)
    page = context.new_page()
    page.goto(f"{server.url}/home")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=10000)
    return page, f"{server.url}/check-in?appointment={appt_id}&phase=after", appt_id


def submit_offline(page, url):
    response = page.goto(url)
    assert response is None or response.from_service_worker
    move_sliders(page)
    page.get_by_role("button", name="Send").click()
    page.get_by_text(SAVED).wait_for(timeout=10000)
    assert page.evaluate(OUTBOX_COUNT) == 1


def test_offline_context_saves_then_sends_exactly_once(live_server, phone):
    page, url, appt_id = installed_app(phone, live_server)
    phone.set_offline(True)
    submit_offline(page, url)
    assert row_count(live_server) == 0
    phone.set_offline(False)  # the `online` event flushes the outbox
    wait_for_rows(live_server, 1)
    deadline = time.monotonic() + 10
    while page.evaluate(OUTBOX_COUNT) != 0:
        assert time.monotonic() < deadline, "outbox not emptied after a 2xx"
        time.sleep(0.2)


def test_server_stopped_and_restarted_sends_exactly_once(live_server, phone):
    page, url, _ = installed_app(phone, live_server)
    live_server.stop()
    submit_offline(page, url)
    assert row_count(live_server) == 0
    restart(live_server)  # no `online` event here: the timer while open flushes
    wait_for_rows(live_server, 1)


def test_app_closed_and_reopened_sends_exactly_once(live_server, phone):
    page, url, _ = installed_app(phone, live_server)
    phone.set_offline(True)
    submit_offline(page, url)
    page.close()
    phone.set_offline(False)
    assert row_count(live_server) == 0
    reopened = phone.new_page()
    reopened.goto(f"{live_server.url}/home")  # app open flushes
    wait_for_rows(live_server, 1)


def test_refused_item_is_explained_and_sign_out_empties_the_outbox(live_server, phone):
    page, url, appt_id = installed_app(phone, live_server)
    phone.set_offline(True)
    submit_offline(page, url)
    page.close()
    with live_server.app.app_context():  # the therapist cancels while the phone is offline
        db.session.get(Appointment, appt_id).status = "cancelled"
        db.session.commit()
    phone.set_offline(False)
    page = phone.new_page()
    page.goto(f"{live_server.url}/home")
    page.get_by_text("That appointment was cancelled").wait_for(timeout=10000)
    assert row_count(live_server) == 0
    assert page.evaluate(OUTBOX_COUNT) == 1  # parked, not silently dropped
    page.goto(f"{live_server.url}/account")
    warnings = []
    page.once("dialog", lambda d: (warnings.append(d.message), d.accept()))
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url("**/signin**", timeout=10000)
    assert warnings and warnings[0].startswith("1 check-in not sent yet.")
    assert page.evaluate(OUTBOX_COUNT) == 0


def test_signed_out_phone_queues_nothing_and_asks_to_sign_in(live_server, phone):
    """Only a signed-in person checks in (issue 21.3): the session ended before Send, so whoever holds
    the phone now is asked to sign in, and nothing is kept under the last person's name."""
    page, url, _ = installed_app(phone, live_server)
    page.goto(url)
    phone.clear_cookies()
    move_sliders(page)
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Please sign in first: this check-in was not saved.").wait_for(timeout=10000)
    assert page.evaluate(OUTBOX_COUNT) == 0 and row_count(live_server) == 0


def test_background_sync_flushes_from_the_service_worker(live_server, phone):
    """No page runs the outbox here: only the service worker's `sync` handler can send the item."""
    page, url, _ = installed_app(phone, live_server)
    phone.set_offline(True)
    submit_offline(page, url)
    page.close()
    phone.set_offline(False)
    # A page that does not run the outbox itself (no client data on the offline shell page).
    page = phone.new_page()
    cdp = phone.new_cdp_session(page)
    registrations = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    page.goto(f"{live_server.url}/offline")
    deadline = time.monotonic() + 10
    while not registrations:
        assert time.monotonic() < deadline, "no service worker registration seen"
        page.wait_for_timeout(100)
    # Chromium may already have fired the real sync on reconnecting; firing it again must not duplicate.
    cdp.send(
        "ServiceWorker.dispatchSyncEvent",
        {
            "origin": live_server.url,
            "registrationId": registrations[0]["registrationId"],
            "tag": "attune-outbox",
            "lastChance": False,
        },
    )
    wait_for_rows(live_server, 1)
    deadline = time.monotonic() + 10
    while page.evaluate(OUTBOX_COUNT) != 0:
        assert time.monotonic() < deadline, "the service worker did not empty the outbox"
        time.sleep(0.2)
