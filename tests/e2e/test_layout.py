"""Issue 11.6: every page a person can open fits a 360 px phone with no sideways scrolling, its main
navigation is one line (on phones a bar of tabs at the bottom), and what a thumb taps is big enough.

Pages come from the route x role matrix: every GET that answers 200 for the role, so a new page is
measured without anyone remembering to list it. Target size: WCAG 2.2 AAA 2.5.5, at least 44x44 CSS px,
for every button, field, menu and stand-alone link; a link inside a sentence is exempt (2.5.5's
"inline" exception) but must itself be at least 24 px tall with the line spacing it sits in (2.5.8)."""

import json
from datetime import timedelta

import pytest
from flask import url_for

from app.auth import invites
from app.dashboard import anonymity
from app.extensions import db
from app.models import User, utcnow
from tests import factories
from tests.access_matrix import MATRIX, ROLES
from tests.dashboard.helpers import check_in
from tests.e2e.conftest import run_axe
from tests.e2e.test_push import sign_in

pytestmark = pytest.mark.timeout(300)

WAIT = 15_000
NOT_PAGES = {  # GET routes that answer with something other than a page
    "core.manifest",
    "core.service_worker",
    "core.health",
    "reminders.push_key",
    "auth.session_info",
    "privacy.export",
}
TARGETS = """() => {
  const out = [];
  const seen = (el) => { const s = getComputedStyle(el); const r = el.getBoundingClientRect();
    return s.visibility !== "hidden" && s.display !== "none" && r.width > 0 && r.height > 0; };
  const nodes = document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], [tabindex='0']");
  for (const el of nodes) {
    if (!seen(el) || el.closest("[hidden]") || el.getBoundingClientRect().right <= 0) continue;
    let box = el.getBoundingClientRect();
    // A checkbox or radio is tapped through its label as well: measure the two together.
    const label = (el.type === "checkbox" || el.type === "radio") && el.closest("label, .check, .choice");
    if (label) box = label.getBoundingClientRect();
    const block = el.parentElement;
    const inline = el.tagName === "A" && block && block.textContent.trim() !== el.textContent.trim()
      && getComputedStyle(el).display === "inline";
    const name = (el.textContent || el.getAttribute("aria-label") || el.name || el.id || "").trim();
    out.push({tag: el.tagName, name: name.slice(0, 40), w: Math.round(box.width),
              h: Math.round(box.height), inline,
              lineHeight: parseFloat(getComputedStyle(el).lineHeight) || box.height});
  }
  return out;
}"""


@pytest.fixture
def practice_ids(live_server):
    """A practice with something on every page: an appointment, check-ins, an open invite."""
    now = utcnow()
    with live_server.app.app_context():
        practice = factories.practice()
        admin = factories.user(practice, "admin", display_name="Ada Admin")
        therapist = factories.user(practice, "therapist", display_name="Dr Theodora Quill")
        client = factories.user(practice, "client", therapist=therapist, display_name="Ottoline")
        appt = factories.appointment(therapist, client, now + timedelta(hours=2))
        for days, phase, score in [(8, "before", 9), (7, "after", 3), (1, "before", 8)]:
            long = "A fairly long comment that should wrap nicely on a small phone"
            check_in(
                client,
                therapist,
                (score,) * 3,
                at=now - timedelta(days=days),
                phase=phase,
                comment=long,
            )
        last_month = now - timedelta(days=now.day + 3)  # a full month: anonymous totals show
        for n in range(practice.k_anonymity + 1):
            other = factories.user(practice, "client", therapist=therapist)
            check_in(other, therapist, (7, 8, n), at=last_month, visibility="anonymous")
        db.session.flush()
        anonymity.refresh(practice, now=now)
        invites.create(practice=practice, role="client", therapist=therapist, now=now)
        _, token = invites.create(practice=practice, role="client", therapist=therapist, now=now)
        db.session.commit()
        yield {
            "admin": admin.id,
            "therapist": therapist.id,
            "client": client.id,
            "args": {"client_id": client.id, "appointment_id": appt.id, "token": token},
        }


def pages(app, role: str, args: dict) -> list[str]:
    """Every page `role` may open, as URLs (the sign-up screen as well)."""
    col = ROLES.index(role)
    urls = ["/?welcome=1"]
    with app.test_request_context():
        for (endpoint, method), statuses in MATRIX.items():
            if method != "GET" or statuses[col] != 200 or endpoint in NOT_PAGES:
                continue
            rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
            urls.append(url_for(endpoint, **{a: args[a] for a in rule.arguments}))
    return urls


def too_small(targets: list[dict]) -> list[dict]:
    return [
        t
        for t in targets
        if (t["inline"] and t["lineHeight"] < 24)
        or (not t["inline"] and (t["w"] < 44 or t["h"] < 44))
    ]


@pytest.mark.parametrize("role", ["client", "therapist", "admin"])
def test_every_page_fits_360px_with_thumb_sized_targets(browser, live_server, practice_ids, role):
    context = browser.new_context(
        viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(WAIT)
    errors, problems = [], []
    try:
        with live_server.app.app_context():
            sign_in(context, live_server, db.session.get(User, practice_ids[role]))
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        for url in pages(live_server.app, role, practice_ids["args"]):
            response = page.goto(live_server.url + url)
            assert response.ok, (url, response.status)
            if "text/html" not in response.headers.get("content-type", ""):
                continue  # JSON, a manifest, a download: not a page a thumb lands on
            page.wait_for_load_state("load")
            width = page.evaluate("document.scrollingElement.scrollWidth")
            if width > 360:
                problems.append((url, "scrollWidth", width))
            small = too_small(page.evaluate(TARGETS))
            if small:
                problems.append((url, "targets", small))
        assert problems == [], json.dumps(problems, indent=1)
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("width", [360, 390, 1024])
@pytest.mark.parametrize("role", ["client", "therapist", "admin"])
def test_main_navigation_is_one_line(browser, live_server, practice_ids, role, width):
    context = browser.new_context(viewport={"width": width, "height": 800})
    try:
        with live_server.app.app_context():
            sign_in(context, live_server, db.session.get(User, practice_ids[role]))
        page = context.new_page()
        page.goto(live_server.url + "/account")
        boxes = page.locator("nav[aria-label=Main] a").evaluate_all(
            """links => links.map(a => { const r = a.getBoundingClientRect();
                 return {top: Math.round(r.top), left: r.left, right: r.right, h: r.height}; })"""
        )
        assert len(boxes) >= 3 and len({b["top"] for b in boxes}) == 1, boxes  # one line
        assert all(b["left"] >= 0 and b["right"] <= width and b["h"] >= 44 for b in boxes), boxes
    finally:
        context.close()


def axe_best_practice(page) -> list:
    """axe's best-practice rules too (landmark-unique is one); run_axe has injected axe already."""
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: ['best-practice']}})"
    )
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


@pytest.mark.parametrize("role,url", [("admin", "/admin"), ("client", "/?welcome=1")])
def test_axe_finds_nothing(browser, live_server, practice_ids, role, url):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        with live_server.app.app_context():
            sign_in(context, live_server, db.session.get(User, practice_ids[role]))
        page = context.new_page()
        page.goto(live_server.url + url)

        assert run_axe(page) == []
        assert axe_best_practice(page) == []
    finally:
        context.close()
