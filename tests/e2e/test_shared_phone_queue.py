"""The shared phone, issue 21.3, in Chromium with one persistent profile (the phone keeps its storage):

- stale owner: client A's session ends without a sign-out and B, not signed in, fills in the check-in
  page. Nothing is queued (it would carry A's owner tag and later be stored under A, B's note included):
  the page asks B to sign in first.
- lost item: A queues a check-in offline and is told it will be sent; B signs in and out. B's sign-out
  removes only B's items, so A's is sent, under A, when A is back, and A is told.
- expiry: another person's item waits at most 7 days on the phone; then the next signed-in app open
  removes its answers and note, and its owner is told at their next sign-in.
"""

import json
import time

from tests.e2e.test_checkin import browser_sign_in, make_client_with_appointment, move_sliders
from tests.e2e.test_offline_checkin import OUTBOX_COUNT
from tests.e2e.test_shared_phone import (
    NOTE,
    OWNERS,
    open_home,
    other_practice_client,
    outbox_url,
    queue_offline,
    rows,
)

SIGN_IN_FIRST = "Please sign in first: this check-in was not saved."
WAIT = 15_000
ITEMS = "async (url) => (await import(url)).core.all()"
EXPIRED = "async (url) => (await (await import(url)).core.all()).every((i) => i.expired)"
AGE = """async ([url, days]) => {
  const core = (await import(url)).core;
  const items = await core.all();
  const then = new Date(Date.now() - days * 24 * 3600 * 1000).toISOString();
  await Promise.all(items.map((i) => core.put({ ...i, queuedAt: then })));
}"""


def wait_for_rows(server, expected, timeout=20.0) -> None:
    deadline = time.monotonic() + timeout
    while sorted(rows(server)) != sorted(expected):
        assert time.monotonic() < deadline, f"rows {rows(server)} never became {expected}"
        time.sleep(0.25)


def sign_out(page, server) -> None:
    page.goto(f"{server.url}/account")
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url("**/signin**", timeout=WAIT)


def test_a_signed_out_check_in_page_asks_to_sign_in_and_queues_nothing(live_server, phone_profile):
    alice, appt = make_client_with_appointment(live_server)
    browser_sign_in(phone_profile, live_server, alice)
    page = open_home(phone_profile, live_server)  # the phone now knows Alice
    phone_profile.clear_cookies()  # her session ends without a sign-out
    page.goto(f"{live_server.url}/check-in?appointment={appt}&phase=after")  # Bob picks it up
    move_sliders(page)
    page.get_by_text("Add a note (optional)").click()
    page.locator("#comment").fill(NOTE)
    page.get_by_role("button", name="Send").click()
    page.get_by_text(SIGN_IN_FIRST).wait_for(timeout=WAIT)
    assert page.evaluate(OUTBOX_COUNT) == 0
    sign_in = page.get_by_role("link", name="Sign in")
    assert "/signin?next=" in sign_in.first.get_attribute("href")

    browser_sign_in(phone_profile, live_server, alice)  # Alice is back: nothing of Bob's goes
    page = open_home(phone_profile, live_server)
    page.wait_for_timeout(500)
    assert rows(live_server) == [] and page.evaluate(OUTBOX_COUNT) == 0


def test_another_persons_sign_out_keeps_a_queued_check_in_until_its_owner_is_back(
    live_server, phone_profile
):
    alice, appt = make_client_with_appointment(live_server)
    bob = other_practice_client(live_server)
    browser_sign_in(phone_profile, live_server, alice)
    page = open_home(phone_profile, live_server)
    alices_owner = page.evaluate("() => document.querySelector('meta[name=attune-owner]').content")
    url = f"{live_server.url}/check-in?appointment={appt}&phase=after"
    queue_offline(phone_profile, page, url, NOTE)  # "it will be sent when you are back online"
    phone_profile.clear_cookies()  # before it could be: Alice's session ends, Bob takes the phone
    phone_profile.set_offline(False)

    browser_sign_in(phone_profile, live_server, bob)  # Bob signs in on the phone, then out
    page = open_home(phone_profile, live_server)
    sign_out(page, live_server)
    assert page.evaluate(OWNERS, outbox_url(live_server)) == [alices_owner]
    assert rows(live_server) == []

    browser_sign_in(phone_profile, live_server, alice)
    page = open_home(phone_profile, live_server)
    wait_for_rows(live_server, [(alice, NOTE)])
    banner = page.locator("#outbox-banner")
    banner.get_by_text("1 check-in saved on this phone was sent.").wait_for(timeout=WAIT)


def test_another_persons_check_in_expires_after_7_days_and_its_owner_is_told(
    live_server, phone_profile
):
    alice, appt = make_client_with_appointment(live_server)
    bob = other_practice_client(live_server)
    browser_sign_in(phone_profile, live_server, alice)
    page = open_home(phone_profile, live_server)
    url = f"{live_server.url}/check-in?appointment={appt}&phase=after"
    queue_offline(phone_profile, page, url, NOTE)
    phone_profile.clear_cookies()
    phone_profile.set_offline(False)
    page.evaluate(AGE, [outbox_url(live_server), 6])

    browser_sign_in(phone_profile, live_server, bob)
    page = open_home(phone_profile, live_server)  # six days: it waits for Alice
    page.evaluate(f"async () => (await import({json.dumps(outbox_url(live_server))})).flush()")
    assert NOTE in json.dumps(page.evaluate(ITEMS, outbox_url(live_server)))
    page.evaluate(AGE, [outbox_url(live_server), 8])
    page = open_home(phone_profile, live_server)  # eight days: the next app open expires it
    page.locator("body").wait_for()
    page.wait_for_function(EXPIRED, arg=outbox_url(live_server))
    left = page.evaluate(ITEMS, outbox_url(live_server))
    assert len(left) == 1 and NOTE not in json.dumps(left) and "body" not in left[0]

    browser_sign_in(phone_profile, live_server, alice)
    page = open_home(phone_profile, live_server)
    banner = page.locator("#outbox-banner")
    banner.get_by_text("was not sent within 7 days").wait_for(timeout=WAIT)
    assert rows(live_server) == []
    banner.get_by_role("button", name="Dismiss").click()
    page.wait_for_function(
        f"async () => (await (await import({json.dumps(outbox_url(live_server))})).core.all()).length === 0"
    )
