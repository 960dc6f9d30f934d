"""The offline queue belongs to one person (issue 9.4, DESIGN 4b): on one phone (a persistent browser
profile) client A queues a check-in with a private note offline, A's session ends, and client B of another
practice signs in. Neither the page nor the service worker sends A's item under B, B never sees it, and
it goes out when A is back. Signing out with unsent items warns first, with the right plural."""

import time

from sqlalchemy import select

from app.core.assets import hashed_url
from app.extensions import db
from app.models import CheckIn
from tests import factories
from tests.e2e.test_checkin import browser_sign_in, make_client_with_appointment, move_sliders
from tests.e2e.test_offline_checkin import OUTBOX_COUNT, SAVED

NOTE = "A-private-note-about-my-marriage-5120"
SENT = "Thank you. Your check-in was sent."
AWAIT_WORKER = """() => {
  navigator.serviceWorker.startMessages();
  window.workerDone = new Promise((resolve) =>
    navigator.serviceWorker.addEventListener("message", (e) => {
      if (e.data?.type === "flush-outbox") resolve();
    }),
  );
}"""
# The page's own outbox module, by the content-hashed URL the pages use (offline, only that one is cached).
FLUSH = """async (url) => {
  const s = await (await import(url)).flush();
  return { owner: s.owner, waiting: s.waiting, unsent: s.unsent.length, sent: s.sent.length };
}"""
OWNERS = "async (url) => (await import(url)).core.all().then((a) => a.map((i) => i.owner))"


def outbox_url(server) -> str:
    return hashed_url(server.app, "/static/js/outbox.js")


def other_practice_client(server) -> int:
    with server.app.app_context():
        practice = factories.practice(name="Another practice")
        therapist = factories.user(practice, "therapist")
        client = factories.user(practice, "client", therapist=therapist)
        db.session.commit()
        return client.id


def rows(server) -> list[tuple[int, str]]:
    with server.app.app_context():
        found = [(c.client_id, c.comment) for c in db.session.scalars(select(CheckIn))]
        db.session.remove()
        return found


def open_home(context, server):
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{server.url}/home")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=10000)
    page.evaluate("() => localStorage.setItem('install-dismissed', '1')")  # installable: no banner
    return page


def queue_offline(context, page, url, note=""):
    context.set_offline(True)
    page.goto(url)
    move_sliders(page)
    if note:
        page.get_by_text("Add a note (optional)").click()
        page.locator("#comment").fill(note)
    page.get_by_role("button", name="Send").click()
    page.get_by_text(SAVED).wait_for(timeout=10000)


def worker_flush(context, page, server) -> None:
    """Fire the service worker's Background Sync and wait until it has run."""
    cdp = context.new_cdp_session(page)
    seen = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: seen.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    while not seen:
        assert time.monotonic() < deadline, "no service worker registration seen"
        page.wait_for_timeout(100)
    page.evaluate(AWAIT_WORKER)
    cdp.send(
        "ServiceWorker.dispatchSyncEvent",
        {
            "origin": server.url,
            "registrationId": seen[0]["registrationId"],
            "tag": "attune-outbox",
            "lastChance": False,
        },
    )
    page.evaluate("() => window.workerDone")
    cdp.detach()


def test_a_queued_note_is_never_sent_or_shown_in_another_persons_session(
    live_server, phone_profile
):
    alice, appt = make_client_with_appointment(live_server)
    bob = other_practice_client(live_server)
    browser_sign_in(phone_profile, live_server, alice)
    page = open_home(phone_profile, live_server)
    alices_owner = page.evaluate("() => document.querySelector('meta[name=attune-owner]').content")
    queue_offline(
        phone_profile, page, f"{live_server.url}/check-in?appointment={appt}&phase=after", NOTE
    )
    assert page.evaluate(OWNERS, outbox_url(live_server)) == [alices_owner]

    phone_profile.clear_cookies()  # Alice's session ends without a sign-out
    phone_profile.set_offline(False)
    browser_sign_in(phone_profile, live_server, bob)
    page = open_home(phone_profile, live_server)  # app open: the page flushes
    summary = page.evaluate(FLUSH, outbox_url(live_server))
    assert summary["owner"] != alices_owner and summary["sent"] == 0
    assert summary["waiting"] == 0 and summary["unsent"] == 0  # nothing of Alice's counted for Bob
    worker_flush(
        phone_profile, page, live_server
    )  # and the service worker, which sends for whoever
    page.reload()
    assert rows(live_server) == []
    assert NOTE not in page.content()
    assert page.locator("#outbox-banner").count() == 0 or page.locator("#outbox-banner").is_hidden()
    page.goto(f"{live_server.url}/my-check-ins")
    assert NOTE not in page.content()
    assert page.evaluate(OWNERS, outbox_url(live_server)) == [
        alices_owner
    ]  # kept for Alice, untouched

    page.goto(f"{live_server.url}/check-in")  # Bob's own check-in goes, under Bob, alone
    move_sliders(page)
    page.get_by_role("button", name="Send").click()
    page.get_by_text(SENT).wait_for(timeout=10000)
    worker_flush(phone_profile, page, live_server)
    assert rows(live_server) == [(bob, "")]

    phone_profile.clear_cookies()  # Alice is back: her item goes, under her name
    browser_sign_in(phone_profile, live_server, alice)
    page = open_home(phone_profile, live_server)
    deadline = time.monotonic() + 20
    while len(rows(live_server)) < 2:
        assert time.monotonic() < deadline, "Alice's item was not sent in her own session"
        page.wait_for_timeout(250)
    assert sorted(rows(live_server)) == sorted([(bob, ""), (alice, NOTE)])


def test_signing_out_with_unsent_items_warns_then_removes_them(live_server, phone_profile):
    alice, appt = make_client_with_appointment(live_server)
    browser_sign_in(phone_profile, live_server, alice)
    page = open_home(phone_profile, live_server)
    phone_profile.route(  # the server is failing, so what she sends stays on the phone
        "**/api/check-ins",
        lambda r: (
            r.fulfill(status=503, json={"error": "down"})
            if r.request.method == "POST"
            else r.continue_()
        ),
    )
    for url in (f"/check-in?appointment={appt}&phase=after", "/check-in"):
        page.goto(live_server.url + url)
        move_sliders(page)
        page.get_by_role("button", name="Send").click()
        page.get_by_text(SAVED).wait_for(timeout=10000)
    assert page.evaluate(OUTBOX_COUNT) == 2

    page.goto(f"{live_server.url}/account")
    warnings = []
    page.once("dialog", lambda d: (warnings.append(d.message), d.dismiss()))
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_function("() => true")
    deadline = time.monotonic() + 10
    while not warnings:
        assert time.monotonic() < deadline, "no warning before signing out"
        page.wait_for_timeout(100)
    assert warnings[0].startswith("2 check-ins not sent yet.")
    assert page.url.endswith("/account") and page.evaluate(OUTBOX_COUNT) == 2  # she said no

    page.once("dialog", lambda d: (warnings.append(d.message), d.accept()))
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url("**/signin**", timeout=10000)
    assert len(warnings) == 2 and page.evaluate(OUTBOX_COUNT) == 0
    assert rows(live_server) == []


def test_a_sign_in_straight_to_the_check_in_page_queues_for_the_new_person(
    live_server, phone_profile
):
    """The check-in page is a shared shell that names nobody: it asks who is signed in, so the phone's
    last-known owner (Alice) is not stamped on Bob's check-in when a link takes him straight there."""
    alice, _ = make_client_with_appointment(live_server)
    bob = other_practice_client(live_server)
    browser_sign_in(phone_profile, live_server, alice)
    page = open_home(phone_profile, live_server)  # the phone now knows Alice; nothing is queued
    phone_profile.clear_cookies()
    browser_sign_in(phone_profile, live_server, bob)
    page.goto(f"{live_server.url}/check-in")
    bobs_owner = page.evaluate(
        "async () => (await (await fetch('/api/check-ins/owner')).json()).owner"
    )
    page.wait_for_function("(o) => localStorage.getItem('attune-owner') === o", arg=bobs_owner)
    move_sliders(page)
    page.get_by_role("button", name="Send").click()
    page.get_by_text(SENT).wait_for(timeout=10000)
    assert rows(live_server) == [(bob, "")] and page.evaluate(OWNERS, outbox_url(live_server)) == []
