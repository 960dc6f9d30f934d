"""One outbox, one table (issue 8.4): the page and the service worker, given the same server answers in
Chromium, keep, park or drop a queued check-in identically, and as DESIGN 4b and SECURITY 37 say.

The browser context answers POST /api/check-ins itself (`context.route` also sees the service worker's
requests), so every status is exact. The page flushes through static/js/outbox.js; the service worker
through its Background Sync handler, fired over CDP."""

import uuid

import pytest

from tests.e2e.test_checkin import browser_sign_in, make_client_with_appointment

# What happens to the item after one flush: gone ("drop", only after a 2xx), still waiting ("keep": sent
# again later) or kept but marked unsent with the server's reason ("park": never silently dropped).
TABLE = {
    201: "drop",
    200: "drop",
    400: "park",  # after one more try with a fresh CSRF token
    401: "keep",  # and the page asks the client to sign in (DESIGN 4b)
    403: "park",
    409: "park",
    413: "park",
    422: "park",
    429: "keep",
    500: "keep",
    "network error": "keep",
    "409 on owner": "keep",  # the account changed since the queue asked: the next flush asks again
}
POSTS = {400: 2}  # POSTs per flush; everything else is sent once

STATE = """async (key) => {
  await import("/static/js/outbox.js");
  const item = (await AttuneOutbox.all()).find((i) => i.key === key);
  return !item ? "drop" : item.parked ? "park" : "keep";
}"""
QUEUE = """async ({ key, owner }) => {
  await import("/static/js/outbox.js");
  const body = { idempotency_key: key, phase: "before", safe: 5, heard: 5, understood: 5, owner };
  await AttuneOutbox.put({ key, url: "/api/check-ins", owner, body, queuedAt: new Date().toISOString() });
}"""
PAGE_FLUSH = """async () => {
  const outbox = await import("/static/js/outbox.js");
  const summary = await outbox.flush();
  return { signedOut: summary.signedOut };
}"""
AWAIT_WORKER = """() => {
  navigator.serviceWorker.startMessages();
  window.workerDone = new Promise((resolve) =>
    navigator.serviceWorker.addEventListener("message", (e) => {
      if (e.data?.type === "flush-outbox") resolve();
    }),
  );
}"""


class Server:
    """The answer the context gives to every POST /api/check-ins, and how many each side sent."""

    def __init__(self):
        self.answer = 201
        self.posts = {"page": 0, "worker": 0}

    def handle(self, route):
        if route.request.method != "POST":
            return route.continue_()
        self.posts["worker" if route.request.service_worker else "page"] += 1
        if self.answer == "network error":
            return route.abort("failed")
        status, field = (409, "owner") if self.answer == "409 on owner" else (self.answer, None)
        body = {"id": 1} if status < 300 else {"error": f"answer {status}", "field": field}
        return route.fulfill(status=status, json=body)


def worker_registration(context, page) -> str:
    cdp = context.new_cdp_session(page)
    seen = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: seen.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=10000)
    for _ in range(100):
        if seen:
            break
        page.wait_for_timeout(100)
    assert seen, "no service worker registration seen"
    return cdp, seen[0]["registrationId"]


@pytest.fixture
def rig(live_server, phone):
    client_id, _ = make_client_with_appointment(live_server)
    browser_sign_in(phone, live_server, client_id)
    page = phone.new_page()
    page.goto(f"{live_server.url}/home")  # installs the worker
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=10000)
    page.goto(f"{live_server.url}/offline")  # a controlled page that runs no outbox by itself
    cdp, registration = worker_registration(phone, page)
    owner = page.evaluate("async () => (await (await fetch('/api/check-ins/owner')).json()).owner")
    server = Server()
    phone.route("**/api/check-ins", server.handle)
    return page, cdp, registration, owner, server


def run_case(rig, answer, side: str) -> tuple[str, int, bool]:
    """Queue one item, flush it on `side` with `answer`; (what became of it, POSTs seen, asked to sign in)."""
    page, cdp, registration, owner, server = rig
    key = uuid.uuid4().hex
    page.evaluate(QUEUE, {"key": key, "owner": owner})
    server.answer, server.posts = answer, {"page": 0, "worker": 0}
    signed_out = None
    if side == "page":
        signed_out = page.evaluate(PAGE_FLUSH)["signedOut"]
    else:
        page.evaluate(AWAIT_WORKER)
        origin = page.evaluate("() => location.origin")
        cdp.send(
            "ServiceWorker.dispatchSyncEvent",
            {
                "origin": origin,
                "registrationId": registration,
                "tag": "attune-outbox",
                "lastChance": False,
            },
        )
        page.evaluate("() => window.workerDone")
    state = page.evaluate(STATE, key)
    page.evaluate("async (key) => AttuneOutbox.remove(key)", key)  # the next case starts clean
    return state, server.posts[side], signed_out


def test_page_and_service_worker_follow_the_same_table(rig):
    seen = {"worker": {}, "page": {}}
    # The worker first: a page flush stopped by the network asks for Background Sync, and a sync fired
    # by Chromium on its own could overlap a later worker case.
    for side in ("worker", "page"):
        for answer in sorted(TABLE, key=lambda a: (a == "network error", str(a))):
            state, posts, signed_out = run_case(rig, answer, side)
            seen[side][answer] = state
            assert posts == POSTS.get(answer, 1), f"{side} sent {posts} POSTs for {answer}"
            if side == "page":
                assert signed_out == (answer == 401), f"page sign-in prompt on {answer}"
    assert seen["page"] == seen["worker"] == TABLE


def test_signed_out_sends_nothing_and_keeps_the_item_on_both_sides(rig):
    page, *_ = rig
    page.context.clear_cookies()
    for side in ("worker", "page"):
        state, posts, signed_out = run_case(rig, 201, side)
        assert (state, posts) == ("keep", 0), side
        assert signed_out in (None, True)
